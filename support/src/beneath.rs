//! Files in shared storage, opened without following links. Anything that can write to the
//! shared folder (a task, any NFS client) could replace a log or a tarball with a symbolic link
//! to a file only the host or runner may read (its configuration, a key), or with a FIFO that
//! blocks the reader. Every open here walks the path one component at a time from a folder the
//! configuration names, each step `openat(…, O_NOFOLLOW)`, so a link anywhere below that folder
//! is an error (`Link`), never followed; a file must be a regular one. Files are created new
//! (`O_CREAT | O_EXCL`), never written through whatever was there.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    /// A symbolic link was found on the way (it is not followed).
    #[error("{0} is a symbolic link in shared storage; refusing to follow it")]
    Link(PathBuf),
    /// Not a regular file (a FIFO, a device, a folder).
    #[error("{0} is not a regular file")]
    NotRegular(PathBuf),
    /// The path leaves the folder (`..`, absolute, or not beneath it).
    #[error("{0} is not inside {1}")]
    Outside(PathBuf, PathBuf),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

impl BeneathError {
    /// Whether the file is simply not there.
    pub fn is_not_found(&self) -> bool {
        matches!(self, BeneathError::Io(_, e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// The components of `path` below `root`: `path` may be absolute (then it must start with
/// `root`) or relative; only plain names are allowed below `root`.
fn components<'a>(root: &Path, path: &'a Path) -> Result<Vec<&'a OsStr>, BeneathError> {
    let outside = || BeneathError::Outside(path.to_path_buf(), root.to_path_buf());
    let rel = if path.is_absolute() { path.strip_prefix(root).map_err(|_| outside())? } else { path };
    let parts: Vec<&OsStr> = rel
        .components()
        .map(|c| match c {
            Component::Normal(name) => Ok(name),
            _ => Err(outside()),
        })
        .collect::<Result<_, _>>()?;
    if parts.is_empty() {
        return Err(outside());
    }
    Ok(parts)
}

/// Opens the folder holding `path`'s last component, walking from `root` without following
/// links; answers it and the last component.
fn parent<'a>(root: &Path, path: &'a Path) -> Result<(OwnedFd, &'a OsStr), BeneathError> {
    let parts = components(root, path)?;
    let io = |e: Errno| BeneathError::Io(path.to_path_buf(), e.into());
    // The folder the configuration names is trusted as it is (it may itself be a link).
    let mut dir = rustix::fs::open(root, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| BeneathError::Io(root.to_path_buf(), e.into()))?;
    let (last, folders) = parts.split_last().ok_or_else(|| BeneathError::Outside(path.into(), root.into()))?;
    for name in folders {
        dir = rustix::fs::openat(
            &dir,
            *name,
            OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| classify(&dir, name, e, path).unwrap_or_else(io))?;
    }
    Ok((dir, last))
}

/// `Link` when `name` in `dir` is a symbolic link (what `O_NOFOLLOW` refused).
fn classify(dir: &OwnedFd, name: &OsStr, e: Errno, path: &Path) -> Result<BeneathError, Errno> {
    if e == Errno::LOOP || e == Errno::NOTDIR {
        if let Ok(stat) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink {
                return Ok(BeneathError::Link(path.to_path_buf()));
            }
        }
    }
    Err(e)
}

/// Opens the regular file `path` (beneath `root`) for reading.
pub fn open_read(root: &Path, path: &Path) -> Result<File, BeneathError> {
    let (dir, name) = parent(root, path)?;
    let io = |e: Errno| BeneathError::Io(path.to_path_buf(), e.into());
    // Non-blocking, so a FIFO planted here cannot hang the open; regular files ignore the flag.
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd = rustix::fs::openat(&dir, name, flags, Mode::empty())
        .map_err(|e| classify(&dir, name, e, path).unwrap_or_else(io))?;
    let stat = rustix::fs::fstat(&fd).map_err(io)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(BeneathError::NotRegular(path.to_path_buf()));
    }
    rustix::fs::fcntl_setfl(&fd, OFlags::empty()).map_err(io)?;
    Ok(File::from(fd))
}

/// Creates `path` (beneath `root`) as a new, empty regular file for writing, `mode` as given:
/// whatever had that name before (a file, a link planted there) is removed first, never
/// written through.
pub fn create_fresh(root: &Path, path: &Path, mode: u32) -> Result<File, BeneathError> {
    let (dir, name) = parent(root, path)?;
    let io = |e: Errno| BeneathError::Io(path.to_path_buf(), e.into());
    let planted = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::Symlink);
    if planted {
        tracing::warn!(path = %path.display(), "a symbolic link was planted where a file is created; replacing it");
    }
    match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => {}
        Err(e) => return Err(io(e)),
    }
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd = rustix::fs::openat(&dir, name, flags, Mode::from_raw_mode(mode)).map_err(io)?;
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::symlink;

    #[test]
    fn files_are_read_beneath_the_folder_and_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("task_outputs")).unwrap();
        std::fs::write(root.join("task_outputs/1.out"), "hello").unwrap();
        std::fs::write(root.join("secret"), "admin_token").unwrap();
        let mut text = String::new();
        open_read(root, &root.join("task_outputs/1.out")).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello");
        assert!(open_read(root, Path::new("task_outputs/2.out")).unwrap_err().is_not_found());

        symlink(root.join("secret"), root.join("task_outputs/3.out")).unwrap();
        assert!(matches!(open_read(root, Path::new("task_outputs/3.out")), Err(BeneathError::Link(_))));
        // A link in the middle of the path, to a folder holding a file of that name.
        std::fs::create_dir(root.join("elsewhere")).unwrap();
        std::fs::write(root.join("elsewhere/4.out"), "not yours").unwrap();
        symlink(root.join("elsewhere"), root.join("linked")).unwrap();
        assert!(matches!(open_read(root, Path::new("linked/4.out")), Err(BeneathError::Link(_))));

        for outside in ["../x", "/etc/passwd", "task_outputs/../secret", ""] {
            assert!(matches!(open_read(root, Path::new(outside)), Err(BeneathError::Outside(..))), "{outside}");
        }
    }

    #[test]
    fn fifos_and_folders_are_not_files() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
        assert!(matches!(open_read(dir.path(), &fifo), Err(BeneathError::NotRegular(_))), "no hang, no read");
        std::fs::create_dir(dir.path().join("d")).unwrap();
        assert!(matches!(open_read(dir.path(), Path::new("d")), Err(BeneathError::NotRegular(_))));
    }

    #[test]
    fn created_files_replace_what_was_there_and_never_write_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let target = root.join("target");
        std::fs::write(&target, "keep me").unwrap();
        symlink(&target, root.join("7.out")).unwrap();
        let mut file = create_fresh(root, Path::new("7.out"), 0o644).unwrap();
        file.write_all(b"task output").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert_eq!(std::fs::read_to_string(root.join("7.out")).unwrap(), "task output");
        assert!(!std::fs::symlink_metadata(root.join("7.out")).unwrap().file_type().is_symlink());

        std::fs::create_dir(root.join("real")).unwrap();
        symlink(root.join("real"), root.join("dirlink")).unwrap();
        assert!(matches!(create_fresh(root, Path::new("dirlink/x"), 0o644), Err(BeneathError::Link(_))));
        assert!(!root.join("real/x").exists());
    }
}
