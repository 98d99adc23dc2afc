//! Usage accounting, like Slurm's `sacct` and `sreport`: what each task used (`TaskUsage`, in
//! its JSON once it ended), what its runner measured (`MeasuredUsage`, sent with the final
//! report), and the cluster's usage per user or node over a window (`UsageReport`,
//! `GET /api/usage`), summed by the pure `summarize`.
//!
//! Core-hours and GPU-hours are what was *held* (cores or GPUs × time), as Slurm bills them; CPU
//! seconds and peak memory are what the task's cgroup measured.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a runner measured of a task that ended: its cgroup's CPU time and peak memory (a
/// container's are sampled while it runs, so its last second may be missing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeasuredUsage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_bytes: Option<u64>,
}

/// What a task used, in its JSON once it ran and ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskUsage {
    /// From its start to its end.
    pub wall_seconds: f64,
    /// CPU time of all its processes (none: not measured, e.g. its runner predates accounting).
    pub cpu_seconds: Option<f64>,
    pub max_memory_bytes: Option<u64>,
    /// GPUs held × wall seconds.
    pub gpu_seconds: f64,
}

impl TaskUsage {
    /// The usage of a task that ran from `started_ms` to `ended_ms` holding `gpus` GPUs.
    pub fn of(started_ms: i64, ended_ms: i64, gpus: usize, measured: MeasuredUsage) -> TaskUsage {
        let wall_seconds = (ended_ms - started_ms).max(0) as f64 / 1000.0;
        TaskUsage {
            wall_seconds,
            cpu_seconds: measured.cpu_seconds,
            max_memory_bytes: measured.max_memory_bytes,
            gpu_seconds: wall_seconds * gpus as f64,
        }
    }
}

impl fmt::Display for TaskUsage {
    /// `wall 2.0 min, CPU 1.5 min, peak memory 41.0 MB` (and GPU time when it held any).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wall {}", hours_text(self.wall_seconds / 3600.0))?;
        if let Some(cpu) = self.cpu_seconds {
            write!(f, ", CPU {}", hours_text(cpu / 3600.0))?;
        }
        if let Some(bytes) = self.max_memory_bytes {
            write!(f, ", peak memory {}", crate::format_bytes(bytes))?;
        }
        if self.gpu_seconds > 0.0 {
            write!(f, ", GPU {}", hours_text(self.gpu_seconds / 3600.0))?;
        }
        Ok(())
    }
}

/// How `GET /api/usage` groups: by the task's owner or by its node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum UsageBy {
    #[default]
    User,
    Node,
}

impl FromStr for UsageBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "user" => Ok(UsageBy::User),
            "node" => Ok(UsageBy::Node),
            other => Err(format!("by must be user or node, not {other:?}")),
        }
    }
}

impl fmt::Display for UsageBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UsageBy::User => "user",
            UsageBy::Node => "node",
        })
    }
}

/// `GET /api/usage`'s query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct UsageQuery {
    /// Where the window starts: a span back from now (`7d`, `12h`, `1d12h`) or a UTC date
    /// (`2026-11-01`). Default 7d.
    #[serde(default)]
    pub since: Option<String>,
    /// `user` (default) or `node`.
    #[serde(default)]
    pub by: Option<String>,
}

/// The default window of a usage report.
pub const DEFAULT_SINCE: &str = "7d";

/// The start of a window (ms since the epoch) from `since` (see `UsageQuery`), at `now_ms`.
pub fn window_start(since: &str, now_ms: i64) -> Result<i64, String> {
    if let Ok(date) = chrono::NaiveDate::parse_from_str(since, "%Y-%m-%d") {
        let start = date.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis()).unwrap_or(now_ms);
        return if start <= now_ms { Ok(start) } else { Err(format!("since {since} is in the future")) };
    }
    let span: crate::span::Span =
        since.parse().map_err(|e| format!("since must be a span (7d, 12h) or a date (2026-11-01): {e}"))?;
    let back = i64::try_from(span.0).unwrap_or(i64::MAX / 1000).saturating_mul(1000);
    Ok(now_ms.saturating_sub(back))
}

/// The group a task without an owner (authentication off) or node is counted under.
pub const NOBODY: &str = "(none)";

/// One task as the report sums it.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRecord {
    pub owner: Option<String>,
    pub node: Option<String>,
    pub cores: u32,
    pub gpus: u32,
    pub started_ms: i64,
    /// None: still running.
    pub ended_ms: Option<i64>,
    pub cpu_seconds: Option<f64>,
}

/// One group's usage over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageRow {
    /// The user (token name) or node.
    pub name: String,
    /// Tasks that ran in the window (ended in it or still running).
    pub tasks: u64,
    /// Of them, still running.
    pub running: u64,
    /// Cores held × hours, within the window.
    pub core_hours: f64,
    /// CPU time measured, the part within the window.
    pub cpu_hours: f64,
    /// GPUs held × hours, within the window.
    pub gpu_hours: f64,
}

/// `GET /api/usage`: usage per user or node from `since` to `until` (ms since the epoch), most
/// core-hours first, and the total.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageReport {
    pub by: UsageBy,
    pub since_ms: i64,
    pub until_ms: i64,
    pub rows: Vec<UsageRow>,
    pub total: UsageRow,
}

/// An amount of hours as people read it: `12.50 h`, `3.5 min`, `42 s`.
pub fn hours_text(hours: f64) -> String {
    let hours = if hours.is_finite() { hours.max(0.0) } else { 0.0 };
    if hours >= 1.0 {
        format!("{hours:.2} h")
    } else if hours * 60.0 >= 1.0 {
        format!("{:.1} min", hours * 60.0)
    } else {
        format!("{:.0} s", hours * 3600.0)
    }
}

/// Sums `records` per group over the window `[since_ms, until_ms]`: each task counts for the part
/// of its run inside the window (its measured CPU time in the same proportion).
pub fn summarize(records: &[UsageRecord], by: UsageBy, since_ms: i64, until_ms: i64) -> UsageReport {
    let mut groups: BTreeMap<String, UsageRow> = BTreeMap::new();
    let mut total = UsageRow { name: "total".into(), ..UsageRow::default() };
    for r in records {
        let end = r.ended_ms.unwrap_or(until_ms).min(until_ms);
        let start = r.started_ms.max(since_ms);
        if end < start || r.ended_ms.is_some_and(|e| e < since_ms) {
            continue;
        }
        let inside_hours = (end - start) as f64 / 3_600_000.0;
        let whole = r.ended_ms.unwrap_or(until_ms) - r.started_ms;
        let share = if whole > 0 { (end - start) as f64 / whole as f64 } else { 1.0 };
        let key = match by {
            UsageBy::User => r.owner.clone(),
            UsageBy::Node => r.node.clone(),
        }
        .unwrap_or_else(|| NOBODY.to_string());
        let row = groups.entry(key.clone()).or_insert_with(|| UsageRow { name: key, ..UsageRow::default() });
        for row in [row, &mut total] {
            row.tasks += 1;
            row.running += u64::from(r.ended_ms.is_none());
            row.core_hours += f64::from(r.cores) * inside_hours;
            row.cpu_hours += r.cpu_seconds.unwrap_or(0.0) * share / 3600.0;
            row.gpu_hours += f64::from(r.gpus) * inside_hours;
        }
    }
    let mut rows: Vec<UsageRow> = groups.into_values().collect();
    rows.sort_by(|a, b| {
        b.core_hours.total_cmp(&a.core_hours).then(b.gpu_hours.total_cmp(&a.gpu_hours)).then(a.name.cmp(&b.name))
    });
    UsageReport { by, since_ms, until_ms, rows, total }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn run(owner: &str, node: &str, cores: u32, gpus: u32, started: i64, ended: Option<i64>) -> UsageRecord {
        UsageRecord {
            owner: Some(owner.into()),
            node: Some(node.into()),
            cores,
            gpus,
            started_ms: started,
            ended_ms: ended,
            cpu_seconds: ended.map(|e| (e - started) as f64 / 1000.0 * f64::from(cores)),
        }
    }

    #[test]
    fn a_task_counts_for_its_part_inside_the_window() {
        let records = [
            run("alice", "n1", 4, 1, 0, Some(2 * HOUR)),        // half inside [1h, 10h]
            run("alice", "n2", 2, 0, 2 * HOUR, Some(3 * HOUR)), // whole
            run("bob", "n1", 1, 2, 9 * HOUR, None),             // running: 1 h so far
            run("carol", "n1", 8, 0, 0, Some(HOUR / 2)),        // before the window
        ];
        let report = summarize(&records, UsageBy::User, HOUR, 10 * HOUR);
        let names: Vec<&str> = report.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["alice", "bob"], "most core-hours first; carol's task ended before");
        let alice = &report.rows[0];
        assert_eq!((alice.tasks, alice.running), (2, 0));
        assert!((alice.core_hours - 6.0).abs() < 1e-9, "4 × 1 h + 2 × 1 h: {alice:?}");
        assert!((alice.cpu_hours - 6.0).abs() < 1e-9, "the CPU time in the same share: {alice:?}");
        assert!((alice.gpu_hours - 1.0).abs() < 1e-9);
        let bob = &report.rows[1];
        assert_eq!((bob.tasks, bob.running), (1, 1));
        assert!((bob.gpu_hours - 2.0).abs() < 1e-9 && bob.cpu_hours == 0.0);
        assert_eq!(report.total.tasks, 3);
        assert!((report.total.core_hours - 7.0).abs() < 1e-9);
    }

    #[test]
    fn by_node_and_tasks_without_an_owner() {
        let mut records = vec![run("alice", "n1", 1, 0, 0, Some(HOUR)), run("bob", "n2", 3, 0, 0, Some(HOUR))];
        records[0].owner = None;
        let by_user = summarize(&records, UsageBy::User, 0, HOUR);
        assert!(by_user.rows.iter().any(|r| r.name == NOBODY));
        let by_node = summarize(&records, UsageBy::Node, 0, HOUR);
        assert_eq!(by_node.rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec!["n2", "n1"]);
        assert_eq!("node".parse::<UsageBy>(), Ok(UsageBy::Node));
        assert!("team".parse::<UsageBy>().is_err());
    }

    #[test]
    fn hours_as_people_read_them() {
        assert_eq!(hours_text(12.5), "12.50 h");
        assert_eq!(hours_text(0.5), "30.0 min");
        assert_eq!(hours_text(0.01), "36 s");
        assert_eq!(hours_text(f64::NAN), "0 s");
    }

    #[test]
    fn windows_from_spans_and_dates() {
        let now = 1_800_000_000_000;
        assert_eq!(window_start("7d", now), Ok(now - 7 * 24 * HOUR));
        assert_eq!(window_start("12h", now), Ok(now - 12 * HOUR));
        assert_eq!(window_start("2026-11-01", now), Ok(1_793_491_200_000));
        assert!(window_start("2030-01-01", 1_700_000_000_000).unwrap_err().contains("future"));
        assert!(window_start("7", now).is_err(), "a bare number is refused, as for --time");
        assert!(window_start("yesterday", now).unwrap_err().contains("span"));
    }

    #[test]
    fn a_tasks_usage_from_its_times() {
        let u = TaskUsage::of(1_000, 11_000, 2, MeasuredUsage { cpu_seconds: Some(9.5), max_memory_bytes: Some(7) });
        assert_eq!(
            u,
            TaskUsage { wall_seconds: 10.0, cpu_seconds: Some(9.5), max_memory_bytes: Some(7), gpu_seconds: 20.0 }
        );
        assert_eq!(u.to_string(), "wall 10 s, CPU 10 s, peak memory 7 B, GPU 20 s");
        let unmeasured = TaskUsage::of(0, 120_000, 0, MeasuredUsage::default());
        assert_eq!(unmeasured.to_string(), "wall 2.0 min");
    }
}
