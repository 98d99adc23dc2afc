//! The shared-storage layout the host owns: created at start so runners and tasks find it.

use std::path::{Path, PathBuf};

use hakuriver_config::Config;

/// Folders under `shared_dir`, as the original names them.
pub const TASK_OUTPUTS: &str = "task_outputs";
pub const TASK_ERRORS: &str = "task_errors";
pub const SHARED_DATA: &str = "shared_data";

#[derive(Debug, thiserror::Error)]
#[error("cannot create {path}: {source}")]
pub struct LayoutError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Creates `shared_dir` with its `container_dir`, `task_outputs`, `task_errors` and `shared_data`
/// folders, and the database's folder. Existing folders are left as they are.
pub fn create_layout(config: &Config) -> Result<(), LayoutError> {
    let shared = &config.paths.shared_dir;
    let mut dirs =
        vec![config.container_dir(), shared.join(TASK_OUTPUTS), shared.join(TASK_ERRORS), shared.join(SHARED_DATA)];
    if let Some(parent) = config.database.db_file.parent().filter(|p| !p.as_os_str().is_empty()) {
        dirs.push(parent.to_path_buf());
    }
    for dir in dirs {
        create(&dir)?;
    }
    Ok(())
}

fn create(path: &Path) -> Result<(), LayoutError> {
    std::fs::create_dir_all(path).map_err(|source| LayoutError { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_the_original_layout() {
        let home = tempfile::tempdir().unwrap();
        let config = Config::defaults(home.path());
        create_layout(&config).unwrap();
        for sub in ["hakuriver-containers", TASK_OUTPUTS, TASK_ERRORS, SHARED_DATA] {
            assert!(home.path().join("shared").join(sub).is_dir(), "{sub}");
        }
        create_layout(&config).expect("idempotent");
    }
}
