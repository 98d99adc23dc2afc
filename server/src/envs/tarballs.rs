//! The environment tarballs in shared storage, in the original's `GET /docker/list` shape. The
//! names and how they are written live in `hakuriver_support::tarballs` (runners write them too).

use std::path::Path;

use hakuriver_model::env::{EnvTarballs, TarballList, TarballVersion};
use hakuriver_support::tarballs::names;
pub use hakuriver_support::tarballs::{parse_name, partials};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing() {
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
    }
}
