//! The resource policy: which role may ask a runner for what reaches beyond a container (a
//! privileged container, a host folder mounted, a task without a container) and which Unix user
//! a task without a container runs as. The host checks every submit against it before anything
//! is stored; the dashboard offers only what it allows. Pure: the rules and their wording.

use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::task::NO_CONTAINER;

/// The `[policy]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcePolicy {
    /// The least role that may ask for a privileged container (root on the node).
    pub privileged_role: Role,
    /// The least role that may run a task without a container (`container_name = "NULL"`).
    pub native_role: Role,
    /// The least role whose tasks without a container run as the runner's own user (root,
    /// unless `environment.runner_user` says otherwise); every other role's run as `native_user`.
    pub native_root_role: Role,
    /// The Unix user that tasks without a container run as for roles below `native_root_role`.
    /// Never root: the runner refuses a task it would have to start as root for such a role.
    pub native_user: String,
    /// The least role that may mount any host folder; others only the configured
    /// `docker.additional_mounts` and `user_mounts`.
    pub any_mount_role: Role,
    /// Host folders every role that may submit may mount (exactly these paths; `/data:ro`: only
    /// read-only), besides the configured `docker.additional_mounts`.
    pub user_mounts: Vec<String>,
    /// The least role that may run a task or VPS in any registry image (`image` on submit): an
    /// image is code from wherever it was built.
    pub image_role: Role,
    /// Image references every role that may submit may use: exact references, or prefixes
    /// ending in `/` or `:` (`"registry.lab:5000/approved/"`).
    pub user_images: Vec<String>,
}

impl Default for ResourcePolicy {
    fn default() -> Self {
        ResourcePolicy {
            privileged_role: Role::Admin,
            native_role: Role::Admin,
            native_root_role: Role::Admin,
            native_user: "nobody".into(),
            any_mount_role: Role::Admin,
            user_mounts: Vec::new(),
            image_role: Role::Operator,
            user_images: Vec::new(),
        }
    }
}

/// What one role may ask for, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Allowed {
    pub privileged: bool,
    pub native: bool,
    /// Any host folder may be mounted.
    pub any_mount: bool,
    /// The host folders that may be mounted otherwise (`path` or `path:ro`).
    pub mounts: Vec<String>,
}

/// A request beyond the policy: which rule, and the key that changes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    /// The configuration key (`policy.privileged_role`).
    pub key: &'static str,
    /// The request's field it is about (`privileged`, `container_name`, `additional_mounts`).
    pub field: &'static str,
    pub message: String,
}

/// What a submit asks for that the policy looks at.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub privileged: bool,
    pub container_name: &'a str,
    pub mounts: &'a [String],
    /// A registry image instead of an environment.
    pub image: Option<&'a str>,
}

impl ResourcePolicy {
    /// What `role` may ask for, given the configured default mounts.
    pub fn allowed(&self, role: Role, default_mounts: &[String]) -> Allowed {
        let mut mounts: Vec<String> = default_mounts
            .iter()
            .map(|m| match m.split(':').nth(2) {
                Some("ro") => format!("{}:ro", host_path(m)),
                _ => host_path(m).to_string(),
            })
            .chain(self.user_mounts.iter().cloned())
            .collect();
        mounts.dedup();
        Allowed {
            privileged: role >= self.privileged_role,
            native: role >= self.native_role,
            any_mount: role >= self.any_mount_role,
            mounts,
        }
    }

    /// Checks a submit of `role` (the configured defaults already applied to `asked`).
    pub fn check(&self, role: Role, asked: &Asked<'_>, default_mounts: &[String]) -> Result<(), Denied> {
        let need = |what: &str, field: &'static str, key: &'static str, least: Role| Denied {
            key,
            field,
            message: format!(
                "{what} needs the {least} role or above ([policy] {} = \"{least}\"); you have the {role} role",
                key.trim_start_matches("policy.")
            ),
        };
        if asked.privileged && role < self.privileged_role {
            return Err(need("A privileged container", "privileged", "policy.privileged_role", self.privileged_role));
        }
        if asked.container_name == NO_CONTAINER && role < self.native_role {
            return Err(need(
                "A task without a container (container_name \"NULL\")",
                "container_name",
                "policy.native_role",
                self.native_role,
            ));
        }
        if let Some(image) = asked.image.filter(|i| role < self.image_role && !image_allowed(i, &self.user_images)) {
            let mut denied = need(
                &format!("Running in the registry image {image:?} (not in [policy] user_images)"),
                "image",
                "policy.image_role",
                self.image_role,
            );
            denied.message.push_str(
                "; add it (or its repository, ending in '/') to [policy] user_images to allow it for everyone",
            );
            return Err(denied);
        }
        if role < self.any_mount_role {
            let allowed = self.allowed(role, default_mounts);
            let defaults: Vec<&str> = default_mounts.iter().map(String::as_str).collect();
            for mount in asked.mounts {
                if defaults.contains(&mount.as_str()) || mount_allowed(mount, &allowed.mounts) {
                    continue;
                }
                let mut denied = need(
                    &format!("Mounting {:?} (not in [policy] user_mounts)", host_path(mount)),
                    "additional_mounts",
                    "policy.any_mount_role",
                    self.any_mount_role,
                );
                denied.message.push_str("; add the folder to [policy] user_mounts to allow it for everyone");
                return Err(denied);
            }
        }
        Ok(())
    }

    /// The Unix user a task without a container of `role` runs as: `None` for the runner's own.
    pub fn native_user_for(&self, role: Role) -> Option<&str> {
        (role < self.native_root_role).then_some(self.native_user.as_str())
    }

    /// Checks the section itself: answers the key and what is wrong.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let name_ok = !self.native_user.is_empty()
            && self.native_user.len() <= 32
            && self.native_user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !name_ok {
            return Err(("native_user", format!("{:?} is not a user name", self.native_user)));
        }
        if self.native_user == "root" {
            return Err(("native_user", "must not be root: raise native_root_role instead".into()));
        }
        if let Some(bad) = self.user_images.iter().find(|i| !crate::task::is_image_reference(i)) {
            return Err((
                "user_images",
                format!("{bad:?} is not an image reference or prefix like \"registry.lab:5000/team/\""),
            ));
        }
        for entry in &self.user_mounts {
            let (path, option) = match entry.rsplit_once(':') {
                Some((p, "ro")) => (p, "ro"),
                _ => (entry.as_str(), ""),
            };
            let p = Path::new(path);
            let clean =
                p.is_absolute() && p.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
            if !clean || path.contains(',') || path.contains(':') || (option.is_empty() && entry.contains(':')) {
                return Err((
                    "user_mounts",
                    format!("{entry:?}: expected an absolute folder without '..', optionally followed by :ro"),
                ));
            }
        }
        Ok(())
    }
}

/// Whether `image` is one of `allowed`: the same reference, or under a prefix that ends in `/`
/// or `:` (a repository's tags, a registry's or a team's repositories).
pub fn image_allowed(image: &str, allowed: &[String]) -> bool {
    allowed.iter().any(|a| a == image || ((a.ends_with('/') || a.ends_with(':')) && image.starts_with(a.as_str())))
}

/// The host side of `host:container[:ro|rw]`.
fn host_path(mount: &str) -> &str {
    mount.split(':').next().unwrap_or(mount)
}

fn same_path(a: &str, b: &str) -> bool {
    Path::new(a).components().eq(Path::new(b).components())
}

/// Whether `mount` uses exactly one of the `allowed` host folders (`path`, or `path:ro` that it
/// must mount read-only). Only the folder itself: a path beneath it could be a link out of it.
pub fn mount_allowed(mount: &str, allowed: &[String]) -> bool {
    let read_only = mount.split(':').nth(2) == Some("ro");
    allowed.iter().any(|entry| match entry.strip_suffix(":ro") {
        Some(path) => read_only && same_path(path, host_path(mount)),
        None => same_path(entry, host_path(mount)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked<'a>(privileged: bool, container_name: &'a str, mounts: &'a [String]) -> Asked<'a> {
        Asked { privileged, container_name, mounts, image: None }
    }

    #[test]
    fn registry_images_are_for_the_image_role_or_the_allowlist() {
        let p = ResourcePolicy {
            user_images: vec!["reg.lab:5000/approved/".into(), "python:3.12".into(), "reg.lab:5000/tools:".into()],
            ..Default::default()
        };
        let none: Vec<String> = vec![];
        let check =
            |role, image: &str| p.check(role, &Asked { image: Some(image), ..asked(false, image, &none) }, &none);
        for image in ["reg.lab:5000/approved/torch:2", "python:3.12", "reg.lab:5000/tools:v1"] {
            assert!(check(Role::User, image).is_ok(), "{image}");
        }
        for image in ["reg.lab:5000/approved", "python:3.12-slim", "evil.example/approved/x", "reg.lab:5000/toolsx:1"] {
            let e = check(Role::User, image).unwrap_err();
            assert_eq!((e.key, e.field), ("policy.image_role", "image"), "{image}");
            assert!(e.message.contains("user_images") && e.message.contains("operator"), "{e}");
        }
        assert!(check(Role::Operator, "anything.example/x:1").is_ok());
    }

    #[test]
    fn the_defaults_keep_users_inside_their_container() {
        let p = ResourcePolicy::default();
        let none: Vec<String> = vec![];
        for role in [Role::User, Role::Operator] {
            let e = p.check(role, &asked(true, "base", &none), &none).unwrap_err();
            assert_eq!(e.key, "policy.privileged_role");
            assert!(e.message.contains("privileged_role = \"admin\"") && e.message.contains(role.as_str()), "{e}");
            assert_eq!(p.check(role, &asked(false, "NULL", &none), &none).unwrap_err().key, "policy.native_role");
            let root = vec!["/:/host".to_string()];
            let e = p.check(role, &asked(false, "base", &root), &none).unwrap_err();
            assert_eq!(e.key, "policy.any_mount_role");
            assert!(e.message.contains("user_mounts"), "{e}");
            assert!(p.check(role, &asked(false, "base", &none), &none).is_ok());
            assert_eq!(p.native_user_for(role), Some("nobody"));
        }
        assert!(p.check(Role::Admin, &asked(true, "NULL", &["/:/host".into()]), &none).is_ok());
        assert_eq!(p.native_user_for(Role::Admin), None);
    }

    #[test]
    fn mounts_inside_the_allowlist_pass() {
        let p = ResourcePolicy { user_mounts: vec!["/data".into(), "/datasets:ro".into()], ..Default::default() };
        let defaults = vec!["/opt/tools:/tools:ro".to_string()];
        let ok = |m: &str| p.check(Role::User, &asked(false, "base", &[m.to_string()]), &defaults).is_ok();
        assert!(ok("/data:/data"));
        assert!(ok("/data/:/mnt/x:rw"));
        assert!(ok("/datasets:/d:ro"));
        assert!(!ok("/datasets:/d"), "read-only entry mounted read-write");
        assert!(!ok("/data/sub:/d"), "beneath an entry: could be a link out of it");
        assert!(!ok("/etc:/etc"));
        assert!(ok("/opt/tools:/tools:ro"), "a configured default");
        assert!(ok("/opt/tools:/elsewhere:ro"), "the default's folder, as the default mounts it");
        assert!(!ok("/opt/tools:/elsewhere"), "a read-only default mounted read-write");
        let allowed = p.allowed(Role::User, &defaults);
        assert_eq!(allowed.mounts, ["/opt/tools:ro", "/data", "/datasets:ro"]);
        assert!(!allowed.privileged && !allowed.native && !allowed.any_mount);
        assert!(p.allowed(Role::Admin, &defaults).any_mount);
    }

    #[test]
    fn configured_roles_move_the_lines() {
        let p = ResourcePolicy {
            privileged_role: Role::Operator,
            native_role: Role::User,
            native_root_role: Role::Operator,
            any_mount_role: Role::Operator,
            ..Default::default()
        };
        let none: Vec<String> = vec![];
        assert!(p.check(Role::User, &asked(false, "NULL", &none), &none).is_ok());
        assert_eq!(p.native_user_for(Role::User), Some("nobody"));
        assert_eq!(p.native_user_for(Role::Operator), None);
        assert!(p.check(Role::Operator, &asked(true, "base", &["/:/host".into()]), &none).is_ok());
    }

    #[test]
    fn the_section_is_checked() {
        assert!(ResourcePolicy::default().validate().is_ok());
        let bad = |p: ResourcePolicy| p.validate().unwrap_err().0;
        assert_eq!(bad(ResourcePolicy { native_user: "root".into(), ..Default::default() }), "native_user");
        assert_eq!(bad(ResourcePolicy { native_user: "a b".into(), ..Default::default() }), "native_user");
        for entry in ["data", "/a/../b", "/a:rw", "/a,b", "/a:/b"] {
            assert_eq!(bad(ResourcePolicy { user_mounts: vec![entry.into()], ..Default::default() }), "user_mounts");
        }
        assert!(ResourcePolicy { user_mounts: vec!["/data:ro".into()], ..Default::default() }.validate().is_ok());
        assert_eq!(bad(ResourcePolicy { user_images: vec!["has space/".into()], ..Default::default() }), "user_images");
    }
}
