//! Text helpers for byte streams.

/// How much of `bytes` is whole UTF-8: a multi-byte character cut at the end waits for the next
/// read; invalid bytes elsewhere are passed on (and shown as U+FFFD).
pub fn utf8_prefix(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => bytes.len(),
    }
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
}
