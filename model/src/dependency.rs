//! Task dependencies (`depends_on` with Slurm's afterok, afterany, afternotok): the one rule of
//! whether a dependent task may start, must wait, or can never start. Pure.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::TaskId;
use crate::lifecycle::TaskStatus;

crate::protocol::wire_words! {
    /// When a task with `depends_on` may start (Slurm's words).
    #[derive(Default)]
    Dependency {
        /// Once every parent has `completed`; a parent that ends otherwise fails it.
        #[default]
        AfterOk => "afterok",
        /// Once every parent has ended, however.
        AfterAny => "afterany",
        /// Once every parent has ended other than `completed`; a parent that completes fails it.
        AfterNotOk => "afternotok",
    }
}

/// What a dependent task's parents allow now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencyState {
    Ready,
    /// Waiting for this parent to end.
    Waiting(TaskId),
    /// Can never be met: this parent ended the wrong way (or is unknown).
    Never(TaskId, String),
}

/// Whether a task that depends on `parents` (each with its status, none: not stored) may start.
pub fn dependency_state(kind: Dependency, parents: &[(TaskId, Option<TaskStatus>)]) -> DependencyState {
    let mut waiting = None;
    for &(id, status) in parents {
        let Some(status) = status else {
            return DependencyState::Never(id, format!("its dependency task {id} does not exist"));
        };
        if !status.is_final() {
            waiting = waiting.or(Some(id));
            continue;
        }
        let ok = status == TaskStatus::Completed;
        match kind {
            Dependency::AfterOk if !ok => {
                return DependencyState::Never(id, format!("its dependency task {id} ended {status} (afterok)"))
            }
            Dependency::AfterNotOk if ok => {
                return DependencyState::Never(id, format!("its dependency task {id} completed (afternotok)"))
            }
            _ => {}
        }
    }
    waiting.map_or(DependencyState::Ready, DependencyState::Waiting)
}

/// Most parents one task may name.
pub const MAX_DEPENDENCIES: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;
    use TaskStatus::*;

    #[test]
    fn dependencies_wait_start_or_never_start() {
        let (a, b) = (TaskId(1), TaskId(2));
        let state = |kind, pa, pb| dependency_state(kind, &[(a, Some(pa)), (b, pb)]);
        use Dependency::*;
        assert_eq!(state(AfterOk, Completed, Some(Running)), DependencyState::Waiting(b));
        assert_eq!(state(AfterOk, Completed, Some(Completed)), DependencyState::Ready);
        assert!(
            matches!(state(AfterOk, Failed, Some(Running)), DependencyState::Never(id, m) if id == a && m.contains("ended failed"))
        );
        assert!(matches!(state(AfterOk, Completed, Some(Timeout)), DependencyState::Never(id, _) if id == b));
        assert_eq!(state(AfterAny, Killed, Some(Completed)), DependencyState::Ready);
        assert_eq!(state(AfterAny, Killed, Some(Pending)), DependencyState::Waiting(b));
        assert_eq!(state(AfterNotOk, Failed, Some(Lost)), DependencyState::Ready);
        assert!(
            matches!(state(AfterNotOk, Failed, Some(Completed)), DependencyState::Never(id, m) if id == b && m.contains("afternotok"))
        );
        assert!(matches!(state(AfterAny, Completed, None), DependencyState::Never(id, _) if id == b));
        assert_eq!(dependency_state(AfterOk, &[]), DependencyState::Ready);
        assert_eq!(serde_json::to_string(&AfterNotOk).unwrap(), "\"afternotok\"");
    }
}
