//! Secrets in the configuration (tokens): never printed by `Debug`, compared by their hashes in
//! constant time, generated from the operating system's random source.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret string from the configuration; empty means unset. `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends or hashes it.
    pub fn expose(&self) -> Option<&str> {
        (!self.0.is_empty()).then_some(self.0.as_str())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "Secret(unset)" } else { "Secret(<redacted>)" })
    }
}

/// The shortest secret accepted in the configuration.
pub const MIN_SECRET_LEN: usize = 24;

/// A new random secret: 32 bytes from the OS, as 64 hex digits.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// What is stored instead of a secret: its SHA-256, hex. Secrets are 256-bit random values, so a
/// fast hash is enough (there is nothing to brute-force).
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub fn matches(secret: &str, stored: &str) -> bool {
    hash(secret).as_bytes().ct_eq(stored.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_random_and_hash_consistently() {
        let a = generate().expect("random");
        let b = generate().expect("random");
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(matches(&a, &hash(&a)));
        assert!(!matches(&b, &hash(&a)));
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = Secret::new("hunter2-hunter2-hunter2-hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{:?}", Secret::default()), "Secret(unset)");
        assert_eq!(Secret::default().expose(), None);
    }
}
