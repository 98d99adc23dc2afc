//! The `[limits]` section: how long a task may run, per role, and how much of the cluster one
//! user's tasks may hold at once. Pure: the rules and their wording; the host applies the time
//! limits to every submit before anything is stored, and the user limits in every queue pass
//! (a task over them waits, with the limit as its reason).

use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::policy::Denied;
use crate::span::Span;

/// What one role gets; each key unset takes the section's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleLimits {
    pub default_time_limit: Option<Span>,
    pub max_time_limit: Option<Span>,
}

/// The `[limits]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// The time limit of a task whose submit names none (`0`: none).
    pub default_time_limit: Span,
    /// The longest time limit a submit may name (`0`: any); a submit without one gets at most
    /// this.
    pub max_time_limit: Span,
    /// Between SIGTERM and SIGKILL when a task reaches its time limit.
    pub kill_grace: Span,
    /// What one user's (a token name's) tasks may hold at once; `0`: unlimited.
    pub per_user_running_tasks: u32,
    pub per_user_cores: u32,
    pub per_user_gpus: u32,
    pub per_user_vps: u32,
    /// The least role that may raise a task's `priority` above 0 (anyone may lower it).
    pub raise_priority_role: Role,
    /// A waiting task gains one point of effective priority per this much waiting (the age
    /// term: nobody starves).
    pub priority_age: Span,
    /// How fast a user's past usage stops counting against their fair share.
    pub fair_share_half_life: Span,
    /// Per role (`[limits.user]`, `[limits.operator]`, `[limits.admin]`): overrides of the keys
    /// above.
    pub user: RoleLimits,
    pub operator: RoleLimits,
    pub admin: RoleLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            default_time_limit: Span(0),
            max_time_limit: Span(0),
            kill_grace: Span(30),
            per_user_running_tasks: 0,
            per_user_cores: 0,
            per_user_gpus: 0,
            per_user_vps: 0,
            raise_priority_role: Role::Operator,
            priority_age: Span(3_600),
            fair_share_half_life: Span(7 * 86_400),
            user: RoleLimits::default(),
            operator: RoleLimits::default(),
            admin: RoleLimits::default(),
        }
    }
}

/// What one user's tasks hold now (tasks that hold resources: assigning, running, paused).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// Command tasks.
    pub tasks: u32,
    pub cores: u32,
    pub gpus: u32,
    pub vps: u32,
}

impl Held {
    /// `self` plus one task of this shape.
    pub fn with(self, vps: bool, cores: u32, gpus: u32) -> Held {
        Held {
            tasks: self.tasks + u32::from(!vps),
            cores: self.cores.saturating_add(cores),
            gpus: self.gpus.saturating_add(gpus),
            vps: self.vps + u32::from(vps),
        }
    }
}

/// One user's limits: `[limits]`' `per_user_*`, or a token's own where an admin set them; `0`:
/// unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct UserLimits {
    pub running_tasks: Option<u32>,
    pub cores: Option<u32>,
    pub gpus: Option<u32>,
    pub vps: Option<u32>,
}

impl UserLimits {
    /// `key=value` (`gpus=4`, `cores=16`, `running_tasks=10`, `vps=1`; `0`: unlimited) into these
    /// limits.
    pub fn set(&mut self, assignment: &str) -> Result<(), String> {
        let (key, value) =
            assignment.split_once('=').ok_or_else(|| format!("{assignment:?}: expected KEY=VALUE, e.g. gpus=4"))?;
        let value: u32 =
            value.trim().parse().map_err(|_| format!("{assignment:?}: the value must be a whole number"))?;
        let slot = match key.trim() {
            "running_tasks" | "tasks" => &mut self.running_tasks,
            "cores" => &mut self.cores,
            "gpus" => &mut self.gpus,
            "vps" => &mut self.vps,
            other => return Err(format!("unknown limit {other:?}: use running_tasks, cores, gpus or vps")),
        };
        *slot = Some(value);
        Ok(())
    }
}

impl Limits {
    /// Why a task of this shape, added to what its user holds, would break the user's limits
    /// (`own`: the token's overrides), or `None` when it may start.
    pub fn user_limit_hit(&self, own: &UserLimits, held: Held, vps: bool, cores: u32, gpus: u32) -> Option<String> {
        let after = held.with(vps, cores, gpus);
        let checks = [
            (
                "running tasks",
                "per_user_running_tasks",
                own.running_tasks,
                self.per_user_running_tasks,
                held.tasks,
                after.tasks,
                !vps,
            ),
            ("cores", "per_user_cores", own.cores, self.per_user_cores, held.cores, after.cores, cores > 0),
            ("GPUs", "per_user_gpus", own.gpus, self.per_user_gpus, held.gpus, after.gpus, gpus > 0),
            ("VPS", "per_user_vps", own.vps, self.per_user_vps, held.vps, after.vps, vps),
        ];
        // Called for every waiting task on every queue pass: nothing is formatted unless hit.
        checks.into_iter().find_map(|(what, key, own, config, now, wanted, asks)| {
            let limit = own.unwrap_or(config);
            (asks && limit > 0 && wanted > limit).then(|| {
                let source = if own.is_some() { "its token's limit".to_string() } else { format!("[limits] {key}") };
                format!("User limit: {now} of {limit} {what} in use ({source})")
            })
        })
    }

    fn of(&self, role: Role) -> Option<&RoleLimits> {
        match role {
            Role::Viewer => None,
            Role::User => Some(&self.user),
            Role::Operator => Some(&self.operator),
            Role::Admin => Some(&self.admin),
        }
    }

    /// Checks the `priority` a submit of `role` asks for.
    pub fn check_priority(&self, role: Role, priority: i32) -> Result<(), Denied> {
        if priority > 0 && role < self.raise_priority_role {
            return Err(Denied {
                key: "limits.raise_priority_role",
                field: "priority",
                message: format!(
                    "Raising a task's priority above 0 needs the {} role or above ([limits] raise_priority_role); \
                     you have the {role} role (lowering it is for everyone)",
                    self.raise_priority_role
                ),
            });
        }
        Ok(())
    }

    /// `(default, maximum)` time limit of `role`, each `0` for none.
    pub fn time_limits(&self, role: Role) -> (Span, Span) {
        let own = self.of(role);
        (
            own.and_then(|r| r.default_time_limit).unwrap_or(self.default_time_limit),
            own.and_then(|r| r.max_time_limit).unwrap_or(self.max_time_limit),
        )
    }

    /// The time limit a task of `role` gets when its submit asks for `asked` seconds (none:
    /// the role's default, cut to its maximum). `None`: no limit.
    pub fn time_limit_for(&self, role: Role, asked: Option<u64>) -> Result<Option<u64>, Denied> {
        let (default, max) = self.time_limits(role);
        let key = match self.of(role).and_then(|r| r.max_time_limit) {
            Some(_) => format!("[limits.{role}] max_time_limit"),
            None => "[limits] max_time_limit".to_string(),
        };
        match asked {
            Some(asked) if max.0 > 0 && asked > max.0 => Err(Denied {
                key: "limits.max_time_limit",
                field: "time_limit_seconds",
                message: format!(
                    "A time limit of {} is longer than the {} the {role} role may ask for ({key} = \"{max}\")",
                    Span(asked),
                    max
                ),
            }),
            Some(asked) => Ok(Some(asked)),
            None => {
                let limit = match (default.0, max.0) {
                    (0, 0) => 0,
                    (0, max) => max,
                    (default, 0) => default,
                    (default, max) => default.min(max),
                };
                Ok((limit > 0).then_some(limit))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_per_role() {
        let limits: Limits = toml_like(
            r#"{"default_time_limit": "1d", "max_time_limit": "7d",
                "user": {"max_time_limit": "2d"}, "admin": {"max_time_limit": "0", "default_time_limit": "0"}}"#,
        );
        assert_eq!(limits.time_limit_for(Role::User, None), Ok(Some(86_400)));
        assert_eq!(limits.time_limit_for(Role::User, Some(3_600)), Ok(Some(3_600)));
        let denied = limits.time_limit_for(Role::User, Some(3 * 86_400)).unwrap_err();
        assert!(denied.message.contains("[limits.user] max_time_limit = \"2d\""), "{}", denied.message);
        assert_eq!(limits.time_limit_for(Role::Operator, Some(7 * 86_400)), Ok(Some(7 * 86_400)));
        assert!(limits.time_limit_for(Role::Operator, Some(8 * 86_400)).unwrap_err().message.contains("[limits] max"));
        assert_eq!(limits.time_limit_for(Role::Admin, None), Ok(None), "the admin's own: none");
        assert_eq!(limits.time_limit_for(Role::Admin, Some(300 * 86_400)), Ok(Some(300 * 86_400)));
        // A default above the maximum is cut to it.
        let cut: Limits = toml_like(r#"{"default_time_limit": "3d", "user": {"max_time_limit": "1d"}}"#);
        assert_eq!(cut.time_limit_for(Role::User, None), Ok(Some(86_400)));
        assert_eq!(Limits::default().time_limit_for(Role::User, None), Ok(None));
        assert_eq!(Limits::default().kill_grace, Span(30));
    }

    #[test]
    fn user_limits_count_what_a_user_holds() {
        let limits: Limits =
            toml_like(r#"{"per_user_running_tasks": 2, "per_user_gpus": 4, "per_user_cores": 0, "per_user_vps": 1}"#);
        let none = UserLimits::default();
        let held = Held { tasks: 1, cores: 8, gpus: 3, vps: 0 };
        assert_eq!(limits.user_limit_hit(&none, held, false, 100, 1), None, "cores unlimited; 4 GPUs fit");
        let hit = limits.user_limit_hit(&none, held, false, 1, 2).expect("5 GPUs");
        assert_eq!(hit, "User limit: 3 of 4 GPUs in use ([limits] per_user_gpus)");
        let two = Held { tasks: 2, ..held };
        assert!(limits.user_limit_hit(&none, two, false, 1, 0).unwrap().contains("2 of 2 running tasks"));
        assert_eq!(limits.user_limit_hit(&none, two, true, 1, 0), None, "a VPS is not a running task");
        assert!(limits.user_limit_hit(&none, Held { vps: 1, ..held }, true, 0, 0).unwrap().contains("VPS"));
        // A token's own limit wins, either way.
        let own = UserLimits { gpus: Some(8), running_tasks: Some(0), ..UserLimits::default() };
        assert_eq!(limits.user_limit_hit(&own, two, false, 1, 2), None);
        let tight = UserLimits { cores: Some(8), ..UserLimits::default() };
        assert_eq!(
            limits.user_limit_hit(&tight, held, false, 1, 0).unwrap(),
            "User limit: 8 of 8 cores in use (its token's limit)"
        );
        let mut set = UserLimits::default();
        set.set("gpus=4").unwrap();
        set.set(" cores = 16").unwrap();
        assert_eq!((set.gpus, set.cores), (Some(4), Some(16)));
        assert!(set.set("gpu=4").unwrap_err().contains("unknown limit"));
        assert!(set.set("gpus").is_err() && set.set("gpus=-1").is_err());
    }

    #[test]
    fn raising_a_priority_is_policy() {
        let limits = Limits::default();
        assert!(limits.check_priority(Role::User, -50).is_ok() && limits.check_priority(Role::User, 0).is_ok());
        assert_eq!(limits.check_priority(Role::User, 1).unwrap_err().key, "limits.raise_priority_role");
        assert!(limits.check_priority(Role::Operator, 100).is_ok());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(serde_json::from_str::<Limits>(r#"{"max_time": "1d"}"#).is_err());
        assert!(serde_json::from_str::<Limits>(r#"{"user": {"max": "1d"}}"#).is_err());
        assert!(serde_json::from_str::<Limits>(r#"{"max_time_limit": "soon"}"#).is_err());
    }

    fn toml_like(json: &str) -> Limits {
        serde_json::from_str(json).expect("valid limits")
    }
}
