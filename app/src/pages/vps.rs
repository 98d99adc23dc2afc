//! VPS tasks: the live list with the `ssh -J` line ready to copy, the create form (a public key
//! pasted or read from a `.pub` file), actions, and a web terminal into a running VPS.

use hakuriver_model::api::FieldError;
use hakuriver_model::task::TaskQuery;
use hakuriver_model::TaskType;
use hakuriver_model::{TaskId, TaskRequest, TaskStatus, TaskView};
use leptos::prelude::*;

use super::task_widgets::{EnvPicker, NodePicker, StatusBadge, TaskActions};
use super::FieldMessage;
use crate::format;
use crate::live::LiveCluster;
use crate::server_fns::{list_tasks, save_vps, ssh_proxy_port, submit_task};
use crate::task_form::VpsForm;
use crate::task_list::merge;
use crate::terminal::TerminalView;

/// The host name the browser reached the dashboard at (the SSH proxy is on the same host).
fn page_host() -> String {
    #[cfg(feature = "ssr")]
    let host = use_context::<http::request::Parts>()
        .and_then(|p| p.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).map(str::to_string))
        .unwrap_or_default();
    #[cfg(not(feature = "ssr"))]
    let host = window().location().host().unwrap_or_default();
    host_without_port(&host)
}

/// `host[:port]` or `[v6]:port` → the host as ssh writes it.
fn host_without_port(host: &str) -> String {
    if let Some(end) = host.find(']') {
        return host[..=end].to_string();
    }
    host.split(':').next().unwrap_or_default().to_string()
}

/// The stock OpenSSH way in (the same line `hakuriver ssh --print` gives).
pub fn ssh_command(host: &str, port: u16, id: TaskId) -> String {
    format!("ssh -J hakuriver@{host}:{port} root@vps-{id}")
}

#[component]
pub fn VpsPage() -> impl IntoView {
    let terminal = RwSignal::new(None::<TaskId>);
    view! {
        <h1>"VPS Tasks"</h1>
        {crate::session::may(hakuriver_model::auth::Role::User).then(|| view! { <CreateVps/> })}
        <VpsList terminal/>
        {move || terminal.get().map(|id| view! {
            <section class="panel terminal-panel" aria-label="VPS terminal">
                <header class="buttons">
                    <h2>"Terminal: VPS "<span class="mono">{id.to_string()}</span></h2>
                    <button type="button" on:click=move |_| terminal.set(None)>"Close terminal"</button>
                </header>
                <TerminalView path=crate::base::href(&format!("/api/tasks/{id}/terminal")) label=format!("Terminal of VPS {id}")/>
            </section>
        })}
    }
}

fn vps_query() -> TaskQuery {
    TaskQuery {
        task_type: Some(TaskType::Vps.as_str().into()),
        status: Some("pending,assigning,running,paused,shut_off".into()),
        limit: Some(200),
        ..Default::default()
    }
}

#[component]
fn VpsList(terminal: RwSignal<Option<TaskId>>) -> impl IntoView {
    let live = expect_context::<LiveCluster>();
    let page = Resource::new(move || live.epoch.get(), |_| list_tasks(vps_query()));
    let port = Resource::new(|| (), |_| ssh_proxy_port());
    let host = page_host();
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                let host = host.clone();
                Suspend::new(async move {
                    let port = port.await.unwrap_or(8002);
                    match page.await {
                        Ok(page) => {
                            let rows = Memo::new(move |_| live.tasks.with(|l| merge(&page.tasks, l, &vps_query())));
                            view! { <VpsTable rows host port terminal/> }.into_any()
                        }
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

#[component]
fn VpsTable(rows: Memo<Vec<TaskView>>, host: String, port: u16, terminal: RwSignal<Option<TaskId>>) -> impl IntoView {
    let host = StoredValue::new(host);
    view! {
        <Show
            when=move || rows.with(|r| !r.is_empty())
            fallback=|| view! { <p class="empty" data-testid="no-vps">"No VPS is running. Create one above."</p> }
        >
            <div class="table-wrap">
                <table class="vps" data-testid="vps-table">
                    <thead>
                        <tr>
                            <th>"Task"</th>
                            <th>"Status"</th>
                            <th>"Node"</th>
                            <th>"Resources"</th>
                            <th>"Submitted"</th>
                            <th>"SSH"</th>
                            <th>"Actions"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || rows.get() key=|t| (t.task_id, t.status, t.ssh_port) let:task>
                            <VpsRow task host=host.get_value() port terminal/>
                        </For>
                    </tbody>
                </table>
            </div>
        </Show>
    }
}

#[component]
fn VpsRow(task: TaskView, host: String, port: u16, terminal: RwSignal<Option<TaskId>>) -> impl IntoView {
    let id = task.task_id;
    let status = task.status;
    let running = status == TaskStatus::Running;
    let mut resources = vec![format!("{} cores", task.required_cores)];
    if let Some(m) = task.required_memory_bytes {
        resources.push(format::bytes(Some(m)));
    }
    if !task.required_gpus.is_empty() {
        let ids: Vec<String> = task.required_gpus.iter().map(u32::to_string).collect();
        resources.push(format!("GPUs {}", ids.join(",")));
    }
    let command = ssh_command(&host, port, id);
    view! {
        <tr data-task=id.to_string() data-status=status.as_str()>
            <td class="mono">{id.to_string()}</td>
            <td><StatusBadge status/></td>
            <td>{task.assigned_node.clone().unwrap_or_else(|| "–".into())}</td>
            <td>{resources.join(" · ")}</td>
            <td>{format::time(task.submitted_at)}</td>
            <td>
                {if running {
                    view! { <CopyLine text=command label=format!("SSH command for VPS {id}")/> }.into_any()
                } else {
                    view! { <span class="muted">"when running"</span> }.into_any()
                }}
                {task.ssh_port.filter(|_| running).map(|p| view! { <div class="muted">{format!("sshd on port {p} of its node")}</div> })}
            </td>
            <td>
                <TaskActions id status owner=task.owner.clone() vps=true/>
                {(matches!(status, TaskStatus::Running | TaskStatus::Paused | TaskStatus::ShutOff)
                    && crate::session::may(hakuriver_model::auth::Role::Operator))
                .then(|| view! { <SaveVps id/> })}
                {(running && crate::session::may(hakuriver_model::auth::Role::Admin)).then(|| view! {
                    <button type="button" class="action-terminal" on:click=move |_| terminal.set(Some(id))>"Terminal"</button>
                })}
            </td>
        </tr>
    }
}

/// "Save as environment": a name, then the save's progress (a long operation on the host).
#[component]
fn SaveVps(id: TaskId) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let op = RwSignal::new(None::<hakuriver_model::operation::Operation>);
    let message = RwSignal::new(None::<String>);
    let field = format!("save-{id}");
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let env = name.get_untracked().trim().to_string();
        if !hakuriver_model::task::is_valid_env_name(&env) {
            message.set(Some(format!("{env:?} is not an environment name: lowercase letters, digits, '.', '_', '-'")));
            return;
        }
        message.set(None);
        leptos::task::spawn_local(async move {
            match save_vps(id, env).await {
                Ok(started) => super::docker::follow_operation(started, move |o| op.set(Some(o))),
                Err(e) => message.set(Some(e.to_string())),
            }
        });
    };
    view! {
        <details class="save-vps">
            <summary>"Save as environment"</summary>
            <form on:submit=save>
                <label for=field.clone()>"Environment name"</label>
                <input id=field type="text" placeholder="my-box" autocomplete="off"
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                <button type="submit">"Save"</button>
            </form>
            {move || op.get().map(|o| view! { <super::docker::OperationProgress op=o/> })}
            {move || message.get().map(|m| view! { <span class="field-error" role="alert">{m}</span> })}
        </details>
    }
}

/// A read-only line with a Copy button (the clipboard API where the page is a secure context;
/// the text is selectable everywhere).
#[component]
pub fn CopyLine(text: String, label: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let value = text.clone();
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let clipboard = window().navigator().clipboard();
            let promise = clipboard.write_text(&value);
            leptos::task::spawn_local(async move {
                copied.set(wasm_bindgen_futures::JsFuture::from(promise).await.is_ok());
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &value;
    };
    view! {
        <span class="copy-line">
            <input class="mono" readonly value=text.clone() size=text.len().min(60) aria-label=label
                on:focus=move |ev| {
                    #[cfg(feature = "hydrate")]
                    {
                        use wasm_bindgen::JsCast;
                        if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                            input.select();
                        }
                    }
                    #[cfg(not(feature = "hydrate"))]
                    let _ = ev;
                }/>
            <button type="button" on:click=copy>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
        </span>
    }
}

#[component]
fn CreateVps() -> impl IntoView {
    let form = RwSignal::new(VpsForm::default());
    let error = RwSignal::new(None::<FieldError>);
    let done = RwSignal::new(None::<String>);
    let submit = Action::new(|request: &TaskRequest| submit_task(request.clone()));
    Effect::new(move |_| match submit.value().get() {
        Some(Ok(Ok(answer))) => {
            let id = answer.task_ids.first().map(ToString::to_string).unwrap_or_default();
            let port = answer.runner_response.as_ref().and_then(|r| r["ssh_port"].as_u64());
            done.set(Some(match port {
                Some(p) => format!("VPS {id} is running (sshd on port {p} of its node)."),
                None => format!("VPS {id} is starting."),
            }));
            error.set(None);
        }
        Some(Ok(Err(e))) => error.set(Some(e)),
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
    let read_file = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let file = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                .and_then(|input| input.files())
                .and_then(|files| files.get(0));
            if let Some(file) = file {
                leptos::task::spawn_local(async move {
                    match wasm_bindgen_futures::JsFuture::from(file.text()).await.ok().and_then(|t| t.as_string()) {
                        Some(text) => form.update(|f| f.public_key = text.trim().to_string()),
                        None => error
                            .set(Some(FieldError { field: "command".into(), message: "cannot read that file".into() })),
                    }
                });
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };
    view! {
        <details class="panel" data-testid="create-vps">
            <summary>"Create a VPS"</summary>
            <form on:submit=on_submit novalidate>
                <div class="field">
                    <label for="v-key">"SSH public key (root logs in with it; no passwords)"</label>
                    <textarea id="v-key" rows="3" placeholder="ssh-ed25519 AAAA… you@laptop"
                        prop:value=move || form.get().public_key
                        on:input=move |ev| form.update(|f| f.public_key = event_target_value(&ev))></textarea>
                    <label for="v-key-file" class="muted">"or read it from a file (.pub): "
                        <input id="v-key-file" type="file" accept=".pub,.txt,text/plain" on:change=read_file/>
                    </label>
                    <FieldMessage field="command" error/>
                </div>
                <div class="row">
                    <div class="field">
                        <label for="v-cores">"CPU cores (0: no reservation)"</label>
                        <input id="v-cores" inputmode="numeric" size="6" prop:value=move || form.get().cores
                            on:input=move |ev| form.update(|f| f.cores = event_target_value(&ev))/>
                        <FieldMessage field="required_cores" error/>
                    </div>
                    <div class="field">
                        <label for="v-memory">"Memory limit"</label>
                        <input id="v-memory" size="10" prop:value=move || form.get().memory
                            on:input=move |ev| form.update(|f| f.memory = event_target_value(&ev))/>
                        <FieldMessage field="required_memory_bytes" error/>
                    </div>
                    <div class="field">
                        <label for="v-time">"Time limit (e.g. 7d; empty: your default)"</label>
                        <input id="v-time" size="8" prop:value=move || form.get().time_limit
                            on:input=move |ev| form.update(|f| f.time_limit = event_target_value(&ev))/>
                        <FieldMessage field="time_limit_seconds" error/>
                    </div>
                    <EnvPicker id="v-env-name" form_container=Callback::new(move |v| form.update(|f| f.container = v)) allow_null=false/>
                </div>
                <FieldMessage field="container_name" error/>
                <fieldset class="field">
                    <legend>"Node (none: the host places it)"</legend>
                    <NodePicker multiple=false on_change=Callback::new(move |picked: Vec<_>| form.update(|f| f.target = picked.into_iter().next()))/>
                    <FieldMessage field="targets" error/>
                </fieldset>
                <div class="buttons">
                    <button type="submit" class="primary" disabled=move || submit.pending().get()>"Create VPS"</button>
                    <FieldMessage field="" error/>
                    {move || done.get().map(|m| view! { <span class="ok" role="status" data-testid="vps-result">{m}</span> })}
                </div>
            </form>
        </details>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ssh_line_uses_the_pages_host() {
        assert_eq!(host_without_port("10.0.0.1:8000"), "10.0.0.1");
        assert_eq!(host_without_port("[fd00::1]:8000"), "[fd00::1]");
        assert_eq!(host_without_port("cluster.lab"), "cluster.lab");
        assert_eq!(ssh_command("10.0.0.1", 8002, TaskId(42)), "ssh -J hakuriver@10.0.0.1:8002 root@vps-42");
    }
}
