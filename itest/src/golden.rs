//! Golden JSON shapes: the keys and value types of a `--json` output, kept in
//! `itest/golden/NAME.json` and compared on every run, so a renamed, removed or retyped field
//! fails a test before it breaks someone's script.
//!
//! A shape is JSON whose leaves are type names (`"string"`, `"integer"`, `"number"`,
//! `"boolean"`, `"null"`, or several joined by `|` for optional fields); an array's shape is a
//! one-element array with the shape of every element (an empty array fits it); an object with the
//! key `"<map>"` is a map with data for keys and that shape for values; an object with the key
//! `"<null>"` may also be null; a key written `"name?"` may be absent. `UPDATE_GOLDEN=1` merges what was seen into the file (hand-made
//! markers kept); a missing file fails the test rather than being created quietly.

use std::path::PathBuf;

use serde_json::Value;

pub const MAP_KEY: &str = "<map>";
pub const NULL_KEY: &str = "<null>";

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden").join(format!("{name}.json"))
}

fn leaf(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) | Value::Object(_) => unreachable!("containers are not leaves"),
    }
}

/// The shape of a value.
pub fn shape_of(v: &Value) -> Value {
    match v {
        Value::Array(items) => {
            Value::Array(items.iter().map(shape_of).reduce(|a, b| merge(&a, &b)).into_iter().collect())
        }
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), shape_of(v))).collect()),
        other => Value::String(leaf(other).to_string()),
    }
}

/// Two shapes as one: leaf types joined, object keys united.
pub fn merge(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) if x.contains_key(MAP_KEY) || y.contains_key(MAP_KEY) => {
            let (map, other) = if x.contains_key(MAP_KEY) { (x, y) } else { (y, x) };
            let mut out = map.clone();
            let mut values = map[MAP_KEY].clone();
            for (k, v) in other {
                if k != NULL_KEY && k != MAP_KEY {
                    values = merge(&values, v);
                }
            }
            out.insert(MAP_KEY.to_string(), values);
            if other.contains_key(NULL_KEY) {
                out.insert(NULL_KEY.to_string(), "allowed".into());
            }
            Value::Object(out)
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut out = x.clone();
            for (k, v) in y {
                let key = if !out.contains_key(k) && out.contains_key(&format!("{k}?")) {
                    format!("{k}?")
                } else {
                    k.clone()
                };
                let merged = match out.get(&key) {
                    Some(existing) => merge(existing, v),
                    None => v.clone(),
                };
                out.insert(key, merged);
            }
            Value::Object(out)
        }
        (Value::Array(x), Value::Array(y)) => match (x.first(), y.first()) {
            (Some(p), Some(q)) => Value::Array(vec![merge(p, q)]),
            (p, q) => Value::Array(p.or(q).cloned().into_iter().collect()),
        },
        (Value::String(x), Value::String(y)) => {
            let mut types: Vec<&str> = x.split('|').chain(y.split('|')).collect();
            types.sort_unstable();
            types.dedup();
            Value::String(types.join("|"))
        }
        // An object on one side and null on the other: the object, which may be null.
        (Value::Object(x), Value::String(_)) | (Value::String(_), Value::Object(x)) => {
            let mut out = x.clone();
            out.insert(NULL_KEY.to_string(), "allowed".into());
            Value::Object(out)
        }
        (container, _) => container.clone(),
    }
}

/// Where `actual` (a value) does not fit `golden` (a shape); empty when it fits.
pub fn mismatches(golden: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (golden, actual) {
        (Value::String(types), v) if !v.is_array() && !v.is_object() => {
            if !types.split('|').any(|t| t == leaf(v)) {
                out.push(format!("{path}: expected {types}, got {} ({v})", leaf(v)));
            }
        }
        (Value::Object(g), Value::Null) if g.contains_key(NULL_KEY) => {}
        (_, Value::Null) if golden.is_object() || golden.is_array() => {
            out.push(format!("{path}: expected a container, got null"));
        }
        (Value::Array(g), Value::Array(items)) => match g.first() {
            None if !items.is_empty() => out.push(format!("{path}: expected an empty array")),
            None => {}
            Some(element) => {
                for (i, item) in items.iter().enumerate() {
                    mismatches(element, item, &format!("{path}[{i}]"), out);
                }
            }
        },
        (Value::Object(g), Value::Object(a)) if g.contains_key(MAP_KEY) => {
            for (k, v) in a {
                mismatches(&g[MAP_KEY], v, &format!("{path}.{k}"), out);
            }
        }
        (Value::Object(g), Value::Object(a)) => {
            let required = g.keys().filter(|k| !k.ends_with('?') && *k != NULL_KEY);
            for k in required.filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}.{k}: missing"));
            }
            for (k, v) in a {
                match g.get(k).or_else(|| g.get(&format!("{k}?"))) {
                    Some(shape) => mismatches(shape, v, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}: not in the golden shape")),
                }
            }
        }
        (g, a) => out.push(format!("{path}: expected shape {g}, got {a}")),
    }
}

/// Checks the JSON text `stdout` against golden shape `name` (or updates it).
pub fn assert_golden(name: &str, stdout: &[u8]) -> Value {
    let actual: Value = serde_json::from_slice(stdout)
        .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {}", String::from_utf8_lossy(stdout)));
    let path = golden_path(name);
    let existing: Option<Value> =
        std::fs::read_to_string(&path).ok().map(|t| serde_json::from_str(&t).expect("golden file is JSON"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let seen = shape_of(&actual);
        let merged = existing.map_or(seen.clone(), |e| merge(&e, &seen));
        std::fs::create_dir_all(path.parent().expect("golden folder")).expect("create golden folder");
        std::fs::write(&path, serde_json::to_string_pretty(&merged).expect("shape") + "\n").expect("write golden");
        return actual;
    }
    let golden = existing.unwrap_or_else(|| {
        panic!("{} is missing: run the test with UPDATE_GOLDEN=1 once, review it, and commit it", path.display())
    });
    let mut problems = Vec::new();
    mismatches(&golden, &actual, name, &mut problems);
    assert!(problems.is_empty(), "{name} does not match {}:\n  {}", path.display(), problems.join("\n  "));
    actual
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).expect("JSON")
    }

    fn check(golden: &str, actual: &str) -> Vec<String> {
        let mut out = Vec::new();
        mismatches(&parse(golden), &parse(actual), "x", &mut out);
        out
    }

    #[test]
    fn shapes_catch_renamed_retyped_and_missing_fields() {
        let golden = r#"[{"id":"string","exit":"integer|null","tags":["string"],"env":{"<map>":"string"}}]"#;
        assert!(check(golden, r#"[{"id":"1","exit":null,"tags":["a"],"env":{"A":"1","B":"2"}}]"#).is_empty());
        assert!(check(golden, r#"[{"id":"1","exit":3,"tags":["a"],"env":{}}]"#).is_empty());
        let renamed = check(golden, r#"[{"task":"1","exit":3,"tags":["a"],"env":{}}]"#);
        assert_eq!(renamed.len(), 2, "{renamed:?}");
        assert_eq!(check(golden, r#"[{"id":1,"exit":3,"tags":["a"],"env":{}}]"#).len(), 1);
        assert!(check(golden, r#"[]"#).is_empty(), "an empty array fits any element shape");
        assert_eq!(check(golden, r#"[{"id":"1","exit":3,"tags":["a"],"env":{"A":1}}]"#).len(), 1);
        let nullable = r#"{"numa":{"<null>":"allowed","<map>":{"cores":["integer"]}}}"#;
        assert!(check(nullable, r#"{"numa":null}"#).is_empty());
        assert!(check(nullable, r#"{"numa":{"0":{"cores":[1,2]}}}"#).is_empty());
        assert_eq!(check(r#"{"numa":{"<map>":"integer"}}"#, r#"{"numa":null}"#).len(), 1);
    }

    #[test]
    fn keys_with_a_question_mark_may_be_absent() {
        let golden = r#"{"a":"string","warnings?":["string"]}"#;
        assert!(check(golden, r#"{"a":"x"}"#).is_empty());
        assert!(check(golden, r#"{"a":"x","warnings":["w"]}"#).is_empty());
        assert_eq!(check(golden, r#"{"a":"x","warnings":[1]}"#).len(), 1);
        assert_eq!(check(golden, r#"{"warnings":[]}"#), vec!["x.a: missing"]);
    }

    #[test]
    fn merging_keeps_the_hand_made_markers() {
        let golden = parse(r#"{"<map>":{"a":"integer"},"<null>":"allowed"}"#);
        let merged = merge(&golden, &shape_of(&parse(r#"{"x":{"a":null}}"#)));
        assert_eq!(merged, parse(r#"{"<map>":{"a":"integer|null"},"<null>":"allowed"}"#));
    }

    #[test]
    fn shape_of_merges_array_elements() {
        let s = shape_of(&parse(r#"[{"a":1,"b":null},{"a":2,"b":"x"}]"#));
        assert_eq!(s, parse(r#"[{"a":"integer","b":"null|string"}]"#));
        assert_eq!(merge(&parse(r#""integer""#), &parse(r#""number""#)), parse(r#""integer|number""#));
    }
}
