//! Text helpers: byte streams, URL pieces.

/// How much of `bytes` is whole UTF-8: a multi-byte character cut at the end waits for the next
/// read; invalid bytes elsewhere are passed on (and shown as U+FFFD).
pub fn utf8_prefix(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => bytes.len(),
    }
}

/// `text` percent-encoded for one URL path segment or query value: everything but the unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`, and `,`, harmless in both, kept so lists stay readable)
/// is encoded, so text a user typed never reaches another segment or parameter.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b',' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_characters_wait_for_the_rest() {
        let text = "héllo".as_bytes();
        assert_eq!(utf8_prefix(text), text.len());
        assert_eq!(utf8_prefix(&text[..2]), 1, "the é is cut in half");
        assert_eq!(utf8_prefix(b"ok\xff\xfeok"), 6, "invalid bytes are passed on");
    }

    #[test]
    fn percent_encoding_keeps_text_inside_its_segment() {
        assert_eq!(percent_encode("../a b/?x=1&y#é"), "..%2Fa%20b%2F%3Fx%3D1%26y%23%C3%A9");
        assert_eq!(percent_encode("running,paused"), "running,paused");
    }
}
