//! The host–runner protocol: what the host sends a runner (`TaskInfo`, `TaskControl`), what a
//! runner reports back (`TaskStatusUpdate`), and the closed vocabularies both sides match on
//! (`TaskType`, `ControlCommand`, `EnvAction`, `ReplyCode`). Every wire string is the original's;
//! an unknown one is refused at the edge instead of travelling on as free text.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::ids::TaskId;
use crate::task::TaskStatus;

/// Declares a closed set of wire words: the enum, `ALL`, `as_str`, `Display` and `FromStr`.
macro_rules! wire_words {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// A string, one of the words (the derive cannot read a `rename` a macro passes on).
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some($name::ALL.iter().map(|w| w.as_str())))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl FromStr for $name {
            type Err = $crate::protocol::UnknownWord;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|w| w.as_str() == s)
                    .ok_or_else(|| $crate::protocol::UnknownWord { kind: stringify!($name), word: s.to_string() })
            }
        }
    };
}
pub(crate) use wire_words;

/// A word outside one of the protocol's closed sets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {word:?}")]
pub struct UnknownWord {
    pub kind: &'static str,
    pub word: String,
}

wire_words! {
    /// What a task is: a command that runs to its end, or a long-lived container with sshd.
    #[derive(Default)]
    TaskType {
        #[default]
        Command => "command",
        Vps => "vps",
    }
}

wire_words! {
    /// What a user asks of a task (`POST /api/command/{id}/{command}`, `POST /api/kill/{id}`),
    /// and, but for `start`, the runner endpoint the host then calls.
    ControlCommand {
        Kill => "kill",
        Pause => "pause",
        Resume => "resume",
        /// A VPS only: stop its container, keep its disk.
        Stop => "stop",
        /// A VPS only: queue a stopped one again for its node.
        Start => "start",
    }
}

wire_words! {
    /// What the host does to one of its environment containers (`/api/docker/host/{action}/{name}`).
    EnvAction {
        Start => "start",
        Stop => "stop",
        Delete => "delete",
    }
}

wire_words! {
    /// The machine-readable reason beside a reply's `message` or `detail`: what a runner or a
    /// script matches on, never the English sentence.
    ReplyCode {
        /// The task already ended: a report about it changes nothing, and whatever still runs
        /// of it must stop.
        TaskFinal => "task_final",
        /// The host has no such task.
        TaskUnknown => "task_unknown",
        /// The host does not know this runner (it must register again).
        NotRegistered => "not_registered",
    }
}

/// What the host sends a runner's `POST /run` (the original's `TaskInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub task_id: TaskId,
    #[serde(default)]
    pub task_type: TaskType,
    pub command: String,
    #[serde(default)]
    pub arguments: Vec<String>,
    #[serde(default)]
    pub env_vars: BTreeMap<String, String>,
    #[serde(default)]
    pub required_cores: u32,
    #[serde(default)]
    pub required_gpus: Vec<u32>,
    pub stdout_path: String,
    pub stderr_path: String,
    #[serde(default)]
    pub required_memory_bytes: Option<u64>,
    #[serde(default)]
    pub target_numa_node_id: Option<u32>,
    /// `hakuriver/<env>:base`, or `"NULL"` to run without a container.
    pub docker_image_name: String,
    #[serde(default)]
    pub docker_privileged: bool,
    #[serde(default)]
    pub docker_additional_mounts: Vec<String>,
    /// Ours: the Unix user a task without a container must run as (the resource policy, for a
    /// submitter not allowed the runner's own user); none: the runner's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<String>,
    /// Ours: keep at most this many bytes of each of the task's logs (`[paths] max_log_bytes`);
    /// what comes after is dropped and counted, and the file ends with one marker line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_log_bytes: Option<u64>,
    /// Ours: stop the task this many seconds after it starts (SIGTERM, then SIGKILL after
    /// `kill_grace_seconds`) and report it `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_seconds: Option<u64>,
    /// Ours: between SIGTERM and SIGKILL at the time limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_grace_seconds: Option<u64>,
    /// Ours: which attempt of the task this is (none: the first); a kill of an earlier attempt
    /// does not stop a later one from starting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

/// How many bytes of a task's output were dropped past `[paths] max_log_bytes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogBytesDropped {
    pub stdout: u64,
    pub stderr: u64,
}

/// `POST /update` body: a runner reports a task's new status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskStatusUpdate {
    pub task_id: TaskId,
    pub status: TaskStatus,
    #[serde(default)]
    pub exit_code: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, with = "crate::time::opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "date-time-naive"))]
    pub started_at: Option<NaiveDateTime>,
    #[serde(default, with = "crate::time::opt")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = "date-time-naive"))]
    pub completed_at: Option<NaiveDateTime>,
    /// Ours: a VPS's published sshd port on the runner (sent with `running`, and again whenever it
    /// changes, e.g. after a restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_port: Option<u16>,
    /// Ours, with a final status: output dropped past the task's `max_log_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_bytes_dropped: Option<LogBytesDropped>,
    /// Ours, with the status the task has now: what its runner is doing before it starts
    /// (`pulling IMAGE: 12.0 MB of 45.0 MB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// Ours, with a final status: what the task's cgroup measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::usage::MeasuredUsage>,
}

/// Runner `POST /kill`, `/pause`, `/resume` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskControl {
    pub task_id: TaskId,
    #[serde(default)]
    pub unit_name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_round_trips_as_the_original_spells_it() {
        for t in TaskType::ALL {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
            assert_eq!(t.as_str().parse::<TaskType>(), Ok(*t));
        }
        let words: Vec<&str> = ControlCommand::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(words, ["kill", "pause", "resume", "stop", "start"]);
        let words: Vec<&str> = EnvAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(words, ["start", "stop", "delete"]);
        assert_eq!(serde_json::to_value(ReplyCode::TaskFinal).unwrap(), "task_final");
    }

    #[test]
    fn unknown_words_are_refused_with_their_kind() {
        let e = "batch".parse::<TaskType>().unwrap_err();
        assert_eq!(e.to_string(), r#"unknown TaskType "batch""#);
        assert!("Pause".parse::<ControlCommand>().is_err(), "case matters, as on the wire");
        let bad = serde_json::json!({"task_id": "1", "status": "exploded"});
        assert!(serde_json::from_value::<TaskStatusUpdate>(bad).is_err());
    }

    #[test]
    fn the_original_runners_messages_parse() {
        // The original runner's report and the original host's `/run` body, field for field.
        let update: TaskStatusUpdate = serde_json::from_value(serde_json::json!({
            "task_id": 7, "status": "killed_oom", "exit_code": 137, "message": "OOM",
            "started_at": "2025-05-01T12:00:00", "completed_at": null
        }))
        .unwrap();
        assert_eq!((update.status, update.exit_code), (TaskStatus::KilledOom, Some(137)));
        let info: TaskInfo = serde_json::from_value(serde_json::json!({
            "task_id": 7, "command": "echo", "stdout_path": "/o", "stderr_path": "/e",
            "docker_image_name": "NULL"
        }))
        .unwrap();
        assert_eq!(info.task_type, TaskType::Command, "the original's default");
    }
}
