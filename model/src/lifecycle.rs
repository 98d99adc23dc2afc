//! A task's lifecycle: its statuses and the one transition function everybody uses (host,
//! runner reports, the database's compare-and-set).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::protocol::TaskType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting on the host for resources (nothing reserved yet).
    Pending,
    /// Resources reserved and sent to a runner, not yet confirmed running.
    Assigning,
    Running,
    Paused,
    Completed,
    Failed,
    Killed,
    KilledOom,
    /// Its node went offline while it ran.
    Lost,
    /// The original runner's word for "gone after a runner restart"; accepted and final.
    Stopped,
    /// A VPS stopped by request (`vps stop`): its container and disk are kept on its node, it
    /// holds no cores, memory or GPUs; `vps start` queues it again for that node.
    ShutOff,
    /// Ours: stopped at its time limit (`time_limit_seconds`).
    Timeout,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 12] = [
        TaskStatus::Pending,
        TaskStatus::Assigning,
        TaskStatus::Running,
        TaskStatus::Paused,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Killed,
        TaskStatus::KilledOom,
        TaskStatus::Lost,
        TaskStatus::Stopped,
        TaskStatus::ShutOff,
        TaskStatus::Timeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Assigning => "assigning",
            TaskStatus::Running => "running",
            TaskStatus::Paused => "paused",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Killed => "killed",
            TaskStatus::KilledOom => "killed_oom",
            TaskStatus::Lost => "lost",
            TaskStatus::Stopped => "stopped",
            TaskStatus::ShutOff => "shut_off",
            TaskStatus::Timeout => "timeout",
        }
    }

    /// Final states never change again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed
                | TaskStatus::Failed
                | TaskStatus::Killed
                | TaskStatus::KilledOom
                | TaskStatus::Lost
                | TaskStatus::Stopped
                | TaskStatus::Timeout
        )
    }

    /// Whether the task holds its node's resources (cores, memory, GPUs).
    pub fn holds_resources(self) -> bool {
        matches!(self, TaskStatus::Assigning | TaskStatus::Running | TaskStatus::Paused)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskStatus::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| format!("unknown task status {s:?}"))
    }
}

/// What applying a reported or requested status to a task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Move to the new status.
    Apply,
    /// Already there (a duplicate report): nothing to do.
    Same,
    /// Not allowed from the current status; the task keeps it.
    Refused,
}

/// The lifecycle, in one place:
/// pending → assigning → running ⇄ paused → completed | failed | killed | killed_oom | lost | timeout.
/// A VPS also goes running | paused → shut_off → pending (stopped, then started again).
/// A task can be killed or fail from any non-final state; final states are final.
pub fn transition(from: TaskStatus, to: TaskStatus) -> Transition {
    use TaskStatus::*;
    if from == to {
        return Transition::Same;
    }
    if from.is_final() {
        return Transition::Refused;
    }
    let allowed = match (from, to) {
        (_, Killed | Failed) => true,
        (Pending, Assigning) => true,
        (Assigning, Pending) => true, // dispatch refused by a busy runner: back in the queue
        (Assigning | Paused, Running) => true,
        (Running, Paused) => true,
        (Running | Paused, ShutOff) => true,
        (ShutOff, Pending) => true,
        (Assigning | Running | Paused, Completed | KilledOom | Lost | Stopped | Timeout) => true,
        _ => false,
    };
    if allowed {
        Transition::Apply
    } else {
        Transition::Refused
    }
}

/// The one way back from a final state: a VPS marked `lost` because its node went silent, whose
/// runner returns and reports its container still running. Its owner's machine kept running, so
/// the record follows it. Command tasks stay lost (their runner stops what it finds of them).
pub fn revives(task_type: TaskType, from: TaskStatus, to: TaskStatus) -> bool {
    task_type == TaskType::Vps && from == TaskStatus::Lost && to == TaskStatus::Running
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_lost_vps_comes_back() {
        assert!(revives(TaskType::Vps, TaskStatus::Lost, TaskStatus::Running));
        assert!(!revives(TaskType::Command, TaskStatus::Lost, TaskStatus::Running));
        assert!(!revives(TaskType::Vps, TaskStatus::Killed, TaskStatus::Running));
        assert!(!revives(TaskType::Vps, TaskStatus::Failed, TaskStatus::Running));
        assert!(!revives(TaskType::Vps, TaskStatus::Lost, TaskStatus::Completed));
    }

    use TaskStatus::*;

    #[test]
    fn final_states_are_final() {
        for from in TaskStatus::ALL.into_iter().filter(|s| s.is_final()) {
            for to in TaskStatus::ALL {
                let expected = if from == to { Transition::Same } else { Transition::Refused };
                assert_eq!(transition(from, to), expected, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn the_normal_lifecycle() {
        for (from, to) in [
            (Pending, Assigning),
            (Assigning, Running),
            (Running, Paused),
            (Paused, Running),
            (Running, Completed),
            (Running, KilledOom),
            (Pending, Killed),
            (Assigning, Killed),
            (Paused, Killed),
            (Assigning, Failed),
            (Running, Lost),
            (Running, ShutOff),
            (Paused, ShutOff),
            (ShutOff, Pending),
            (ShutOff, Killed),
            (Running, Timeout),
            (Paused, Timeout),
        ] {
            assert_eq!(transition(from, to), Transition::Apply, "{from} -> {to}");
        }
        assert!(!ShutOff.is_final() && !ShutOff.holds_resources(), "its disk stays; its cores do not");
        let refused =
            [(Pending, Running), (Pending, Completed), (Paused, Paused), (Running, Pending), (ShutOff, Running)];
        for (from, to) in refused {
            assert_ne!(transition(from, to), Transition::Apply, "{from} -> {to}");
        }
    }

    #[test]
    fn statuses_use_the_original_strings() {
        assert_eq!(serde_json::to_string(&KilledOom).unwrap(), "\"killed_oom\"");
        for s in TaskStatus::ALL {
            assert_eq!(s.as_str().parse::<TaskStatus>(), Ok(s));
        }
        assert!("done".parse::<TaskStatus>().is_err());
    }
}
