//! The task list a page shows: the page it loaded with the live updates laid over it. Pure.

use std::collections::BTreeMap;

use hakuriver_model::task::TaskQuery;
use hakuriver_model::{TaskId, TaskStatus, TaskType, TaskView};

/// Whether `task` belongs in a list loaded with `query` (the host's filters, client side).
pub fn matches(query: &TaskQuery, task: &TaskView) -> bool {
    let task_type = query.task_type.as_deref().unwrap_or(TaskType::Command.as_str());
    if task.task_type.as_str() != task_type {
        return false;
    }
    if let Some(statuses) = query.status.as_deref().filter(|s| !s.is_empty()) {
        if !statuses.split(',').filter_map(|s| s.parse::<TaskStatus>().ok()).any(|s| s == task.status) {
            return false;
        }
    }
    if let Some(node) = query.node.as_deref().filter(|n| !n.is_empty()) {
        if task.assigned_node.as_deref() != Some(node) {
            return false;
        }
    }
    if let Some(batch) = query.batch.as_deref().filter(|b| !b.is_empty()) {
        if task.batch_id.map(|b| b.to_string()).as_deref() != Some(batch) {
            return false;
        }
    }
    if let Some(name) = query.name.as_deref().filter(|n| !n.is_empty()) {
        if task.name.as_deref() != Some(name) {
            return false;
        }
    }
    if let Some(text) = query.q.as_deref().filter(|q| !q.is_empty()) {
        if !task.command.contains(text) && !task.arguments.iter().any(|a| a.contains(text)) {
            return false;
        }
    }
    true
}

/// The loaded page with each task replaced by its newest live version; on the first page
/// (no cursor), tasks that appeared since and match the query come first. Newest first, at most
/// `limit` (the page size) plus what is new.
pub fn merge(loaded: &[TaskView], live: &BTreeMap<TaskId, TaskView>, query: &TaskQuery) -> Vec<TaskView> {
    let mut rows: Vec<TaskView> = loaded.iter().map(|t| live.get(&t.task_id).unwrap_or(t).clone()).collect();
    // A task whose new status no longer matches the filter stays until the next load: rows do not
    // jump away under the pointer.
    let first_page = query.cursor.as_deref().is_none_or(str::is_empty);
    if first_page {
        let newest = loaded.first().map(|t| t.task_id);
        let mut fresh: Vec<TaskView> = live
            .values()
            .rev()
            .filter(|t| newest.is_none_or(|n| t.task_id > n) && matches(query, t))
            .cloned()
            .collect();
        fresh.append(&mut rows);
        rows = fresh;
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: u64, status: TaskStatus, command: &str) -> TaskView {
        serde_json::from_value(serde_json::json!({
            "task_id": id.to_string(), "batch_id": id.to_string(), "task_type": "command", "command": command,
            "arguments": [], "env_vars": {}, "required_cores": 1, "required_gpus": [],
            "required_memory_bytes": null, "status": status, "assigned_node": "n1", "target_numa_node_id": null,
            "stdout_path": "", "stderr_path": "", "exit_code": null, "error_message": null, "submitted_at": null,
            "started_at": null, "completed_at": null, "systemd_unit_name": "", "assignment_suspicion_count": 0,
            "container_name": null, "privileged": false, "additional_mounts": [], "ssh_port": null
        }))
        .unwrap()
    }

    #[test]
    fn filters_match_like_the_host() {
        let t = task(5, TaskStatus::Running, "python train.py");
        assert!(matches(&TaskQuery::default(), &t));
        assert!(matches(&TaskQuery { status: Some("pending,running".into()), ..Default::default() }, &t));
        assert!(!matches(&TaskQuery { status: Some("completed".into()), ..Default::default() }, &t));
        assert!(!matches(&TaskQuery { node: Some("n2".into()), ..Default::default() }, &t));
        assert!(matches(&TaskQuery { q: Some("train".into()), ..Default::default() }, &t));
        assert!(!matches(&TaskQuery { task_type: Some("vps".into()), ..Default::default() }, &t));
        assert!(matches(&TaskQuery { batch: Some("5".into()), ..Default::default() }, &t));
    }

    #[test]
    fn live_updates_replace_rows_and_new_tasks_lead_the_first_page() {
        let loaded = vec![task(2, TaskStatus::Running, "a"), task(1, TaskStatus::Pending, "b")];
        let mut live = BTreeMap::new();
        live.insert(TaskId(1), task(1, TaskStatus::Running, "b"));
        live.insert(TaskId(3), task(3, TaskStatus::Pending, "c"));
        live.insert(TaskId(4), task(4, TaskStatus::Pending, "other"));
        let q = TaskQuery { q: Some("c".into()), ..Default::default() };
        let rows = merge(&loaded, &live, &q);
        let ids: Vec<u64> = rows.iter().map(|t| t.task_id.0).collect();
        assert_eq!(ids, [3, 2, 1], "task 4 does not match the filter");
        assert_eq!(rows[2].status, TaskStatus::Running);
        let older = TaskQuery { cursor: Some("9".into()), ..Default::default() };
        assert_eq!(merge(&loaded, &live, &older).len(), 2, "later pages get no new rows");
    }
}
