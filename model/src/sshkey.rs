//! OpenSSH public keys as users paste them (`<algorithm> <base64 blob> [comment]`), checked the
//! same way by the host, the CLI and the dashboard: one line, a known algorithm, a blob that
//! decodes and names that algorithm itself.

use base64::Engine;

/// Algorithms a VPS key may use (what OpenSSH's sshd accepts by default).
pub const KEY_ALGORITHMS: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// A checked public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyLine {
    pub algorithm: String,
    /// The decoded key blob (SSH wire format).
    pub blob: Vec<u8>,
    pub comment: String,
}

impl PublicKeyLine {
    /// `<algorithm> <base64>` without the comment: the line written to `authorized_keys`
    /// (comments are the user's text and never reach a file unchecked).
    pub fn authorized_key(&self) -> String {
        format!("{} {}", self.algorithm, base64::engine::general_purpose::STANDARD.encode(&self.blob))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicKeyError {
    #[error("the public key is empty")]
    Empty,
    #[error("give one public key on one line")]
    MultipleLines,
    #[error("unsupported key type {0:?} (use ssh-ed25519, ssh-rsa or ecdsa-sha2-*)")]
    Algorithm(String),
    #[error("the key data after the key type is missing")]
    MissingBlob,
    #[error("the key data is not valid base64")]
    Base64,
    #[error("the key data does not hold a {0} key")]
    Mismatch(String),
}

/// Parses one OpenSSH public key line (leading/trailing blanks ignored).
pub fn parse_public_key(text: &str) -> Result<PublicKeyLine, PublicKeyError> {
    let line = text.trim();
    if line.is_empty() {
        return Err(PublicKeyError::Empty);
    }
    if line.contains(['\n', '\r', '\0']) {
        return Err(PublicKeyError::MultipleLines);
    }
    let mut parts = line.split_whitespace();
    let algorithm = parts.next().ok_or(PublicKeyError::Empty)?;
    if !KEY_ALGORITHMS.contains(&algorithm) {
        let shown: String = algorithm.chars().take(40).collect();
        return Err(PublicKeyError::Algorithm(shown));
    }
    let encoded = parts.next().ok_or(PublicKeyError::MissingBlob)?;
    let blob = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| PublicKeyError::Base64)?;
    // The blob starts with the algorithm name as an SSH string (u32 length, bytes).
    let named = blob
        .get(..4)
        .map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize)
        .and_then(|len| blob.get(4..4 + len));
    if named != Some(algorithm.as_bytes()) || blob.len() <= 4 + algorithm.len() {
        return Err(PublicKeyError::Mismatch(algorithm.to_string()));
    }
    let comment = parts.collect::<Vec<_>>().join(" ");
    Ok(PublicKeyLine { algorithm: algorithm.to_string(), blob, comment })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real ed25519 key (generated with ssh-keygen for this test).
    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIvHW968nTBxRcy05qQApqONnymK/1g3+0T1i0o/j3h alice@laptop";

    #[test]
    fn a_real_key_parses_and_loses_its_comment_in_authorized_keys() {
        let key = parse_public_key(&format!("  {ED25519}\n")).unwrap();
        assert_eq!(key.algorithm, "ssh-ed25519");
        assert_eq!(key.comment, "alice@laptop");
        assert_eq!(key.blob.len(), 4 + 11 + 4 + 32);
        assert_eq!(key.authorized_key(), ED25519.rsplit_once(' ').unwrap().0);
    }

    #[test]
    fn bad_keys_say_why() {
        let cases = [
            ("", PublicKeyError::Empty),
            ("ssh-dss AAAA", PublicKeyError::Algorithm("ssh-dss".into())),
            ("ssh-ed25519", PublicKeyError::MissingBlob),
            ("ssh-ed25519 !!!", PublicKeyError::Base64),
            // An RSA blob labelled ed25519.
            ("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAAAgQ==", PublicKeyError::Mismatch("ssh-ed25519".into())),
            ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", PublicKeyError::Mismatch("ssh-ed25519".into())),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_public_key(text), Err(expected), "{text}");
        }
        let two = format!("{ED25519}\n{ED25519}");
        assert_eq!(parse_public_key(&two), Err(PublicKeyError::MultipleLines));
        let injected =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPIvHW968nTBxRcy05qQApqONnymK/1g3+0T1i0o/j3h x' ; rm -rf / '";
        // Shell syntax in a comment is harmless: it never reaches a file or a command line.
        assert!(!parse_public_key(injected).unwrap().authorized_key().contains('\''));
    }
}
