//! The dashboard door: Leptos pages rendered on the server (hydrated in the browser from the
//! WASM in `/pkg`) and the static assets they load, embedded in release builds.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use hakuriver_app::HostError;
use hakuriver_model::auth::Actor;
use leptos::config::LeptosOptions;
use leptos::nonce::use_nonce;
use leptos::prelude::{provide_context, use_context};
use leptos_axum::ResponseOptions;

use std::collections::BTreeMap;

use hakuriver_model::api::FieldError;
use hakuriver_model::env::{CreateEnvRequest, EnvContainer, EnvVersions, TarballList};
use hakuriver_model::history::NodeSeries;
use hakuriver_model::operation::Operation;
use hakuriver_model::task::{LogChunk, SubmitResponse, TaskPage, TaskQuery};
use hakuriver_model::usage::{UsageQuery, UsageReport};
use hakuriver_model::{ControlCommand, EnvAction, NodeInfo, TaskId, TaskRequest, TaskView};

use crate::api::ApiError;
use crate::envs::EnvError;
use crate::services::tasks::ControlError;
use crate::services::{ServiceError, Services};
use crate::state::AppState;

#[derive(rust_embed::Embed)]
#[folder = "$CARGO_MANIFEST_DIR/../target/site"]
struct SiteAssets;

/// Leptos' options from `Leptos.toml` (`site_settings`); the address is where this host listens.
pub fn leptos_options(site_addr: std::net::SocketAddr, site: &crate::site_settings::SiteSettings) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name(site.output_name.as_str())
        .site_root(site.site_root.as_str())
        .site_pkg_dir(site.site_pkg_dir.as_str())
        .reload_port(u32::from(site.reload_port))
        .site_addr(site_addr)
        .build()
}

/// Whether the WASM bundle is present (a host built without `scripts/build-site.sh` still serves
/// the API and server-rendered pages, without live updates).
pub fn has_wasm_bundle(options: &LeptosOptions) -> bool {
    SiteAssets::get(&format!("{}/{}.js", options.site_pkg_dir, options.output_name)).is_some()
}

/// Puts the services, acting for the request's actor (set by the auth guard), into the reactive
/// context of every page render and server function, and gives pages their content security
/// policy with this render's script nonce.
pub fn context(state: &AppState) -> impl Fn() + Clone + Send + Sync + 'static {
    let services = state.services.clone();
    let base = hakuriver_app::base::BasePath(state.base_path.clone());
    move || {
        let actor = use_context::<axum::http::request::Parts>()
            .and_then(|parts| crate::auth::guard::actor_of(&parts.extensions));
        let who = actor.clone().filter(|_| services.auth.enabled());
        provide_context(hakuriver_app::session::SignedIn(who));
        let allowed = actor.as_ref().map(|a| services.tasks.allowed(a.role)).unwrap_or_default();
        provide_context(hakuriver_app::session::Allowances(allowed));
        let api: hakuriver_app::SharedHostApi = std::sync::Arc::new(Acting { services: services.clone(), actor });
        provide_context(api);
        provide_context(base.clone());
        if let (Some(nonce), Some(response)) = (use_nonce(), use_context::<ResponseOptions>()) {
            if let Ok(policy) = HeaderValue::from_str(&content_security_policy(&nonce)) {
                response.insert_header(header::CONTENT_SECURITY_POLICY, policy);
            }
        }
    }
}

/// The dashboard's policy: its own scripts, the WASM, and the inline hydration scripts carrying
/// this render's nonce; styles may be inline (charts and the terminal set them).
pub fn content_security_policy(nonce: &str) -> String {
    crate::auth::guard::DEFAULT_CSP.replacen(
        "script-src 'self' 'wasm-unsafe-eval'",
        &format!("script-src 'self' 'wasm-unsafe-eval' 'nonce-{nonce}'"),
        1,
    )
}

/// The services as one person sees them: what they may do is checked here, for every server
/// function and page render, on top of the guard's check of the route. Without an actor (a
/// request the guard let through as public) nothing is readable.
struct Acting {
    services: Services,
    actor: Option<Actor>,
}

impl Acting {
    /// The caller, if the server function `name` allows its role (`policy::SERVER_FNS`, the one
    /// place a server function's role is stated; the guard checked it already).
    fn may(&self, name: &str) -> Result<&Actor, HostError> {
        let role = crate::auth::policy::server_fn_role(name);
        match &self.actor {
            Some(actor) if actor.can(role) => Ok(actor),
            Some(actor) => Err(HostError::Denied(format!(
                "this needs the {role} role; {} has the {} role",
                actor.name, actor.role
            ))),
            None => Err(HostError::LoggedOut),
        }
    }

    fn owner(&self) -> Option<&str> {
        self.actor.as_ref().filter(|_| self.services.auth.enabled()).map(|a| a.name.as_str())
    }
}

impl std::ops::Deref for Acting {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

#[async_trait::async_trait]
impl hakuriver_app::HostApi for Acting {
    async fn list_nodes(&self) -> Result<Vec<NodeInfo>, HostError> {
        self.may("list_nodes")?;
        self.nodes.list().await.map_err(for_browser)
    }

    async fn list_tasks(&self, query: TaskQuery) -> Result<TaskPage, HostError> {
        self.may("list_tasks")?;
        self.tasks.page(&query).await.map_err(for_browser)
    }

    async fn get_task(&self, id: TaskId) -> Result<TaskView, HostError> {
        self.may("get_task")?;
        self.tasks.get(id).await.map_err(for_browser)
    }

    async fn read_log(&self, id: TaskId, stdout: bool, offset: Option<u64>) -> Result<LogChunk, HostError> {
        self.may("read_log")?;
        self.tasks.read_log_text(id, stdout, offset).await.map_err(for_browser)
    }

    async fn submit(&self, request: TaskRequest) -> Result<Result<SubmitResponse, FieldError>, HostError> {
        let role = self.may("submit_task")?.role;
        match self.services.submit(request, self.owner(), role).await {
            Ok(answer) if answer.task_ids.is_empty() => {
                let reasons: Vec<String> =
                    answer.failed_targets.iter().map(|f| format!("{}: {}", f.target, f.reason)).collect();
                Ok(Err(FieldError { field: "targets".into(), message: reasons.join("; ") }))
            }
            Ok(answer) => Ok(Ok(answer)),
            Err(ServiceError::BadRequest(e)) => Ok(Err(e)),
            Err(ServiceError::Denied(d)) => Ok(Err(FieldError { field: d.field.into(), message: d.message })),
            Err(e) => Err(for_browser(e)),
        }
    }

    async fn task_action(&self, id: TaskId, action: ControlCommand) -> Result<String, HostError> {
        self.tasks.control(id, action, self.may("task_action")?).await.map_err(for_browser)
    }

    async fn env_names(&self) -> Result<Vec<String>, HostError> {
        self.may("env_names")?;
        let mut envs: Vec<(i64, String)> =
            self.envs.list_tars().into_iter().map(|(name, t)| (t.latest_timestamp, name)).collect();
        envs.sort_by(|a, b| b.cmp(a));
        Ok(envs.into_iter().map(|(_, name)| name).collect())
    }

    fn ssh_proxy_port(&self) -> u16 {
        self.ssh_proxy_port
    }

    async fn history(&self) -> Result<Vec<NodeSeries>, HostError> {
        self.may("node_history")?;
        Ok(self.history.all())
    }

    async fn task_counts(&self) -> Result<BTreeMap<String, u64>, HostError> {
        self.may("task_counts")?;
        self.tasks.counts().await.map_err(for_browser)
    }

    async fn usage(&self, query: UsageQuery) -> Result<UsageReport, HostError> {
        self.may("usage_summary")?;
        self.tasks.usage_report(&query).await.map_err(for_browser)
    }

    async fn env_containers(&self) -> Result<Vec<EnvContainer>, HostError> {
        self.may("env_containers")?;
        self.envs.list_containers().await.map_err(for_browser)
    }

    async fn env_action(&self, name: String, action: EnvAction) -> Result<String, HostError> {
        self.may("env_action")?;
        match action {
            EnvAction::Start => self.envs.start(&name).await.map(|()| format!("Container '{name}' started.")),
            EnvAction::Stop => self.envs.stop(&name).await.map(|()| format!("Container '{name}' stopped.")),
            EnvAction::Delete => self.envs.delete(&name, true).await.map(|()| format!("Container '{name}' deleted.")),
        }
        .map_err(for_browser)
    }

    async fn create_env(&self, image: String, name: String) -> Result<String, HostError> {
        self.may("create_env")?;
        let request = CreateEnvRequest { image_name: image, container_name: name.clone() };
        let (id, mut done, _) = self.start_create_env(&request).await.map_err(for_browser)?;
        let _ = done.wait_for(|finished| *finished).await;
        match self.operations.get(id) {
            Some(op) if op.state == hakuriver_model::operation::OperationState::Succeeded => {
                Ok(format!("Container '{name}' created."))
            }
            Some(op) => Err(HostError::Failed(op.error.unwrap_or_else(|| "failed".into()))),
            None => Err(HostError::NotFound(format!("operation {id} vanished"))),
        }
    }

    async fn create_tar(&self, name: String) -> Result<u64, HostError> {
        self.may("create_tar")?;
        self.start_create_tar(&name).await.map(|(id, _)| id).map_err(for_browser)
    }

    async fn save_vps(&self, id: TaskId, name: String) -> Result<u64, HostError> {
        self.may("save_vps")?;
        let saved_by = self.owner().map(str::to_string);
        self.start_vps_save(id, &name, saved_by).await.map(|(op, _)| op).map_err(for_browser)
    }

    async fn operation(&self, id: u64) -> Result<Operation, HostError> {
        self.may("get_operation")?;
        self.operations.get(id).ok_or_else(|| HostError::NotFound(format!("operation {id} not found")))
    }

    async fn tarballs(&self) -> Result<TarballList, HostError> {
        self.may("tarballs")?;
        Ok(self.envs.list_tars())
    }

    async fn env_versions(&self) -> Result<BTreeMap<String, EnvVersions>, HostError> {
        self.may("list_env_versions")?;
        let nodes = self.nodes.list().await.map_err(for_browser)?;
        Ok(crate::envs::versions(&self.envs.list_tars(), &nodes))
    }
}

/// What the browser is told of a failure: refusals and failures it can act on as they are; an
/// internal one only as a request id, its cause logged under that id (as the REST door does).
fn for_browser(e: impl Into<Refusal>) -> HostError {
    match e.into() {
        Refusal::Shown(error) => error,
        Refusal::Internal(cause) => {
            let id = crate::request_id::next();
            tracing::error!(request_id = %id, error = %cause, "dashboard request failed");
            HostError::Internal(id)
        }
    }
}

/// A service's error sorted for the browser.
enum Refusal {
    Shown(HostError),
    Internal(String),
}

impl From<ServiceError> for Refusal {
    fn from(e: ServiceError) -> Self {
        let shown = match e {
            ServiceError::NotFound(m) => HostError::NotFound(m),
            ServiceError::NotRegistered => HostError::NotFound(e.to_string()),
            ServiceError::Invalid(m) | ServiceError::Conflict(m) => HostError::Refused(m),
            ServiceError::BadRequest(f) => HostError::Refused(f.message),
            ServiceError::Forbidden(m) => HostError::Denied(m),
            ServiceError::Denied(d) => HostError::Denied(d.message),
            ServiceError::Db(_) | ServiceError::Io(_) | ServiceError::Internal(_) => {
                return Refusal::Internal(e.to_string())
            }
        };
        Refusal::Shown(shown)
    }
}

impl From<ControlError> for Refusal {
    fn from(e: ControlError) -> Self {
        Refusal::Shown(match e {
            ControlError::NotFound(m) => HostError::NotFound(m),
            ControlError::Conflict(m) | ControlError::Final(m) | ControlError::BadState(m) => HostError::Refused(m),
            ControlError::Runner(m) => HostError::Failed(m),
            ControlError::Forbidden(m) => HostError::Denied(m),
            ControlError::Service(e) => return e.into(),
        })
    }
}

impl From<EnvError> for Refusal {
    fn from(e: EnvError) -> Self {
        Refusal::Shown(match e {
            EnvError::Invalid(m) | EnvError::Conflict(m) => HostError::Refused(m),
            EnvError::NotFound(m) => HostError::NotFound(m),
            EnvError::NoDocker(_) | EnvError::Docker(_) => HostError::Failed(e.to_string()),
            EnvError::Io(m) => return Refusal::Internal(m),
        })
    }
}

/// Anything no route matched: an embedded asset, a JSON 404 under `/api`, or the dashboard's
/// 404 page.
pub async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path().trim_start_matches('/').to_string();
    if let Some(file) = SiteAssets::get(&path) {
        let mime = mime_guess::from_path(&path).first_or_octet_stream();
        let mut response = Response::new(Body::from(file.data.into_owned()));
        if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
            response.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return response;
    }
    if path == "api" || path.starts_with("api/") {
        return ApiError::NotFound("Not Found".into()).into_response();
    }
    // Under the asset folders only assets: a missing one is a plain 404, never a page.
    if path.starts_with("pkg/") || path.starts_with("xterm/") {
        return (axum::http::StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    let options = state.leptos.clone();
    let handler =
        leptos_axum::render_app_to_stream_with_context(context(&state), move || hakuriver_app::shell(options.clone()));
    handler(req).await.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_sees_refusals_but_never_an_internal_cause() {
        let refused = for_browser(ControlError::Final("Task cannot be killed (state: failed)".into()));
        assert_eq!(refused.to_string(), "Task cannot be killed (state: failed)");
        let denied = for_browser(ServiceError::Forbidden("not yours".into()));
        assert_eq!(denied, HostError::Denied("not yours".into()));
        let internal = for_browser(ServiceError::Internal("disk I/O error at /var/lib/hakuriver/db".into()));
        let shown = internal.to_string();
        assert!(shown.starts_with("internal error (request ") && shown.ends_with("see the host log"), "{shown}");
        assert!(!shown.contains("/var/lib"), "{shown}");
        let docker = for_browser(EnvError::Docker("No such image: x".into()));
        assert_eq!(docker, HostError::Failed("Docker: No such image: x".into()));
    }
}
