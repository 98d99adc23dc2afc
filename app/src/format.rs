//! Small display helpers shared by the pages.

use chrono::NaiveDateTime;

pub fn percent(v: Option<f64>) -> String {
    v.map(|p| format!("{p:.1} %")).unwrap_or_else(|| "–".into())
}

pub fn bytes(v: Option<u64>) -> String {
    v.map(hakuriver_model::format_bytes).unwrap_or_else(|| "–".into())
}

pub fn time(v: Option<NaiveDateTime>) -> String {
    v.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "never".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_missing_readings_as_dashes() {
        assert_eq!(percent(None), "–");
        assert_eq!(percent(Some(12.345)), "12.3 %");
        assert_eq!(bytes(Some(2_000_000)), "2.0 MB");
        assert_eq!(time(None), "never");
    }
}
