//! The task submit form: targets picked per node (NUMA node or GPUs), environment, limits,
//! variables, mounts, a name, a time limit and the tasks to wait for. Checked in the browser with
//! the host's own rules (`task_form`); the host's answer shows inline.

use hakuriver_model::api::FieldError;
use leptos::prelude::*;

use super::task_widgets::{EnvPicker, NodePicker};
use super::FieldMessage;
use crate::server_fns::submit_task;
use crate::task_form::TaskForm;

/// The submit form: targets picked per node (NUMA node or GPUs), environment, limits, variables,
/// mounts. Checked in the browser with the host's own rules; the host's answer shows inline.
#[component]
pub fn SubmitTask() -> impl IntoView {
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
    let (name, set_name) = text(|f| f.name.clone(), |f, v| f.name = v);
    let (time_limit, set_time_limit) = text(|f| f.time_limit.clone(), |f, v| f.time_limit = v);
    let (after, set_after) = text(|f| f.after.clone(), |f, v| f.after = v);
    let (retries, set_retries) = text(|f| f.retries.clone(), |f, v| f.retries = v);
    let (priority, set_priority) = text(|f| f.priority.clone(), |f, v| f.priority = v);
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
                    <label for="t-name">"Name (optional)"</label>
                    <input id="t-name" name="name" size="30" prop:value=name on:input=set_name/>
                    <FieldMessage field="name" error/>
                </div>
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
                <div class="row">
                    <div class="field">
                        <label for="t-time">"Time limit (e.g. 2h30m, 90m, 1d)"</label>
                        <input id="t-time" size="10" prop:value=time_limit on:input=set_time_limit/>
                        <FieldMessage field="time_limit_seconds" error/>
                    </div>
                    <div class="field">
                        <label for="t-after">"After tasks (ids)"</label>
                        <input id="t-after" size="24" prop:value=after on:input=set_after/>
                        <FieldMessage field="depends_on" error/>
                    </div>
                    <div class="field">
                        <label for="t-dependency">"Start when they"</label>
                        <select id="t-dependency" on:change=move |ev| form.update(|f| f.dependency = event_target_value(&ev))>
                            <option value="afterok">"completed (afterok)"</option>
                            <option value="afterany">"ended (afterany)"</option>
                            <option value="afternotok">"failed (afternotok)"</option>
                        </select>
                        <FieldMessage field="dependency" error/>
                    </div>
                    <div class="field">
                        <label for="t-retries">"Retries (node lost, cannot start)"</label>
                        <input id="t-retries" inputmode="numeric" size="4" prop:value=retries on:input=set_retries/>
                        <FieldMessage field="retries" error/>
                    </div>
                    <div class="field">
                        <label for="t-priority">"Priority (-100 to 100)"</label>
                        <input id="t-priority" inputmode="numeric" size="5" prop:value=priority on:input=set_priority/>
                        <FieldMessage field="priority" error/>
                    </div>
                </div>
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
