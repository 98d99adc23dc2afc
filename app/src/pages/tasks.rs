//! Command tasks: the filtered, paginated list (server-rendered, kept live by task events), the
//! submit form, and the detail panel with live log tails and kill/pause/resume.
//!
//! Filters, the page cursor and the selected task live in the URL (`/tasks?status=running&task=ID`),
//! so reading works without JavaScript (a plain GET form and links); actions need hydration.

use hakuriver_model::api::FieldError;
use hakuriver_model::auth::Role;
use hakuriver_model::task::TaskQuery;
use hakuriver_model::{TaskId, TaskStatus, TaskView};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::task_widgets::{EnvPicker, NodePicker, StatusBadge, TaskActions};
use super::FieldMessage;
use crate::format;
use crate::live::LiveCluster;
use crate::server_fns::{get_task, list_tasks, read_log, submit_task};
use crate::task_form::TaskForm;
use crate::task_list::merge;
use crate::terminal::TerminalView;

/// Rows per page.
const PAGE: u32 = 50;

/// The list query in the URL: `status`, `node`, `batch`, `q`, `cursor`.
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
    view! {
        <tr data-task=id.to_string() data-status=status.as_str() class:selected=move || selected.get() == Some(id)>
            <td><a href=href class="mono">{id.to_string()}</a></td>
            <td class="command" title=command_line(&task, 10_000)>{command_line(&task, 50)}</td>
            <td>
                <StatusBadge status/>
                {suspicious.then(|| view! { <span title="the runner has not confirmed this task">" (?)"</span> })}
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
                                            <dt>"Command"</dt><dd class="mono">{command_line(&t, 10_000)}</dd>
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

/// The submit form: targets picked per node (NUMA node or GPUs), environment, limits, variables,
/// mounts. Checked in the browser with the host's own rules; the host's answer shows inline.
#[component]
fn SubmitTask() -> impl IntoView {
    let form = RwSignal::new(TaskForm { cores: "1".into(), ..Default::default() });
    let error = RwSignal::new(None::<FieldError>);
    let done = RwSignal::new(None::<String>);
    let submit = Action::new(|request: &hakuriver_model::TaskRequest| submit_task(request.clone()));
    Effect::new(move |_| match submit.value().get() {
        Some(Ok(Ok(answer))) => {
            let ids: Vec<String> = answer.task_ids.iter().map(ToString::to_string).collect();
            done.set(Some(format!("{} Task ids: {}", answer.message, ids.join(", "))));
            error.set(None);
        }
        Some(Ok(Err(field_error))) => error.set(Some(field_error)),
        Some(Err(e)) => error.set(Some(FieldError { field: String::new(), message: e.to_string() })),
        None => {}
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        done.set(None);
        match form.get_untracked().request() {
            Ok(request) => {
                error.set(None);
                submit.dispatch(request);
            }
            Err(e) => error.set(Some(e)),
        }
    };
    let text = |get: fn(&TaskForm) -> String, set: fn(&mut TaskForm, String)| {
        (move || get(&form.get()), move |ev| form.update(|f| set(f, event_target_value(&ev))))
    };
    let (command, set_command) = text(|f| f.command.clone(), |f, v| f.command = v);
    let (arguments, set_arguments) = text(|f| f.arguments.clone(), |f, v| f.arguments = v);
    let (env_vars, set_env_vars) = text(|f| f.env_vars.clone(), |f, v| f.env_vars = v);
    let (cores, set_cores) = text(|f| f.cores.clone(), |f, v| f.cores = v);
    let (memory, set_memory) = text(|f| f.memory.clone(), |f, v| f.memory = v);
    let (mounts, set_mounts) = text(|f| f.mounts.clone(), |f, v| f.mounts = v);
    // Only what the host's [policy] lets this role ask for (the host checks again).
    let allowed = crate::session::allowed();
    let mount_hint = if allowed.any_mount {
        "Extra mounts (host:container[:ro] per line; replaces the defaults)".to_string()
    } else {
        format!("Extra mounts (host:container[:ro] per line) of: {}", allowed.mounts.join(", "))
    };
    let offer_mounts = allowed.any_mount || !allowed.mounts.is_empty();
    view! {
        <details class="panel" data-testid="submit-task">
            <summary>"Submit a task"</summary>
            <form on:submit=on_submit novalidate>
                <div class="field">
                    <label for="t-command">"Command"</label>
                    <input id="t-command" name="command" prop:value=command on:input=set_command required/>
                    <FieldMessage field="command" error/>
                </div>
                <div class="field">
                    <label for="t-arguments">"Arguments (one per line)"</label>
                    <textarea id="t-arguments" rows="3" prop:value=arguments on:input=set_arguments></textarea>
                    <FieldMessage field="arguments" error/>
                </div>
                <div class="field">
                    <label for="t-env">"Environment variables (KEY=VALUE per line)"</label>
                    <textarea id="t-env" rows="2" prop:value=env_vars on:input=set_env_vars></textarea>
                    <FieldMessage field="env_vars" error/>
                </div>
                <div class="row">
                    <div class="field">
                        <label for="t-cores">"CPU cores"</label>
                        <input id="t-cores" inputmode="numeric" size="6" prop:value=cores on:input=set_cores/>
                        <FieldMessage field="required_cores" error/>
                    </div>
                    <div class="field">
                        <label for="t-memory">"Memory limit (e.g. 512M, 4G)"</label>
                        <input id="t-memory" size="10" prop:value=memory on:input=set_memory/>
                        <FieldMessage field="required_memory_bytes" error/>
                    </div>
                    <EnvPicker id="t-env-name" form_container=Callback::new(move |v| form.update(|f| f.container = v)) allow_null=allowed.native/>
                </div>
                <FieldMessage field="container_name" error/>
                <fieldset class="field">
                    <legend>"Targets (none: the host places the task)"</legend>
                    <NodePicker multiple=true on_change=Callback::new(move |picked| form.update(|f| f.targets = picked))/>
                    <FieldMessage field="targets" error/>
                </fieldset>
                {offer_mounts.then(|| view! {
                    <div class="field">
                        <label for="t-mounts">{mount_hint}</label>
                        <textarea id="t-mounts" rows="2" prop:value=mounts on:input=set_mounts></textarea>
                        <FieldMessage field="additional_mounts" error/>
                    </div>
                })}
                {allowed.privileged.then(|| view! {
                    <label class="check">
                        <input type="checkbox" data-testid="privileged" prop:checked=move || form.get().privileged
                            on:change=move |ev| form.update(|f| f.privileged = event_target_checked(&ev))/>
                        " Privileged container"
                    </label>
                })}
                <FieldMessage field="privileged" error/>
                <div class="buttons">
                    <button type="submit" class="primary" disabled=move || submit.pending().get()>"Submit"</button>
                    <FieldMessage field="" error/>
                    {move || done.get().map(|m| view! { <span class="ok" role="status" data-testid="submit-result">{m}</span> })}
                </div>
            </form>
        </details>
    }
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
