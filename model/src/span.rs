//! Time spans as people write them: `2h30m`, `90m`, `1d12h`, `45s`, or Slurm's `H:MM:SS` and
//! `D-HH:MM:SS`. A bare number is refused (Slurm reads it as minutes, most tools as seconds):
//! the unit is always written. Used for `--time`, `--since` and the `[limits]` keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest span accepted: a year.
pub const MAX_SECONDS: u64 = 366 * 86_400;

/// A span of whole seconds; `0` means "none" where a limit is meant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a time span: write it like 2h30m, 90m, 1d12h, 45s or 2:30:00 (at most 366d)")]
pub struct BadSpan(pub String);

impl FromStr for Span {
    type Err = BadSpan;
    fn from_str(text: &str) -> Result<Self, BadSpan> {
        let bad = || BadSpan(text.to_string());
        let t = text.trim();
        let seconds = if t.contains(':') { clock(t) } else { units(t) }.ok_or_else(bad)?;
        (seconds <= MAX_SECONDS).then_some(Span(seconds)).ok_or_else(bad)
    }
}

/// `1d2h3m4s` in any subset, each unit at most once and in that order.
fn units(t: &str) -> Option<u64> {
    if t == "0" {
        return Some(0);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut last_rank = 0;
    for c in t.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let (rank, scale) = match c {
            'd' => (1, 86_400),
            'h' => (2, 3_600),
            'm' => (3, 60),
            's' => (4, 1),
            _ => return None,
        };
        if number.is_empty() || rank <= last_rank || number.len() > 9 {
            return None;
        }
        total = total.checked_add(number.parse::<u64>().ok()?.checked_mul(scale)?)?;
        number.clear();
        last_rank = rank;
    }
    (number.is_empty() && last_rank > 0).then_some(total)
}

/// `MM:SS`, `H:MM:SS` or `D-HH:MM:SS`.
fn clock(t: &str) -> Option<u64> {
    let (days, rest) = match t.split_once('-') {
        Some((d, rest)) => (d.parse::<u64>().ok()?, rest),
        None => (0, t),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    if parts.iter().any(|p| p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let n: Vec<u64> = parts.iter().map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let (h, m, s) = match n.as_slice() {
        [m, s] if days == 0 && *s < 60 => (0, *m, *s),
        [h, m, s] if *m < 60 && *s < 60 => (*h, *m, *s),
        _ => return None,
    };
    Some(days.checked_mul(86_400)? + h.checked_mul(3_600)? + m * 60 + s)
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0");
        }
        let (d, h, m, s) = (self.0 / 86_400, self.0 / 3_600 % 24, self.0 / 60 % 60, self.0 % 60);
        for (n, unit) in [(d, 'd'), (h, 'h'), (m, 'm'), (s, 's')] {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A string (`"2h30m"`) or a number of seconds.
impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Seconds(n) if n <= MAX_SECONDS => Ok(Span(n)),
            Raw::Seconds(n) => Err(serde::de::Error::custom(BadSpan(n.to_string()))),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_people_write() {
        for (text, seconds) in [
            ("2h30m", 9_000),
            ("90m", 5_400),
            ("1d12h", 129_600),
            ("45s", 45),
            ("1d2h3m4s", 93_784),
            ("2:30:00", 9_000),
            ("05:00", 300),
            ("1-00:00:00", 86_400),
            ("0", 0),
            (" 10m ", 600),
        ] {
            assert_eq!(text.parse::<Span>(), Ok(Span(seconds)), "{text}");
        }
        for bad in ["", "90", "2x", "h", "30m2h", "1h1h", "1:60:00", "-1h", "1.5h", "400d", "99999999999h", "1:2:3:4"] {
            assert!(bad.parse::<Span>().is_err(), "{bad}");
        }
    }

    #[test]
    fn spans_print_as_they_parse() {
        for s in [1, 59, 60, 3_600, 9_000, 93_784, 86_400, MAX_SECONDS] {
            let text = Span(s).to_string();
            assert_eq!(text.parse::<Span>(), Ok(Span(s)), "{text}");
        }
        assert_eq!(Span(9_000).to_string(), "2h30m");
        let from_number: Span = serde_json::from_str("600").unwrap();
        let from_text: Span = serde_json::from_str("\"10m\"").unwrap();
        assert_eq!((from_number, from_text), (Span(600), Span(600)));
    }
}
