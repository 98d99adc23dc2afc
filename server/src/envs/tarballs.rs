//! Environment tarballs in `<shared>/<container_dir>`: `<env>-<unix seconds>.tar`. Written under
//! a hidden temporary name (`.<env>-<ts>.tar.partial`) and renamed when complete, so a runner
//! never loads half a file; leftovers of an interrupted save are removed at host start.

use std::path::{Path, PathBuf};

use hakuriver_model::env::{EnvTarballs, TarballList, TarballVersion};
use hakuriver_model::task::is_valid_env_name;

/// `<env>-<digits>.tar` → `(env, timestamp)`.
pub fn parse_name(file: &str) -> Option<(&str, i64)> {
    let stem = file.strip_suffix(".tar")?;
    let (env, ts) = stem.rsplit_once('-')?;
    if !is_valid_env_name(env) || ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((env, ts.parse().ok()?))
}

pub fn file_name(env: &str, ts: i64) -> String {
    format!("{env}-{ts}.tar")
}

pub fn partial_name(env: &str, ts: i64) -> String {
    format!(".{env}-{ts}.tar.partial")
}

/// The regular files in `dir` (a link is never a tarball: runners would refuse to load it).
fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Every environment's tarballs, in the original's `GET /docker/list` shape.
pub fn list(dir: &Path) -> TarballList {
    let mut out = TarballList::new();
    for name in names(dir) {
        if let Some((env, ts)) = parse_name(&name) {
            let entry = out.entry(env.to_string()).or_insert_with(|| EnvTarballs {
                latest_timestamp: ts,
                latest_tarball: name.clone(),
                all_versions: Vec::new(),
            });
            entry.all_versions.push(TarballVersion { timestamp: ts, tarball: name.clone() });
        }
    }
    for entry in out.values_mut() {
        entry.all_versions.sort_by_key(|v| std::cmp::Reverse(v.timestamp));
        entry.latest_timestamp = entry.all_versions[0].timestamp;
        entry.latest_tarball = entry.all_versions[0].tarball.clone();
    }
    out
}

/// Tarballs of `env` older than `keep_ts`: removed once the new one is in place.
pub fn older_than(dir: &Path, env: &str, keep_ts: i64) -> Vec<PathBuf> {
    names(dir)
        .into_iter()
        .filter(|n| parse_name(n).is_some_and(|(e, ts)| e == env && ts < keep_ts))
        .map(|n| dir.join(n))
        .collect()
}

/// Leftovers of interrupted saves.
pub fn partials(dir: &Path) -> Vec<PathBuf> {
    names(dir).into_iter().filter(|n| n.starts_with('.') && n.ends_with(".tar.partial")).map(|n| dir.join(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_listing() {
        assert_eq!(parse_name("my-env-1700000000.tar"), Some(("my-env", 1_700_000_000)));
        for bad in ["env.tar", "env-12a.tar", "Env-1.tar", ".env-1.tar.partial", "env-1.tar.gz", "-1.tar"] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        for n in ["base-100.tar", "base-300.tar", "base-200.tar", "torch-5.tar", ".base-400.tar.partial", "notes.txt"] {
            std::fs::write(dir.path().join(n), b"").unwrap();
        }
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("base-900.tar")).unwrap();
        let list = list(dir.path());
        assert_eq!(list.keys().collect::<Vec<_>>(), ["base", "torch"]);
        assert_eq!(list["base"].latest_tarball, "base-300.tar");
        let order: Vec<i64> = list["base"].all_versions.iter().map(|v| v.timestamp).collect();
        assert_eq!(order, [300, 200, 100]);
        assert_eq!(older_than(dir.path(), "base", 300).len(), 2);
        assert_eq!(partials(dir.path()), [dir.path().join(".base-400.tar.partial")]);
    }
}
