//! Argument sweeps, as the original's `hakurun` wrote them: an argument `span:{1..8}` stands for
//! the integers 1 to 8, `span:[a, b, c]` for the listed strings, and every other argument for
//! itself. A command line with spans stands for the Cartesian product of its values.

/// The most command lines one sweep may stand for (the host takes as many tasks per submit).
pub const MAX_COMBINATIONS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SweepError {
    #[error("{arg:?}: bad range ({reason}); write span:{{FIRST..LAST}} with integers, FIRST <= LAST")]
    BadRange { arg: String, reason: String },
    #[error("{arg:?}: a list needs a closing ']'")]
    UnclosedList { arg: String },
    #[error("{arg:?} has no values, so the sweep has no command to run")]
    Empty { arg: String },
    #[error("the sweep stands for more than {MAX_COMBINATIONS} command lines")]
    TooMany,
}

/// The values one argument stands for.
pub fn values(arg: &str) -> Result<Vec<String>, SweepError> {
    let Some(spec) = arg.strip_prefix("span:") else {
        return Ok(vec![arg.to_string()]);
    };
    if let Some(range) = spec.strip_prefix('{') {
        let bad = |reason: &str| SweepError::BadRange { arg: arg.to_string(), reason: reason.to_string() };
        let inner = range.strip_suffix('}').ok_or_else(|| bad("no closing '}'"))?;
        let (first, last) = inner.split_once("..").ok_or_else(|| bad("no '..'"))?;
        let first: i64 = first.trim().parse().map_err(|_| bad("FIRST is not an integer"))?;
        let last: i64 = last.trim().parse().map_err(|_| bad("LAST is not an integer"))?;
        if first > last {
            return Err(bad("FIRST is greater than LAST"));
        }
        if last.abs_diff(first) >= MAX_COMBINATIONS as u64 {
            return Err(SweepError::TooMany);
        }
        return Ok((first..=last).map(|i| i.to_string()).collect());
    }
    if let Some(list) = spec.strip_prefix('[') {
        let inner = list.strip_suffix(']').ok_or_else(|| SweepError::UnclosedList { arg: arg.to_string() })?;
        let items: Vec<String> = inner.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        if items.is_empty() {
            return Err(SweepError::Empty { arg: arg.to_string() });
        }
        return Ok(items);
    }
    // The original keeps any other `span:...` as the literal text after the prefix.
    Ok(vec![spec.to_string()])
}

/// Whether any argument is a span (so the command line is a sweep).
pub fn is_sweep(args: &[String]) -> bool {
    args.iter().any(|a| a.starts_with("span:"))
}

/// Every combination, the first argument varying slowest (the original's order).
pub fn expand(args: &[String]) -> Result<Vec<Vec<String>>, SweepError> {
    let mut lines: Vec<Vec<String>> = vec![Vec::new()];
    for arg in args {
        let values = values(arg)?;
        if lines.len().saturating_mul(values.len()) > MAX_COMBINATIONS {
            return Err(SweepError::TooMany);
        }
        lines = lines
            .into_iter()
            .flat_map(|line| {
                values.iter().map(move |v| {
                    let mut next = line.clone();
                    next.push(v.clone());
                    next
                })
            })
            .collect();
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ranges_are_inclusive_and_lists_trimmed() {
        assert_eq!(values("span:{1..3}").unwrap(), strings(&["1", "2", "3"]));
        assert_eq!(values("span:{-1..1}").unwrap(), strings(&["-1", "0", "1"]));
        assert_eq!(values("span:{ 4 .. 4 }").unwrap(), strings(&["4"]));
        assert_eq!(values("span:[a, b ,c]").unwrap(), strings(&["a", "b", "c"]));
        assert_eq!(values("plain").unwrap(), strings(&["plain"]));
        assert_eq!(values("span:other").unwrap(), strings(&["other"]), "the original's literal remainder");
    }

    #[test]
    fn the_product_varies_the_last_argument_fastest() {
        let lines = expand(&strings(&["--lr", "span:[0.1,0.01]", "--seed", "span:{1..3}"])).unwrap();
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[0], strings(&["--lr", "0.1", "--seed", "1"]));
        assert_eq!(lines[1], strings(&["--lr", "0.1", "--seed", "2"]));
        assert_eq!(lines[5], strings(&["--lr", "0.01", "--seed", "3"]));
        assert_eq!(expand(&[]).unwrap(), vec![Vec::<String>::new()], "no arguments: one command line");
        assert!(is_sweep(&strings(&["x", "span:{1..2}"])) && !is_sweep(&strings(&["x", "y"])));
    }

    #[test]
    fn bad_spans_say_what_is_wrong() {
        for (arg, why) in [
            ("span:{3..1}", "greater"),
            ("span:{a..3}", "FIRST"),
            ("span:{1..b}", "LAST"),
            ("span:{1-3}", "'..'"),
            ("span:{1..3", "'}'"),
            ("span:[a,b", "']'"),
            ("span:[]", "no values"),
            ("span:[ , ]", "no values"),
        ] {
            let e = values(arg).unwrap_err().to_string();
            assert!(e.contains(why), "{arg}: {e}");
        }
        assert_eq!(values("span:{0..10000}").unwrap_err(), SweepError::TooMany);
        assert_eq!(expand(&strings(&["span:{1..200}", "span:{1..200}"])).unwrap_err(), SweepError::TooMany);
    }
}
