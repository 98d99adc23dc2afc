//! `hakuriver init config`: writes the commented default configuration.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} already exists; pass --force to overwrite it")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Writes the default configuration to `path`, never over an existing file unless `force`.
pub fn write_config(path: &Path, force: bool) -> Result<(), InitError> {
    if path.exists() && !force {
        return Err(InitError::Exists(path.to_path_buf()));
    }
    let write_err = |source| InitError::Write { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(write_err)?;
    }
    std::fs::write(path, hakuriver_config::DEFAULT_CONFIG_TOML).map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_once_and_overwrites_only_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.toml");
        write_config(&path, false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), hakuriver_config::DEFAULT_CONFIG_TOML);
        std::fs::write(&path, "# mine").unwrap();
        assert!(matches!(write_config(&path, false), Err(InitError::Exists(_))));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine", "kept");
        write_config(&path, true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), hakuriver_config::DEFAULT_CONFIG_TOML);
    }
}
