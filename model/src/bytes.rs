//! Byte sizes as people write them. Like the original, `K`, `M`, `G` and `T` are 1000-based;
//! the binary suffixes `Ki`, `Mi`, `Gi` and `Ti` are 1024-based. A trailing `B` is optional and
//! case does not matter: `4G`, `4gb`, `512Mi`, `1.5G` and `2048` are all valid.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ByteSizeError {
    #[error("empty byte size")]
    Empty,
    #[error("invalid byte size {0:?}: expected a number with an optional unit K, M, G, T (1000-based) or Ki, Mi, Gi, Ti (1024-based)")]
    Invalid(String),
    #[error("byte size {0:?} is too large")]
    TooLarge(String),
}

/// Parses a byte size such as `4G` (4 000 000 000) or `512Mi` (536 870 912).
pub fn parse_bytes(input: &str) -> Result<u64, ByteSizeError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(ByteSizeError::Empty);
    }
    let invalid = || ByteSizeError::Invalid(input.to_string());
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    if number.is_empty() {
        return Err(invalid());
    }
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let multiplier: u64 = match unit {
        "" => 1,
        "k" => 1_000,
        "m" => 1_000_000,
        "g" => 1_000_000_000,
        "t" => 1_000_000_000_000,
        "ki" => 1 << 10,
        "mi" => 1 << 20,
        "gi" => 1 << 30,
        "ti" => 1 << 40,
        _ => return Err(invalid()),
    };
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(multiplier).ok_or_else(|| ByteSizeError::TooLarge(input.to_string()));
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let bytes = (value * multiplier as f64).round();
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(ByteSizeError::TooLarge(input.to_string()));
    }
    Ok(bytes as u64)
}

/// Formats a byte count for people, 1000-based like the parser: `4.0 GB`, `512 B`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_and_binary_units() {
        assert_eq!(parse_bytes("2048"), Ok(2048));
        assert_eq!(parse_bytes("4G"), Ok(4_000_000_000));
        assert_eq!(parse_bytes("4gb"), Ok(4_000_000_000));
        assert_eq!(parse_bytes("100K"), Ok(100_000));
        assert_eq!(parse_bytes("512Mi"), Ok(536_870_912));
        assert_eq!(parse_bytes("1.5G"), Ok(1_500_000_000));
        assert_eq!(parse_bytes(" 2 T "), Ok(2_000_000_000_000));
    }

    #[test]
    fn rejects_bad_sizes_with_reasons() {
        assert_eq!(parse_bytes(""), Err(ByteSizeError::Empty));
        assert!(matches!(parse_bytes("G"), Err(ByteSizeError::Invalid(_))));
        assert!(matches!(parse_bytes("4X"), Err(ByteSizeError::Invalid(_))));
        assert!(matches!(parse_bytes("-4G"), Err(ByteSizeError::Invalid(_))));
        assert!(matches!(parse_bytes("1.2.3M"), Err(ByteSizeError::Invalid(_))));
        assert!(matches!(parse_bytes("99999999999T"), Err(ByteSizeError::TooLarge(_))));
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(4_000_000_000), "4.0 GB");
        assert_eq!(format_bytes(1_536_000), "1.5 MB");
    }
}
