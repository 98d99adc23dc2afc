//! Command tasks: the filtered, paginated list (server-rendered, kept live by task events), the
//! submit form, and the detail panel with live log tails and kill/pause/resume.
//!
//! Filters, the page cursor and the selected task live in the URL (`/tasks?status=running&task=ID`),
//! so reading works without JavaScript (a plain GET form and links); actions need hydration.

use hakuriver_model::auth::Role;
use hakuriver_model::task::TaskQuery;
use hakuriver_model::{TaskId, TaskStatus, TaskView};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::task_submit::SubmitTask;
use super::task_widgets::{StatusBadge, TaskActions};
use crate::format;
use crate::live::LiveCluster;
use crate::server_fns::{get_task, list_tasks, read_log};
use crate::task_list::merge;
use crate::terminal::TerminalView;

/// Rows per page.
const PAGE: u32 = 50;

/// The list query in the URL: `status`, `node`, `batch`, `q`, `name`, `cursor`.
fn query_from_url(task_type: &'static str) -> Memo<TaskQuery> {
    let params = use_query_map();
    Memo::new(move |_| {
        let p = params.get();
        let get = |k: &str| p.get(k).filter(|v| !v.is_empty());
        TaskQuery {
            task_type: Some(task_type.to_string()),
            status: get("status"),
            node: get("node"),
            batch: get("batch"),
            q: get("q"),
            name: get("name"),
            cursor: get("cursor"),
            limit: Some(PAGE),
        }
    })
}

/// `/tasks?...` with `key` set to `value` (or removed), other parameters kept.
pub(super) fn url_with(
    path: &str,
    query: &TaskQuery,
    selected: Option<TaskId>,
    key: &str,
    value: Option<String>,
) -> String {
    let mut pairs: Vec<(&str, String)> = [
        ("status", query.status.clone()),
        ("node", query.node.clone()),
        ("batch", query.batch.clone()),
        ("q", query.q.clone()),
        ("name", query.name.clone()),
        ("cursor", query.cursor.clone()),
        ("task", selected.map(|t| t.to_string())),
    ]
    .into_iter()
    .filter(|(k, _)| *k != key)
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    if let Some(v) = value {
        pairs.push((key, v));
    }
    if pairs.is_empty() {
        return path.to_string();
    }
    let encoded: Vec<String> =
        pairs.iter().map(|(k, v)| format!("{k}={}", hakuriver_model::text::percent_encode(v))).collect();
    format!("{path}?{}", encoded.join("&"))
}

fn selected_task() -> Memo<Option<TaskId>> {
    let params = use_query_map();
    Memo::new(move |_| params.get().get("task").and_then(|t| t.parse().ok()))
}

#[component]
pub fn TasksPage() -> impl IntoView {
    let query = query_from_url("command");
    let selected = selected_task();
    view! {
        <h1>"Command Tasks"</h1>
        {crate::session::may(Role::User).then(|| view! { <SubmitTask/> })}
        <Filters query/>
        <TaskList query selected/>
        <TaskDetail selected query/>
    }
}

/// A GET form: filtering works without JavaScript.
#[component]
fn Filters(query: Memo<TaskQuery>) -> impl IntoView {
    let q = query.get_untracked();
    let status = q.status.clone().unwrap_or_default();
    let statuses = TaskStatus::ALL.map(|s| s.as_str());
    view! {
        <form class="filters" method="get" action=crate::base::href("/tasks") role="search" aria-label="Filter tasks">
            <label>"Status "
                <select name="status">
                    <option value="" selected=status.is_empty()>"any"</option>
                    {statuses.into_iter().map(|s| {
                        let is = status == s;
                        view! { <option value=s selected=is>{s}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>"Node "<input name="node" value=q.node.clone().unwrap_or_default() size="12"/></label>
            <label>"Batch "<input name="batch" value=q.batch.clone().unwrap_or_default() size="20"/></label>
            <label>"Text "<input name="q" type="search" value=q.q.clone().unwrap_or_default() size="16"/></label>
            <label>"Name "<input name="name" value=q.name.clone().unwrap_or_default() size="14"/></label>
            <button type="submit">"Filter"</button>
            <a href=crate::base::href("/tasks")>"Clear"</a>
        </form>
    }
}

#[component]
fn TaskList(query: Memo<TaskQuery>, selected: Memo<Option<TaskId>>) -> impl IntoView {
    let live = expect_context::<LiveCluster>();
    let page = Resource::new(move || (query.get(), live.epoch.get()), |(q, _)| list_tasks(q));
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(page) => {
                        let q = query.get_untracked();
                        let rows = Memo::new(move |_| live.tasks.with(|l| merge(&page.tasks, l, &q)));
                        let next = page.next_cursor;
                        view! { <TaskTable rows query selected next/> }.into_any()
                    }
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn TaskTable(
    rows: Memo<Vec<TaskView>>,
    query: Memo<TaskQuery>,
    selected: Memo<Option<TaskId>>,
    next: Option<TaskId>,
) -> impl IntoView {
    let older =
        move || next.map(|c| url_with(&crate::base::href("/tasks"), &query.get(), None, "cursor", Some(c.to_string())));
    let newest = move || {
        query.get().cursor.is_some().then(|| url_with(&crate::base::href("/tasks"), &query.get(), None, "cursor", None))
    };
    view! {
        <Show
            when=move || rows.with(|r| !r.is_empty())
            fallback=|| view! { <p class="empty" data-testid="no-tasks">"No tasks match."</p> }
        >
            <div class="table-wrap">
                <table class="tasks" data-testid="tasks-table">
                    <thead>
                        <tr>
                            <th>"Task"</th>
                            <th>"Name"</th>
                            <th>"Command"</th>
                            <th>"Status"</th>
                            <th>"Node"</th>
                            <th>"Cores"</th>
                            <th>"GPUs"</th>
                            <th>"Submitted"</th>
                            <th>"Actions"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || rows.get() key=|t| (t.task_id, t.status) let:task>
                            <TaskRow task query selected/>
                        </For>
                    </tbody>
                </table>
            </div>
        </Show>
        <nav class="pager" aria-label="Pages">
            {move || newest().map(|href| view! { <a href=href>"← Newest"</a> })}
            {move || older().map(|href| view! { <a href=href data-testid="older">"Older →"</a> })}
        </nav>
    }
}

/// The command and its arguments on one line, cut to `max` characters.
fn command_line(t: &TaskView, max: usize) -> String {
    let full =
        std::iter::once(t.command.as_str()).chain(t.arguments.iter().map(String::as_str)).collect::<Vec<_>>().join(" ");
    if full.chars().count() > max {
        full.chars().take(max - 1).collect::<String>() + "…"
    } else {
        full
    }
}

#[component]
fn TaskRow(task: TaskView, query: Memo<TaskQuery>, selected: Memo<Option<TaskId>>) -> impl IntoView {
    let id = task.task_id;
    let href = move || url_with(&crate::base::href("/tasks"), &query.get(), None, "task", Some(id.to_string()));
    let status = task.status;
    let gpus = if task.required_gpus.is_empty() {
        "–".to_string()
    } else {
        task.required_gpus.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
    };
    let suspicious = task.assignment_suspicion_count > 0;
    let reason = task.pending_reason.clone();
    view! {
        <tr data-task=id.to_string() data-status=status.as_str() class:selected=move || selected.get() == Some(id)>
            <td><a href=href class="mono">{id.to_string()}</a></td>
            <td>{task.name.clone().unwrap_or_default()}</td>
            <td class="command" title=command_line(&task, 10_000)>{command_line(&task, 50)}</td>
            <td>
                <StatusBadge status/>
                {suspicious.then(|| view! { <span title="the runner has not confirmed this task">" (?)"</span> })}
                {reason.map(|r| view! { <div class="reason" data-testid="pending-reason">{r}</div> })}
            </td>
            <td>{task.assigned_node.clone().unwrap_or_else(|| "–".into())}</td>
            <td>{task.required_cores}</td>
            <td>{gpus}</td>
            <td>{format::time(task.submitted_at)}</td>
            <td><TaskActions id status owner=task.owner.clone()/></td>
        </tr>
    }
}

/// The panel of the task in `?task=ID`: every field, live log tails, actions.
#[component]
fn TaskDetail(selected: Memo<Option<TaskId>>, query: Memo<TaskQuery>) -> impl IntoView {
    let live = expect_context::<LiveCluster>();
    let task = Resource::new(
        move || selected.get(),
        |id| async move {
            match id {
                Some(id) => get_task(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let close = move || url_with(&crate::base::href("/tasks"), &query.get(), None, "task", None);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match task.await {
                    Ok(Some(loaded)) => {
                        let id = loaded.task_id;
                        let current = Memo::new(move |_| live.tasks.with(|l| l.get(&id).cloned()).unwrap_or_else(|| loaded.clone()));
                        let terminal = RwSignal::new(false);
                        view! {
                            <aside class="detail" aria-label="Task details" data-testid="task-detail">
                                <header>
                                    <h2>"Task "<span class="mono">{id.to_string()}</span></h2>
                                    <a href=close aria-label="Close details">"✕"</a>
                                </header>
                                {move || {
                                    let t = current.get();
                                    let shell = t.status == TaskStatus::Running
                                        && t.container_name.as_deref() != Some(hakuriver_model::task::NO_CONTAINER)
                                        && crate::session::may(hakuriver_model::auth::Role::Admin);
                                    view! {
                                        <p>
                                            <StatusBadge status=t.status/>" "<TaskActions id status=t.status owner=t.owner.clone()/>
                                            {shell.then(|| view! {
                                                <button type="button" class="action-terminal" on:click=move |_| terminal.update(|o| *o = !*o)>
                                                    {move || if terminal.get() { "Close terminal" } else { "Terminal" }}
                                                </button>
                                            })}
                                        </p>
                                        {(shell && terminal.get()).then(|| view! {
                                            <TerminalView path=crate::base::href(&format!("/api/tasks/{id}/terminal")) label=format!("Terminal of task {id}")/>
                                        })}
                                        <dl class="fields">
                                            {t.name.clone().map(|n| view! { <dt>"Name"</dt><dd>{n}</dd> })}
                                            <dt>"Command"</dt><dd class="mono">{command_line(&t, 10_000)}</dd>
                                            {t.pending_reason.clone().map(|r| view! { <dt>"Waiting"</dt><dd data-testid="detail-pending-reason">{r}</dd> })}
                                            {(!t.depends_on.is_empty()).then(|| {
                                                let ids: Vec<String> = t.depends_on.iter().map(ToString::to_string).collect();
                                                let kind = t.dependency.unwrap_or_default();
                                                view! { <dt>"After"</dt><dd class="mono">{format!("{} ({kind})", ids.join(", "))}</dd> }
                                            })}
                                            {(t.retries > 0 || t.attempt > 1).then(|| view! {
                                                <dt>"Attempt"</dt><dd data-testid="task-attempt">{format!("{} of {}", t.attempt, t.retries + 1)}</dd>
                                            })}
                                            {(t.priority != 0).then(|| view! { <dt>"Priority"</dt><dd>{t.priority}</dd> })}
                                            <dt>"Time limit"</dt><dd>{t.time_limit_seconds.map_or("none".to_string(), |s| hakuriver_model::span::Span(s).to_string())}</dd>
                                            {t.usage.map(|u| view! { <dt>"Usage"</dt><dd data-testid="task-usage">{u.to_string()}</dd> })}
                                            <dt>"Node"</dt><dd>{t.assigned_node.clone().unwrap_or_else(|| "–".into())}</dd>
                                            <dt>"Batch"</dt><dd class="mono">{t.batch_id.map(|b| b.to_string()).unwrap_or_default()}</dd>
                                            <dt>{if t.image.is_some() { "Image" } else { "Environment" }}</dt><dd>{t.container_name.clone().unwrap_or_default()}</dd>
                                            {t.progress.clone().map(|p| view! { <dt>"Now"</dt><dd data-testid="task-progress">{p}</dd> })}
                                            <dt>"Cores"</dt><dd>{t.required_cores}</dd>
                                            <dt>"Memory"</dt><dd>{format::bytes(t.required_memory_bytes)}</dd>
                                            <dt>"GPUs"</dt><dd>{format!("{:?}", t.required_gpus)}</dd>
                                            <dt>"NUMA node"</dt><dd>{t.target_numa_node_id.map_or("whole node".to_string(), |n| n.to_string())}</dd>
                                            <dt>"Exit code"</dt><dd>{t.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "–".into())}</dd>
                                            <dt>"Message"</dt><dd>{t.error_message.clone().unwrap_or_default()}</dd>
                                            {t.log_bytes_dropped.map(|d| view! {
                                                <dt>"Log dropped"</dt>
                                                <dd>{format!("{} of stdout, {} of stderr past paths.max_log_bytes", format::bytes(Some(d.stdout)), format::bytes(Some(d.stderr)))}</dd>
                                            })}
                                            <dt>"Submitted"</dt><dd>{format::time(t.submitted_at)}</dd>
                                            <dt>"Started"</dt><dd>{format::time(t.started_at)}</dd>
                                            <dt>"Completed"</dt><dd>{format::time(t.completed_at)}</dd>
                                        </dl>
                                    }
                                }}
                                <LogTail id stdout=true current/>
                                <LogTail id stdout=false current/>
                            </aside>
                        }.into_any()
                    }
                    Ok(None) => ().into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The end of a task's stdout or stderr; in the browser it keeps reading what is appended, once
/// a second, until the task has ended and nothing more comes.
#[component]
fn LogTail(id: TaskId, stdout: bool, current: Memo<TaskView>) -> impl IntoView {
    let name = if stdout { "stdout" } else { "stderr" };
    let first = Resource::new(move || (), move |_| read_log(id, stdout, None));
    view! {
        <section class="log">
            <h3>{name}</h3>
            <Suspense fallback=|| view! { <pre>"…"</pre> }>
                {move || Suspend::new(async move {
                    match first.await {
                        Ok(chunk) => {
                            let text = RwSignal::new(chunk.text);
                            let offset = RwSignal::new(chunk.next_offset);
                            follow(id, stdout, current, text, offset);
                            view! { <pre data-testid=format!("log-{name}")>{move || text.get()}</pre> }.into_any()
                        }
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Polls for appended output while the task may still write (browser only).
fn follow(id: TaskId, stdout: bool, current: Memo<TaskView>, text: RwSignal<String>, offset: RwSignal<u64>) {
    #[cfg(feature = "hydrate")]
    {
        use std::time::Duration;
        /// Most text kept in the panel.
        const KEEP: usize = 256 * 1024;
        let handle = set_interval_with_handle(
            move || {
                let Some(from) = offset.try_get_untracked() else { return };
                leptos::task::spawn_local(async move {
                    if let Ok(chunk) = read_log(id, stdout, Some(from)).await {
                        if !chunk.text.is_empty() {
                            text.update(|t| {
                                t.push_str(&chunk.text);
                                if t.len() > KEEP {
                                    let cut = t.len() - KEEP;
                                    let cut = (cut..t.len()).find(|i| t.is_char_boundary(*i)).unwrap_or(t.len());
                                    t.drain(..cut);
                                }
                            });
                        }
                        offset.set(chunk.next_offset);
                    }
                });
            },
            Duration::from_secs(1),
        );
        if let Ok(handle) = handle {
            // Stop once the task is over and a last read had its chance.
            Effect::new(move |_| {
                if current.get().status.is_final() {
                    set_timeout(move || handle.clear(), Duration::from_millis(2500));
                }
            });
            on_cleanup(move || handle.clear());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (id, stdout, current, text, offset);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_other_filters() {
        let q = TaskQuery { status: Some("running".into()), q: Some("a b&c".into()), ..Default::default() };
        assert_eq!(url_with("/tasks", &q, None, "task", Some("7".into())), "/tasks?status=running&q=a%20b%26c&task=7");
        assert_eq!(url_with("/tasks", &TaskQuery::default(), Some(TaskId(7)), "task", None), "/tasks");
        assert_eq!(
            url_with("/tasks", &q, None, "cursor", Some("9".into())),
            "/tasks?status=running&q=a%20b%26c&cursor=9"
        );
    }
}
