//! A minimal default environment for a host that cannot get `docker.initial_base_image` (no
//! registry reachable, as on an offline lab machine): a root file system of this machine's static
//! busybox, a link per applet, and the folders tasks use. Enough for `hakuriver task submit --wait
//! -- echo hi` in a container on a fresh cluster; the host says that it did this, and how to get
//! the real image.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where Debian's `busybox-static` (and most distributions' busybox) lives.
const BUSYBOX: [&str; 2] = ["/bin/busybox", "/usr/bin/busybox"];

/// This machine's busybox, when it is a static binary (it must run in an otherwise empty root).
pub fn static_busybox() -> Option<PathBuf> {
    BUSYBOX.iter().map(PathBuf::from).find(|path| std::fs::read(path).is_ok_and(|bytes| is_static_elf(&bytes)))
}

/// Whether `bytes` are a 64-bit little-endian ELF executable that asks for no program
/// interpreter (no `PT_INTERP` program header): a static binary.
pub fn is_static_elf(bytes: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return false;
    }
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u64_at = |at: usize| bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    let (Some(offset), Some(size), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else { return false };
    let Ok(offset) = usize::try_from(offset) else { return false };
    (0..usize::from(count)).all(|i| {
        let at = offset + i * usize::from(size);
        bytes.get(at..at + 4).is_some_and(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) != PT_INTERP)
    })
}

/// The applets a busybox binary has (`busybox --list`).
pub fn applets(busybox: &Path) -> std::io::Result<Vec<String>> {
    let out = std::process::Command::new(busybox).arg("--list").output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!("{} --list failed", busybox.display())));
    }
    let names = String::from_utf8_lossy(&out.stdout);
    Ok(names.lines().map(str::trim).filter(|n| is_applet_name(n)).map(str::to_string).collect())
}

fn is_applet_name(name: &str) -> bool {
    !name.is_empty() && name != "busybox" && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.[".contains(&b))
}

/// Writes the root file system (as `docker import` takes it) to `out`.
pub fn write_rootfs(busybox: &Path, applets: &[String], out: &Path) -> std::io::Result<()> {
    let file = std::fs::File::create(out)?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    for dir in ["bin/", "etc/", "tmp/", "root/", "shared/", "local_temp/"] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(if dir == "tmp/" { 0o1777 } else { 0o755 });
        header.set_size(0);
        tar.append_data(&mut header, dir, std::io::empty())?;
    }
    tar.append_path_with_name(busybox, "bin/busybox")?;
    for applet in applets {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        tar.append_link(&mut header, format!("bin/{applet}"), "busybox")?;
    }
    for (name, text) in [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(text.len() as u64);
        tar.append_data(&mut header, name, text.as_bytes())?;
    }
    tar.into_inner()?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_and_dynamic_binaries_are_told_apart() {
        // This test binary itself is dynamically linked (it asks for ld-linux).
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(!is_static_elf(&me));
        assert!(!is_static_elf(b"#!/bin/sh\necho not an ELF file at all, just a script of some length\n"));
        // A minimal static ELF: a header and one PT_LOAD program header.
        let mut elf = vec![0u8; 64 + 56];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&1u32.to_le_bytes());
        assert!(is_static_elf(&elf));
        elf[64..68].copy_from_slice(&3u32.to_le_bytes());
        assert!(!is_static_elf(&elf), "PT_INTERP: dynamic");
        assert!(is_applet_name("sh") && is_applet_name("[[") && !is_applet_name("../x") && !is_applet_name(""));
    }

    #[test]
    fn the_root_file_system_has_busybox_its_applets_and_the_task_folders() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("busybox");
        std::fs::write(&fake, b"not really busybox").unwrap();
        let out = dir.path().join("rootfs.tar");
        write_rootfs(&fake, &["sh".into(), "echo".into()], &out).unwrap();
        let mut archive = tar::Archive::new(std::fs::File::open(&out).unwrap());
        let names: Vec<String> =
            archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        for wanted in ["bin/busybox", "bin/sh", "bin/echo", "etc/passwd", "tmp/", "shared/", "local_temp/"] {
            assert!(
                names.iter().any(|n| n.trim_end_matches('/') == wanted.trim_end_matches('/')),
                "{wanted} in {names:?}"
            );
        }
    }
}
