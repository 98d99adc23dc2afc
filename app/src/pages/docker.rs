//! Docker environments: the host's env containers (create, start, stop, delete, terminal, and
//! packing one into a tarball with live progress), the tarballs in shared storage, and which
//! runner has which version.

use std::collections::BTreeMap;

use hakuriver_model::auth::Role;
use hakuriver_model::env::{EnvContainer, EnvVersions, TarballList};
use hakuriver_model::operation::{Operation, OperationState};
use hakuriver_model::task::is_valid_env_name;
use hakuriver_model::EnvAction;
use leptos::prelude::*;

use crate::server_fns::{
    create_env, create_tar, env_action, env_containers, get_operation, list_env_versions, tarballs,
};
use crate::terminal::TerminalView;

/// Unix seconds as the pages show times.
fn unix_time(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default()
}

#[component]
pub fn DockerPage() -> impl IntoView {
    // Bumped after every change, so the lists load again.
    let version = RwSignal::new(0u64);
    let terminal = RwSignal::new(None::<String>);
    // Create-tar operations by environment: they outlive the rows, which reload when one ends.
    let ops = RwSignal::new(BTreeMap::<String, Operation>::new());
    view! {
        <h1>"Docker Environments"</h1>
        {crate::session::may(Role::Operator).then(|| view! { <CreateEnv version/> })}
        <h2>"Host containers"</h2>
        <Containers version terminal ops/>
        {move || terminal.get().map(|name| view! {
            <section class="panel terminal-panel" aria-label="Environment terminal">
                <header class="buttons">
                    <h2>"Terminal: "<span class="mono">{name.clone()}</span></h2>
                    <button type="button" on:click=move |_| terminal.set(None)>"Close terminal"</button>
                </header>
                <TerminalView path=crate::base::href(&format!("/api/docker/host/containers/{name}/terminal")) label=format!("Terminal of {name}")/>
            </section>
        })}
        <h2>"Tarballs in shared storage"</h2>
        <Tarballs version/>
        <h2>"Versions on the runners"</h2>
        <Versions version/>
    }
}

#[component]
fn CreateEnv(version: RwSignal<u64>) -> impl IntoView {
    let image = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let create = Action::new(|(image, name): &(String, String)| create_env(image.clone(), name.clone()));
    Effect::new(move |_| match create.value().get() {
        Some(Ok(_)) => {
            error.set(None);
            version.update(|v| *v += 1);
        }
        Some(Err(e)) => error.set(Some(e.to_string())),
        None => {}
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (i, n) = (image.get_untracked().trim().to_string(), name.get_untracked().trim().to_string());
        if i.is_empty() {
            error.set(Some("give the image to start from (a local image: no registry is needed)".into()));
        } else if !is_valid_env_name(&n) {
            error.set(Some(format!("{n:?}: use lowercase letters, digits, '.', '_' or '-'")));
        } else {
            error.set(None);
            create.dispatch((i, n));
        }
    };
    view! {
        <details class="panel" data-testid="create-env">
            <summary>"Create an environment container"</summary>
            <form on:submit=on_submit class="row" novalidate>
                <div class="field">
                    <label for="e-image">"Image"</label>
                    <input id="e-image" placeholder="python:3.12-slim" prop:value=image on:input=move |ev| image.set(event_target_value(&ev))/>
                </div>
                <div class="field">
                    <label for="e-name">"Environment name"</label>
                    <input id="e-name" placeholder="my-env" prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                </div>
                <div class="buttons">
                    <button type="submit" class="primary" disabled=move || create.pending().get()>"Create"</button>
                    {move || error.get().map(|e| view! { <span class="field-error" role="alert">{e}</span> })}
                </div>
            </form>
        </details>
    }
}

#[component]
fn Containers(
    version: RwSignal<u64>,
    terminal: RwSignal<Option<String>>,
    ops: RwSignal<BTreeMap<String, Operation>>,
) -> impl IntoView {
    let list = Resource::new(move || version.get(), |_| env_containers());
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(list) if list.is_empty() => view! {
                        <p class="empty" data-testid="no-envs">"No environment containers. Create one above, or import a tar: "<code>"hakuriver docker tar import FILE NAME"</code></p>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap">
                            <table data-testid="env-table">
                                <thead><tr><th>"Name"</th><th>"Image"</th><th>"Status"</th><th>"Actions"</th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|c| view! { <ContainerRow c version terminal ops/> }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ContainerRow(
    c: EnvContainer,
    version: RwSignal<u64>,
    terminal: RwSignal<Option<String>>,
    ops: RwSignal<BTreeMap<String, Operation>>,
) -> impl IntoView {
    let name = c.name.clone();
    let running = c.status == "running";
    let message = RwSignal::new(None::<String>);
    let confirm_delete = RwSignal::new(false);
    let act = Action::new(move |(name, action): &(String, EnvAction)| env_action(name.clone(), *action));
    Effect::new(move |_| {
        if let Some(result) = act.value().get() {
            match result {
                Ok(_) => version.update(|v| *v += 1),
                Err(e) => message.set(Some(e.to_string())),
            }
        }
    });
    let op = {
        let name = name.clone();
        Memo::new(move |_| ops.with(|m| m.get(&name).cloned()))
    };
    let start_tar = {
        let name = name.clone();
        move |_| {
            let name = name.clone();
            leptos::task::spawn_local(async move {
                match create_tar(name.clone()).await {
                    Ok(id) => watch_operation(id, name, ops, version),
                    Err(e) => message.set(Some(e.to_string())),
                }
            });
        }
    };
    let n = StoredValue::new(name.clone());
    let button = move |action: EnvAction, label: &'static str| {
        view! { <button type="button" class=format!("action-{action}") on:click=move |_| { act.dispatch((n.get_value(), action)); }>{label}</button> }
    };
    view! {
        <tr data-env=name.clone() data-status=c.status.clone()>
            <td class="mono">{name.clone()}</td>
            <td class="mono">{c.image.clone()}</td>
            <td>{c.status.clone()}</td>
            <td>
                <span class="actions" hidden=!crate::session::may(Role::Operator)>
                    {(!running).then(|| button(EnvAction::Start, "Start"))}
                    {running.then(|| button(EnvAction::Stop, "Stop"))}
                    {(running && crate::session::may(Role::Admin)).then(|| view! {
                        <button type="button" class="action-terminal" on:click=move |_| terminal.set(Some(n.get_value()))>"Terminal"</button>
                    })}
                    <button type="button" class="action-create-tar" on:click=start_tar
                        disabled=move || op.with(|o| o.as_ref().is_some_and(|o| o.state == OperationState::Running))>"Create tarball"</button>
                    {move || if confirm_delete.get() {
                        view! {
                            <span class="confirm" role="group" aria-label="Confirm">"delete? "
                                <button type="button" class="danger" on:click=move |_| { act.dispatch((n.get_value(), EnvAction::Delete)); }>"Yes"</button>
                                <button type="button" on:click=move |_| confirm_delete.set(false)>"No"</button>
                            </span>
                        }.into_any()
                    } else {
                        view! { <button type="button" class="action-delete" on:click=move |_| confirm_delete.set(true)>"Delete"</button> }.into_any()
                    }}
                </span>
                {move || op.get().map(|o| view! { <OperationProgress op=o/> })}
                {move || message.get().map(|m| view! { <span class="field-error" role="alert">{m}</span> })}
            </td>
        </tr>
    }
}

/// Follows operation `id` on env `name` into `ops` until it ends; then the lists reload.
fn watch_operation(id: u64, name: String, ops: RwSignal<BTreeMap<String, Operation>>, version: RwSignal<u64>) {
    follow_operation(id, move |o| {
        let done = o.state != OperationState::Running;
        ops.update(|m| {
            m.insert(name.clone(), o);
        });
        if done {
            version.update(|v| *v += 1);
        }
    });
}

/// Polls operation `id` twice a second in the browser, handing `seen` each state, until it ends.
pub(crate) fn follow_operation(id: u64, seen: impl Fn(Operation) + 'static) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        loop {
            match get_operation(id).await {
                Ok(o) => {
                    let done = o.state != OperationState::Running;
                    seen(o);
                    if done {
                        return;
                    }
                }
                Err(_) => return,
            }
            gloo_sleep(500).await;
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (id, seen, get_operation);
}

/// Waits `ms` milliseconds in the browser.
#[cfg(feature = "hydrate")]
async fn gloo_sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

#[component]
pub(crate) fn OperationProgress(op: Operation) -> impl IntoView {
    let text = match op.state {
        OperationState::Running => match op.percent {
            Some(p) => format!("{}: {p:.0} %", op.phase),
            None => format!("{}…", op.phase),
        },
        OperationState::Succeeded => "Tarball saved.".to_string(),
        OperationState::Failed => format!("Failed: {}", op.error.clone().unwrap_or_default()),
        OperationState::Cancelled => "Cancelled.".to_string(),
    };
    let state = format!("{:?}", op.state).to_lowercase();
    view! {
        <div class="operation" data-testid="operation" data-state=state role="status">
            {(op.state == OperationState::Running).then(|| match op.percent {
                Some(p) => view! { <progress max="100" value=p></progress> }.into_any(),
                None => view! { <progress></progress> }.into_any(),
            })}
            <span>{text}</span>
        </div>
    }
}

#[component]
fn Tarballs(version: RwSignal<u64>) -> impl IntoView {
    let list = Resource::new(move || version.get(), |_| tarballs());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let list: TarballList = list.await.unwrap_or_default();
                if list.is_empty() {
                    return view! { <p class="empty">"No tarballs yet."</p> }.into_any();
                }
                view! {
                    <div class="table-wrap"><table data-testid="tarball-table">
                        <thead><tr><th>"Environment"</th><th>"Newest"</th><th>"File"</th><th>"Versions"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|(env, t)| view! {
                                <tr data-env=env.clone()>
                                    <td class="mono">{env.clone()}</td>
                                    <td>{unix_time(t.latest_timestamp)}</td>
                                    <td class="mono">{t.latest_tarball.clone()}</td>
                                    <td>{t.all_versions.len()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any()
            })}
        </Transition>
    }
}

#[component]
fn Versions(version: RwSignal<u64>) -> impl IntoView {
    let list = Resource::new(move || version.get(), |_| list_env_versions());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let list: BTreeMap<String, EnvVersions> = list.await.unwrap_or_default();
                if list.is_empty() {
                    return view! { <p class="empty">"No runner has loaded an environment yet."</p> }.into_any();
                }
                view! {
                    <div class="table-wrap"><table data-testid="versions-table">
                        <thead><tr><th>"Environment"</th><th>"Runner"</th><th>"Image made"</th><th>"State"</th></tr></thead>
                        <tbody>
                            {list.into_iter().flat_map(|(env, v)| {
                                let mut rows = Vec::new();
                                for (node, n) in v.nodes {
                                    let state = if n.current { "current" } else { "older than the newest tarball" };
                                    rows.push((env.clone(), node, unix_time(n.image_created), state.to_string()));
                                }
                                for (node, p) in v.loading {
                                    let state = match p.total_bytes {
                                        Some(t) if t > 0 => format!("loading {:.0} %", 100.0 * p.bytes as f64 / t as f64),
                                        _ => "loading".into(),
                                    };
                                    rows.push((env.clone(), node, String::new(), state));
                                }
                                rows
                            }).map(|(env, node, made, state)| view! {
                                <tr><td class="mono">{env}</td><td>{node}</td><td>{made}</td><td>{state}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any()
            })}
        </Transition>
    }
}
