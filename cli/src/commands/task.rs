//! `hakuriver task ...`: submit, watch and control command tasks.

use std::collections::BTreeMap;
use std::time::Duration;

use hakuriver_model::task::SubmitResponse;
use hakuriver_model::{parse_bytes, TaskRequest, TaskView};

use crate::table;

/// `KEY=VALUE` → `(KEY, VALUE)`.
pub fn parse_env(pairs: &[String]) -> Result<BTreeMap<String, String>, String> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("invalid --env {p:?}: expected KEY=VALUE")),
        })
        .collect()
}

/// Options of `task submit`, as typed.
pub struct SubmitArgs {
    pub targets: Vec<String>,
    pub cores: u32,
    pub memory: Option<String>,
    pub env: Vec<String>,
    pub container: Option<String>,
    pub privileged: bool,
    pub mounts: Vec<String>,
    pub no_queue: bool,
    pub command: Vec<String>,
}

pub fn request(a: SubmitArgs) -> Result<TaskRequest, String> {
    let (command, arguments) = a.command.split_first().ok_or("a command is required after --")?;
    let memory = a.memory.as_deref().map(parse_bytes).transpose().map_err(|e| format!("--memory: {e}"))?;
    Ok(TaskRequest {
        task_type: "command".into(),
        command: command.clone(),
        arguments: arguments.to_vec(),
        env_vars: parse_env(&a.env)?,
        required_cores: a.cores,
        required_gpus: None,
        required_memory_bytes: memory,
        targets: (!a.targets.is_empty()).then_some(a.targets),
        container_name: a.container,
        privileged: a.privileged.then_some(true),
        additional_mounts: (!a.mounts.is_empty()).then_some(a.mounts),
        queue: a.no_queue.then_some(false),
    })
}

pub fn render_submit(r: &SubmitResponse) -> String {
    let mut out = format!("{}\n", r.message);
    for id in &r.task_ids {
        out += &format!("  task {id}\n");
    }
    for f in &r.failed_targets {
        out += &format!("  failed {}: {}\n", f.target, f.reason);
    }
    out
}

pub fn render_list(tasks: &[TaskView]) -> String {
    if tasks.is_empty() {
        return "No tasks.\n".into();
    }
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let mut cmd = std::iter::once(t.command.as_str())
                .chain(t.arguments.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            if cmd.chars().count() > 50 {
                cmd = cmd.chars().take(49).collect::<String>() + "…";
            }
            vec![
                t.task_id.to_string(),
                t.status.to_string(),
                t.assigned_node.clone().unwrap_or_else(|| "-".into()),
                t.required_cores.to_string(),
                t.exit_code.map_or("-".into(), |c| c.to_string()),
                t.submitted_at.map_or("-".into(), |s| s.format("%Y-%m-%d %H:%M:%S").to_string()),
                cmd,
            ]
        })
        .collect();
    table::render(&["TASK", "STATUS", "NODE", "CORES", "EXIT", "SUBMITTED", "COMMAND"], &rows)
}

pub fn render_status(t: &TaskView) -> String {
    let mut out = format!("task {}: {}\n", t.task_id, t.status);
    out += &format!("  command:  {} {}\n", t.command, t.arguments.join(" "));
    out += &format!("  node:     {}\n", t.assigned_node.as_deref().unwrap_or("-"));
    if let Some(code) = t.exit_code {
        out += &format!("  exit:     {code}\n");
    }
    if let Some(m) = &t.error_message {
        out += &format!("  message:  {m}\n");
    }
    out
}

/// How often `--wait` and `logs -f` look again.
pub const POLL: Duration = Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use super::*;

    fn args(command: &[&str]) -> SubmitArgs {
        SubmitArgs {
            targets: vec!["n1:0".into()],
            cores: 2,
            memory: Some("4G".into()),
            env: vec!["A=1".into(), "B=x=y".into()],
            container: Some("NULL".into()),
            privileged: false,
            mounts: vec![],
            no_queue: true,
            command: command.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn builds_the_original_request() {
        let r = request(args(&["python", "train.py", "--lr", "0.1"])).unwrap();
        assert_eq!((r.command.as_str(), r.arguments.len()), ("python", 3));
        assert_eq!(r.required_memory_bytes, Some(4_000_000_000));
        assert_eq!(r.env_vars["B"], "x=y");
        assert_eq!(r.queue, Some(false));
        assert_eq!(r.privileged, None, "the host's default unless asked");
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(request(args(&[])).is_err());
        assert!(request(SubmitArgs { memory: Some("12Q".into()), ..args(&["x"]) }).unwrap_err().contains("--memory"));
        assert!(request(SubmitArgs { env: vec!["NOEQUALS".into()], ..args(&["x"]) }).is_err());
    }
}
