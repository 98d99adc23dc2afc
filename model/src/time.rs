//! Timestamps on the wire: the original emits naive ISO-8601 `YYYY-MM-DDTHH:MM:SS.ffffff` in the
//! host's local time. We keep that format for compatibility; the host stamps every time itself
//! (runner clocks are never trusted), so one database never mixes clocks.

use chrono::NaiveDateTime;
use serde::{Deserialize, Deserializer, Serializer};

pub const WIRE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

/// `#[serde(with = "hakuriver_model::time::opt")]` for `Option<NaiveDateTime>` fields.
pub mod opt {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(t) => s.collect_str(&t.format(WIRE_FORMAT)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDateTime>, D::Error> {
        let raw: Option<String> = Option::deserialize(d)?;
        raw.map(|s| parse(&s).map_err(serde::de::Error::custom)).transpose()
    }
}

/// Parses the wire format, also accepting a space instead of `T` and any number of fraction digits.
pub fn parse(s: &str) -> Result<NaiveDateTime, chrono::ParseError> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct T {
        #[serde(with = "opt")]
        at: Option<NaiveDateTime>,
    }

    #[test]
    fn round_trips_with_six_fraction_digits() {
        let at = parse("2025-05-01T12:30:45.5").unwrap();
        let json = serde_json::to_string(&T { at: Some(at) }).unwrap();
        assert_eq!(json, r#"{"at":"2025-05-01T12:30:45.500000"}"#);
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), T { at: Some(at) });
        assert_eq!(serde_json::from_str::<T>(r#"{"at":null}"#).unwrap(), T { at: None });
    }

    #[test]
    fn accepts_the_database_spelling_and_rejects_garbage() {
        assert!(parse("2025-05-01 12:30:45.123456").is_ok());
        assert!(parse("yesterday").is_err());
    }
}
