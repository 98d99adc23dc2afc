//! The API token format: `hkr_<id>_<secret>`. The id (12 hex digits) is public: it names the
//! token in lists and revocations; the secret (64 hex digits) is shown once and stored hashed.

/// The prefix every API token starts with (easy to find in leaked text, easy to tell from others).
pub const PREFIX: &str = "hkr_";

/// A token split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedToken<'a> {
    pub id: &'a str,
    pub secret: &'a str,
}

/// Splits `hkr_<id>_<secret>`; anything else is not one of our API tokens.
pub fn parse(token: &str) -> Option<ParsedToken<'_>> {
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 12) && hex(secret, 64)).then_some(ParsedToken { id, secret })
}

pub fn format(id: &str, secret: &str) -> String {
    format!("{PREFIX}{id}_{secret}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_junk_is_refused() {
        let secret = "a".repeat(64);
        let token = format("0123456789ab", &secret);
        assert_eq!(parse(&token), Some(ParsedToken { id: "0123456789ab", secret: &secret }));
        for bad in [
            "",
            "hkr_",
            "hkr_0123456789ab",
            "hkr_0123456789ab_",
            "hkr_0123456789a_aaaa",
            &format!("hkr_0123456789zz_{secret}"),
            &format!("HKR_0123456789ab_{secret}"),
            &format!("hkr_0123456789ab_{secret}a"),
            &format!("hkr_../../etc_{secret}"),
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
