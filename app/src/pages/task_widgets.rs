//! Task widgets the task and VPS pages share: the status badge, the actions (kill, pause,
//! resume, a VPS's stop and start) with their confirmation, and the environment and node pickers
//! of the submit forms.

use hakuriver_model::{ControlCommand, NodeInfo, NodeStatus, TaskId, TaskStatus};
use leptos::prelude::*;

use crate::live::LiveCluster;
use crate::server_fns::{env_names, list_nodes, task_action};
use crate::task_form::{PickedNode, DEFAULT_ENV};

#[component]
pub fn StatusBadge(status: TaskStatus) -> impl IntoView {
    let s = status.as_str();
    view! { <span class=format!("badge badge-{s}")>{s}</span> }
}

/// Kill (any unfinished task), pause (running) and resume (paused), each asking once to confirm;
/// offered only to who may control the task (its owner, operators, admins).
#[component]
pub fn TaskActions(
    id: TaskId,
    status: TaskStatus,
    owner: Option<String>,
    /// A VPS: also stop (its disk kept) and start.
    #[prop(optional)]
    vps: bool,
) -> impl IntoView {
    if !crate::session::may_control(owner.as_deref()) {
        return view! { <span class="actions muted" title="only its owner, operators and admins control this task">"–"</span> }.into_any();
    }
    let confirm = RwSignal::new(None::<ControlCommand>);
    let message = RwSignal::new(None::<String>);
    let act = Action::new(move |action: &ControlCommand| task_action(id, *action));
    Effect::new(move |_| {
        if let Some(result) = act.value().get() {
            message.set(Some(match result {
                Ok(m) => m,
                Err(e) => format!("Failed: {e}"),
            }));
            confirm.set(None);
        }
    });
    let button = move |action: ControlCommand, label: &'static str| {
        view! {
            <button type="button" class=format!("action action-{action}") on:click=move |_| confirm.set(Some(action))
                disabled=move || act.pending().get()>{label}</button>
        }
    };
    view! {
        <span class="actions">
            {move || match confirm.get() {
                Some(action) => view! {
                    <span class="confirm" role="group" aria-label="Confirm">
                        {format!("{action} task?")}" "
                        <button type="button" class="danger" data-confirm=action.as_str()
                            on:click=move |_| { act.dispatch(action); }>"Yes"</button>
                        <button type="button" on:click=move |_| confirm.set(None)>"No"</button>
                    </span>
                }.into_any(),
                None => view! {
                    <span>
                        {(status == TaskStatus::Running).then(|| button(ControlCommand::Pause, "Pause"))}
                        {(status == TaskStatus::Paused).then(|| button(ControlCommand::Resume, "Resume"))}
                        {(vps && matches!(status, TaskStatus::Running | TaskStatus::Paused)).then(|| button(ControlCommand::Stop, "Stop"))}
                        {(vps && status == TaskStatus::ShutOff).then(|| button(ControlCommand::Start, "Start"))}
                        {(!status.is_final()).then(|| button(ControlCommand::Kill, "Kill"))}
                    </span>
                }.into_any(),
            }}
            {move || message.get().map(|m| view! { <span class="action-message" role="status">{m}</span> })}
        </span>
    }
    .into_any()
}

/// The environment select: the host default, environments with a tarball (newest first), and
/// optionally `NULL` (no container).
#[component]
pub fn EnvPicker(id: &'static str, form_container: Callback<String>, allow_null: bool) -> impl IntoView {
    let envs = Resource::new(|| (), |_| env_names());
    view! {
        <div class="field">
            <label for=id>"Environment"</label>
            <select id=id on:change=move |ev| form_container.run(event_target_value(&ev))>
                <option value=DEFAULT_ENV>"host default"</option>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        envs.await.unwrap_or_default().into_iter()
                            .map(|e| view! { <option value=e.clone()>{e.clone()}</option> })
                            .collect_view()
                    })}
                </Suspense>
                {allow_null.then(|| view! { <option value="NULL">"none (run natively)"</option> })}
            </select>
        </div>
    }
}

/// Nodes to run on: per online node a checkbox, and either one of its NUMA nodes or some of its
/// GPUs. `multiple = false` allows one node (a VPS).
#[component]
pub fn NodePicker(multiple: bool, on_change: Callback<Vec<PickedNode>>) -> impl IntoView {
    let live = expect_context::<LiveCluster>();
    let loaded = Resource::new(|| (), |_| list_nodes());
    let picked = RwSignal::new(Vec::<PickedNode>::new());
    Effect::new(move |_| on_change.run(picked.get()));
    let nodes = move |initial: Vec<NodeInfo>| {
        Signal::derive(move || {
            live.nodes
                .get()
                .unwrap_or_else(|| initial.clone())
                .into_iter()
                .filter(|n| n.status == NodeStatus::Online)
                .collect::<Vec<_>>()
        })
    };
    view! {
        <Suspense fallback=|| view! { <p>"Loading nodes…"</p> }>
            {move || Suspend::new(async move {
                let online = nodes(loaded.await.unwrap_or_default());
                view! {
                    <Show when=move || online.with(|n| !n.is_empty()) fallback=|| view! { <p class="empty">"No node is online."</p> }>
                        <div class="node-picker">
                            <For each=move || online.get() key=|n| n.hostname.clone() let:node>
                                <NodeChoice node picked multiple/>
                            </For>
                        </div>
                    </Show>
                }
            })}
        </Suspense>
    }
}

#[component]
fn NodeChoice(node: NodeInfo, picked: RwSignal<Vec<PickedNode>>, multiple: bool) -> impl IntoView {
    let name = node.hostname.clone();
    let is_picked = {
        let name = name.clone();
        Memo::new(move |_| picked.with(|p| p.iter().any(|t| t.node == name)))
    };
    let edit = {
        let name = name.clone();
        move |f: &dyn Fn(&mut PickedNode)| {
            picked.update(|p| {
                if let Some(t) = p.iter_mut().find(|t| t.node == name) {
                    f(t);
                }
            })
        }
    };
    let toggle = {
        let name = name.clone();
        move |ev| {
            let on = event_target_checked(&ev);
            picked.update(|p| {
                p.retain(|t| t.node != name && multiple);
                if on {
                    p.push(PickedNode { node: name.clone(), ..Default::default() });
                }
            })
        }
    };
    let numa_ids: Vec<u32> = node.numa_topology.as_ref().map(|t| t.keys().copied().collect()).unwrap_or_default();
    let gpus = node.gpu_info.clone();
    let set_numa = edit.clone();
    view! {
        <div class="node-choice" data-node=name.clone()>
            <label class="check">
                <input type="checkbox" prop:checked=is_picked on:change=toggle/>
                " "{name.clone()}
                <span class="muted">{format!(" ({} cores free)", node.available_cores)}</span>
            </label>
            {(!numa_ids.is_empty()).then(|| view! {
                <label>" NUMA "
                    <select disabled=move || !is_picked.get() on:change=move |ev| {
                        let v = event_target_value(&ev).parse::<u32>().ok();
                        set_numa(&|t| { t.numa = v; if v.is_some() { t.gpus.clear(); } });
                    }>
                        <option value="">"whole node"</option>
                        {numa_ids.iter().map(|id| view! { <option value=id.to_string()>{id.to_string()}</option> }).collect_view()}
                    </select>
                </label>
            })}
            {gpus.into_iter().map(|g| {
                let id = g.gpu_id;
                let edit = edit.clone();
                view! {
                    <label class="check gpu" title=g.name.clone()>
                        <input type="checkbox" disabled=move || !is_picked.get() on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            edit(&|t| {
                                t.gpus.retain(|x| *x != id);
                                if on { t.gpus.push(id); t.gpus.sort_unstable(); t.numa = None; }
                            });
                        }/>
                        {format!(" GPU {id}")}
                    </label>
                }
            }).collect_view()}
        </div>
    }
}
