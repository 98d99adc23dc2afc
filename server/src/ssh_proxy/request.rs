//! The original proxy's first line, `REQUEST_TUNNEL <task_id>`, with our token appended when
//! authentication is on (`REQUEST_TUNNEL <task_id> <token>`), and the `ERROR` reasons its clients
//! print. Pure parsing, tested here.

use hakuriver_model::TaskId;

pub const PREFIX: &str = "REQUEST_TUNNEL ";
/// Longest first line read from a client (the original's limit).
pub const MAX_LINE: usize = 64 * 1024;

/// What a connection's first line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstLine {
    /// An SSH client's identification (`SSH-2.0-...`): the jump host serves it.
    Ssh,
    /// The original handshake, and the token after the id if one was sent.
    Tunnel(TaskId, Option<String>),
    /// Anything else: answered with this `ERROR` reason.
    Invalid(&'static str),
}

/// Classifies a connection's first line (without its `\n`).
pub fn classify(line: &[u8]) -> FirstLine {
    if line.starts_with(b"SSH-") {
        return FirstLine::Ssh;
    }
    let Some(rest) = line.strip_prefix(PREFIX.as_bytes()) else {
        return FirstLine::Invalid("Invalid request format.");
    };
    let rest = std::str::from_utf8(rest).map(str::trim).unwrap_or("");
    let mut words = rest.split_ascii_whitespace();
    let id = words.next().unwrap_or("");
    let token = words.next().map(str::to_string);
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) || words.next().is_some() {
        return FirstLine::Invalid("Invalid task ID format.");
    }
    match id.parse::<u64>() {
        Ok(n) => FirstLine::Tunnel(TaskId(n), token),
        Err(_) => FirstLine::Invalid("Invalid task ID format."),
    }
}

/// The VPS a jump-host client names as its destination: `vps-<id>`, `hakuriver-vps-<id>` or
/// `<id>`, port 22.
pub fn jump_target(host: &str, port: u32) -> Result<TaskId, String> {
    let id = host.strip_prefix("hakuriver-vps-").or_else(|| host.strip_prefix("vps-")).unwrap_or(host);
    let id = id.parse::<u64>().map_err(|_| format!("unknown destination {host:?}: use vps-<task id>"))?;
    if port != 22 {
        return Err(format!("only port 22 of a VPS can be reached, not {port}"));
    }
    Ok(TaskId(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_lines() {
        assert_eq!(classify(b"REQUEST_TUNNEL 123"), FirstLine::Tunnel(TaskId(123), None));
        assert_eq!(classify(b"REQUEST_TUNNEL  42 \r"), FirstLine::Tunnel(TaskId(42), None));
        assert_eq!(classify(b"REQUEST_TUNNEL 42 hkr_x_y\r"), FirstLine::Tunnel(TaskId(42), Some("hkr_x_y".into())));
        assert_eq!(classify(b"REQUEST_TUNNEL 42 a b"), FirstLine::Invalid("Invalid task ID format."));
        assert_eq!(classify(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r"), FirstLine::Ssh);
        assert_eq!(classify(b"GET / HTTP/1.1\r"), FirstLine::Invalid("Invalid request format."));
        assert_eq!(classify(b"request_tunnel 1"), FirstLine::Invalid("Invalid request format."));
        for bad in [
            &b"REQUEST_TUNNEL abc"[..],
            b"REQUEST_TUNNEL ",
            b"REQUEST_TUNNEL -1",
            b"REQUEST_TUNNEL 99999999999999999999999",
        ] {
            assert_eq!(classify(bad), FirstLine::Invalid("Invalid task ID format."));
        }
        assert_eq!(classify(b"\xff\xfe"), FirstLine::Invalid("Invalid request format."));
    }

    #[test]
    fn jump_destinations() {
        assert_eq!(jump_target("vps-17", 22), Ok(TaskId(17)));
        assert_eq!(jump_target("hakuriver-vps-17", 22), Ok(TaskId(17)));
        assert_eq!(jump_target("17", 22), Ok(TaskId(17)));
        assert!(jump_target("vps-17", 80).is_err());
        assert!(jump_target("example.com", 22).is_err());
    }
}
