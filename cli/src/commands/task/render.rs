//! Text for people: submit answers, task tables and task details.

use hakuriver_model::task::SubmitResponse;
use hakuriver_model::{format_bytes, TaskView};

use crate::output::{Output, Tone};
use crate::table::{self, Cell};

pub fn render_submit(out: &Output, r: &SubmitResponse) -> String {
    let mut text = format!("{}\n", r.message);
    for id in &r.task_ids {
        text += &format!("  task {id}\n");
    }
    for f in &r.failed_targets {
        text += &format!("  {} {}: {}\n", out.paint("failed", Tone::Bad), f.target, f.reason);
    }
    text
}

/// The command line, shortened to `width` characters.
fn command_line(t: &TaskView, width: usize) -> String {
    let cmd = std::iter::once(t.command.as_str()).chain(t.arguments.iter().map(String::as_str)).collect::<Vec<_>>();
    let cmd = cmd.join(" ");
    if cmd.chars().count() > width {
        cmd.chars().take(width - 1).collect::<String>() + "…"
    } else {
        cmd
    }
}

pub fn render_list(out: &Output, tasks: &[TaskView]) -> String {
    if tasks.is_empty() {
        return "No tasks.\n".into();
    }
    let rows: Vec<Vec<Cell>> = tasks
        .iter()
        .map(|t| {
            vec![
                t.task_id.to_string().into(),
                t.name.clone().unwrap_or_else(|| "-".into()).into(),
                Cell::status(t.status),
                t.assigned_node.clone().unwrap_or_else(|| "-".into()).into(),
                t.required_cores.to_string().into(),
                t.exit_code.map_or("-".into(), |c| c.to_string()).into(),
                t.submitted_at.map_or("-".into(), |s| s.format(table::TIME).to_string()).into(),
                command_line(t, 40).into(),
                t.pending_reason.clone().unwrap_or_else(|| "-".into()).into(),
            ]
        })
        .collect();
    table::render(out, &["TASK", "NAME", "STATUS", "NODE", "CORES", "EXIT", "SUBMITTED", "COMMAND", "REASON"], &rows)
}

pub fn render_status(out: &Output, t: &TaskView) -> String {
    let mut text = format!("task {}: {}\n", out.paint(&t.task_id.to_string(), Tone::Bold), out.status(t.status));
    let line = |label: &str, value: String| format!("  {label:<11}{value}\n");
    if let Some(name) = &t.name {
        text += &line("name:", name.clone());
    }
    text += &line("command:", command_line(t, usize::MAX));
    if let Some(reason) = &t.pending_reason {
        text += &line("waiting:", reason.clone());
    }
    if !t.depends_on.is_empty() {
        let ids: Vec<String> = t.depends_on.iter().map(ToString::to_string).collect();
        text += &line("after:", format!("{} ({})", ids.join(", "), t.dependency.unwrap_or_default()));
    }
    if t.priority != 0 {
        text += &line("priority:", t.priority.to_string());
    }
    if t.retries > 0 || t.attempt > 1 {
        text += &line("attempt:", format!("{} of {}", t.attempt, t.retries + 1));
    }
    if let Some(limit) = t.time_limit_seconds {
        text += &line("time limit:", hakuriver_model::span::Span(limit).to_string());
    }
    if let Some(usage) = &t.usage {
        text += &line("usage:", usage.to_string());
    }
    text += &line("node:", t.assigned_node.clone().unwrap_or_else(|| "-".into()));
    if let Some(b) = t.batch_id.filter(|b| *b != t.task_id) {
        text += &line("batch:", b.to_string());
    }
    text += &line(
        "resources:",
        format!(
            "{} cores, memory {}{}",
            t.required_cores,
            t.required_memory_bytes.map_or("unlimited".into(), format_bytes),
            if t.required_gpus.is_empty() { String::new() } else { format!(", GPUs {:?}", t.required_gpus) }
        ),
    );
    match &t.image {
        Some(image) => text += &line("image:", image.clone()),
        None => text += &line("container:", t.container_name.clone().unwrap_or_else(|| "none".into())),
    }
    if let Some(p) = &t.progress {
        text += &line("now:", p.clone());
    }
    for (label, at) in [("submitted:", t.submitted_at), ("started:", t.started_at), ("ended:", t.completed_at)] {
        if let Some(at) = at {
            text += &line(label, at.format(table::TIME).to_string());
        }
    }
    if let Some(code) = t.exit_code {
        text += &line("exit:", code.to_string());
    }
    if let Some(m) = &t.error_message {
        text += &line("message:", m.clone());
    }
    if let Some(port) = t.ssh_port {
        text += &line("ssh port:", port.to_string());
    }
    if let Some(d) = t.log_bytes_dropped {
        let dropped =
            format!("{} of stdout, {} of stderr (paths.max_log_bytes)", format_bytes(d.stdout), format_bytes(d.stderr));
        text += &line("log dropped:", dropped);
    }
    text
}

/// One line for a task that ended while waiting.
pub fn render_ended(out: &Output, t: &TaskView) -> String {
    let exit = t.exit_code.map(|c| format!(" (exit {c})")).unwrap_or_default();
    let why = t.error_message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
    format!("task {}: {}{exit}{why}\n", t.task_id, out.status(t.status))
}
