//! `hakuriver init config|service`: the commented default configuration, and systemd units for
//! the host and the runner. Nothing is installed here: the commands to do so are printed.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} already exists; pass --force to overwrite it")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot make random tokens: {0}")]
    Random(String),
}

/// Writes `text` to `path` (created with `mode`), never over an existing file unless `force`.
fn write_new(path: &Path, text: &str, force: bool, mode: u32) -> Result<(), InitError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if path.exists() && !force {
        return Err(InitError::Exists(path.to_path_buf()));
    }
    let write_err = |source| InitError::Write { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(write_err)?;
    }
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(path).map_err(write_err)?;
    // An existing file keeps its mode on open: set it, since this one may hold secrets.
    file.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(write_err)?;
    file.write_all(text.as_bytes()).map_err(write_err)
}

/// Writes the configuration to `path`: the commented defaults with authentication on and fresh
/// tokens, readable by its owner only.
pub fn write_config(path: &Path, force: bool) -> Result<(), InitError> {
    let text = hakuriver_config::initial_config_toml().map_err(|e| InitError::Random(e.to_string()))?;
    write_new(path, &text, force, 0o600)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Host,
    Runner,
}

impl Role {
    pub fn binary(self) -> &'static str {
        match self {
            Role::Host => "hakuriver-host",
            Role::Runner => "hakuriver-runner",
        }
    }

    pub fn unit_name(self) -> String {
        format!("{}.service", self.binary())
    }
}

/// What a unit needs to know; every path absolute.
pub struct Unit {
    pub role: Role,
    pub binary: PathBuf,
    pub config: PathBuf,
    pub user: String,
    pub group: String,
}

/// A systemd unit: started after the network is up and Docker runs, restarted on failure, with
/// the hardening that leaves Docker's socket, the database folder and shared storage reachable.
/// The name `/etc/passwd` (its text) gives uid `uid`: who runs this command line when `$USER` is
/// unset (cron, `sudo -i`, a service manager).
pub fn user_name_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

pub fn unit_file(u: &Unit) -> String {
    let description = match u.role {
        Role::Host => "HakuRiver Host (API, dashboard, SSH proxy)",
        Role::Runner => "HakuRiver Runner (runs tasks on this node)",
    };
    // The runner starts tasks without a container as child processes that may need their own
    // privileges and /tmp; only the host gets the stricter sandbox.
    let hardening = match u.role {
        Role::Host => {
            "NoNewPrivileges=yes\nPrivateTmp=yes\nProtectSystem=full\nProtectKernelTunables=yes\n\
            ProtectKernelModules=yes\nProtectControlGroups=yes\nRestrictSUIDSGID=yes\nLockPersonality=yes\n"
        }
        Role::Runner => "ProtectKernelModules=yes\nLockPersonality=yes\n",
    };
    format!(
        "# Written by `hakuriver init service`.\n\
         [Unit]\nDescription={description}\nWants=network-online.target\n\
         After=network-online.target docker.service\n\n\
         [Service]\nType=simple\nUser={user}\nGroup={group}\n\
         ExecStart={binary} --config {config}\n\
         Restart=on-failure\nRestartSec=5\nTimeoutStopSec=30\n{hardening}\n\
         [Install]\nWantedBy=multi-user.target\n",
        user = u.user,
        group = u.group,
        binary = u.binary.display(),
        config = u.config.display(),
    )
}

/// Writes the unit into `dir`; returns its path.
pub fn write_unit(dir: &Path, unit: &Unit, force: bool) -> Result<PathBuf, InitError> {
    let path = dir.join(unit.role.unit_name());
    write_new(&path, &unit_file(unit), force, 0o644)?;
    Ok(path)
}

/// The commands that install and start the units just written.
pub fn install_hint(paths: &[PathBuf], roles: &[Role]) -> String {
    let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let units: Vec<String> = roles.iter().map(|r| r.unit_name()).collect();
    format!(
        "Install and start with:\n  sudo cp {} /etc/systemd/system/\n  sudo systemctl daemon-reload\n  \
         sudo systemctl enable --now {}\nLogs: journalctl -u {} -f\n",
        files.join(" "),
        units.join(" "),
        units.first().map(String::as_str).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_user_is_found_by_uid() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nlab:x:1000:1000::/home/lab:/bin/sh\nbroken\n";
        assert_eq!(user_name_of(passwd, 1000).as_deref(), Some("lab"));
        assert_eq!(user_name_of(passwd, 0).as_deref(), Some("root"));
        assert_eq!(user_name_of(passwd, 42), None);
    }

    #[test]
    fn writes_once_and_overwrites_only_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.toml");
        use std::os::unix::fs::PermissionsExt;
        write_config(&path, false).unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        assert!(first.contains("\nenabled = true\n") && !first.contains("\nrunner_token = \"\"\n"), "{first}");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::write(&path, "# mine").unwrap();
        assert!(matches!(write_config(&path, false), Err(InitError::Exists(_))));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine", "kept");
        write_config(&path, true).unwrap();
        let second = std::fs::read_to_string(&path).unwrap();
        assert!(second.contains("\nenabled = true\n") && second != first, "fresh tokens");
    }

    #[test]
    fn a_unit_runs_the_binary_with_its_config_after_docker() {
        let unit = Unit {
            role: Role::Runner,
            binary: "/opt/hakuriver/bin/hakuriver-runner".into(),
            config: "/etc/hakuriver/config.toml".into(),
            user: "lab".into(),
            group: "lab".into(),
        };
        let text = unit_file(&unit);
        for line in [
            "ExecStart=/opt/hakuriver/bin/hakuriver-runner --config /etc/hakuriver/config.toml",
            "After=network-online.target docker.service",
            "Wants=network-online.target",
            "Restart=on-failure",
            "User=lab",
            "Group=lab",
            "WantedBy=multi-user.target",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        let host = unit_file(&Unit { role: Role::Host, ..unit });
        assert!(host.contains("ProtectSystem=full") && !text.contains("ProtectSystem"));
        let hint = install_hint(&["/tmp/x/hakuriver-runner.service".into()], &[Role::Runner]);
        assert!(hint.contains("sudo systemctl enable --now hakuriver-runner.service"), "{hint}");
    }
}
