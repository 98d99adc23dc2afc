//! The one route table: every REST route with the access it needs, its kind, its summary and
//! the Rust types it takes and answers. The router is built from it, the guard
//! (`auth::policy::access`) looks each request up in it, the OpenAPI document (`openapi`) is
//! generated from it (parameters, bodies and answers from the types' `ToSchema`/`IntoParams`,
//! `x-hakuriver-access` from the access), and the role × route test reads that document; a route
//! cannot be added without saying who may call it and what it speaks.

use axum::routing::{delete, get, post, put};
use axum::Router;
use hakuriver_model::api::Message;
use hakuriver_model::auth::Role::{Admin, Operator, User, Viewer};
use hakuriver_model::auth::{TokenCreated, TokenInfo, TokenLimits, TokenRequest, TunnelTicket, WhoAmI};
use hakuriver_model::env::{
    CreateEnvRequest, EnvContainer, EnvTarballs, EnvVersions, ImportRequest, VpsSaveRequest, VpsSnapshot,
};
use hakuriver_model::health::HealthResponse;
use hakuriver_model::operation::{Operation, OperationStarted, TarballSaved};
use hakuriver_model::protocol::TaskStatusUpdate;
use hakuriver_model::task::{SubmitResponse, TaskPage, TaskQuery};
use hakuriver_model::usage::{UsageQuery, UsageReport};
use hakuriver_model::{ControlCommand, HeartbeatData, NodeInfo, RunnerInfo, TaskId, TaskRequest, TaskView};

use super::openapi::schema::{list, map, one, text, ParamsFn, SchemaFn};
use super::{auth, docker, events, log_follow, nodes, openapi, tasks, terminal, vps};
use crate::auth::policy::Access::{self, Public, Role as R, Runner};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Delete => "DELETE",
        }
    }
}

/// What a route answers: JSON, a server-sent event stream, or a websocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Json,
    Stream,
    Websocket,
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub verb: Verb,
    /// The path under `/api`, in the router's syntax (`{id}` is one segment).
    pub path: &'static str,
    pub access: Access,
    pub kind: Kind,
    pub summary: &'static str,
    /// The handler's name (`tasks::submit`): the operation's id.
    pub handler: &'static str,
    pub doc: Doc,
}

/// What a JSON route takes and answers, as Rust types (the OpenAPI document is built from it).
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    /// Each `{name}` of the path with its type.
    pub path: &'static [(&'static str, SchemaFn)],
    pub query: Option<ParamsFn>,
    pub body: Option<SchemaFn>,
    /// The successful answers.
    pub answers: &'static [Answer],
    /// Refusals this route has beyond those every route has (`openapi::common_refusals`).
    pub refusals: &'static [(u16, &'static str)],
}

#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub status: u16,
    pub media: &'static str,
    pub schema: SchemaFn,
}

macro_rules! method_router {
    (Get, $h:path) => {
        get($h)
    };
    (Post, $h:path) => {
        post($h)
    };
    (Put, $h:path) => {
        put($h)
    };
    (Delete, $h:path) => {
        delete($h)
    };
}

/// The media type of an answer's shape: `text` is a plain-text body, the rest JSON.
macro_rules! media {
    (text) => {
        "text/plain"
    };
    ($shape:ident) => {
        "application/json"
    };
}

/// `Some` of what is given, else `None`.
macro_rules! optional {
    () => {
        None
    };
    ($e:expr) => {
        Some($e)
    };
}

macro_rules! route_table {
    ($($verb:ident $path:literal $kind:ident $access:expr => $handler:path, $summary:literal
        $(, path($($param:ident: $param_ty:ty),+))?
        $(, query($query:ty))?
        $(, body($body:ty))?
        $(, ok($($status:literal $shape:ident $answer:ty),+))?
        $(, refuses($($code:literal $why:literal),+))?;)*) => {
        /// Every REST route (see the module's doc).
        pub const ROUTES: &[Route] = &[
            $(Route {
                verb: Verb::$verb,
                path: $path,
                access: $access,
                kind: Kind::$kind,
                summary: $summary,
                handler: stringify!($handler),
                doc: Doc {
                    path: &[$($((stringify!($param), openapi::schema::inline::<$param_ty> as SchemaFn)),+)?],
                    query: optional!($(openapi::schema::params::<$query> as ParamsFn)?),
                    body: optional!($(one::<$body> as SchemaFn)?),
                    answers: &[$($(Answer { status: $status, media: media!($shape), schema: $shape::<$answer> }),+)?],
                    refusals: &[$($(($code, $why)),+)?],
                },
            },)*
        ];

        /// The router of every route in the table.
        pub fn router() -> Router<AppState> {
            let mut router = Router::new();
            $(router = router.route($path, method_router!($verb, $handler));)*
            router
        }
    };
}

route_table! {
    Get "/api/health" Json R(Viewer) => nodes::health, "Cluster health: the last minute of samples per node",
        query(nodes::HealthQuery), ok(200 one HealthResponse), refuses(404 "no such node");
    Get "/api/nodes" Json R(Viewer) => nodes::list, "Every node", ok(200 list NodeInfo);
    Get "/api/nodes/{hostname}" Json R(Viewer) => nodes::show, "One node",
        path(hostname: String), ok(200 one NodeInfo);
    Post "/api/nodes/{hostname}/release" Json R(Admin) => auth::release_node, "Let another runner take a node name",
        path(hostname: String), ok(200 one Message);
    Get "/api/auth/tokens" Json R(Admin) => auth::tokens, "API tokens (never their secrets)", ok(200 list TokenInfo);
    Post "/api/auth/tokens" Json R(Admin) => auth::create_token, "Create a token: the answer is the only time its secret is shown",
        body(TokenRequest), ok(201 one TokenCreated), refuses(409 "a token of that name exists");
    Delete "/api/auth/tokens/{id}" Json R(Admin) => auth::revoke_token, "Revoke a token (and end its logins)",
        path(id: String), ok(200 one TokenInfo);
    Post "/api/auth/tokens/{id}/limits" Json R(Admin) => auth::set_token_limits, "Set a token's own per-user limits (none: [limits]' again)",
        path(id: String), body(TokenLimits), ok(200 one TokenInfo);
    Get "/api/auth/whoami" Json R(Viewer) => auth::whoami, "Who the credentials belong to", ok(200 one WhoAmI);
    Post "/api/register" Json Runner => nodes::register, "Register a runner",
        body(RunnerInfo), ok(200 one Message), refuses(409 "the node name belongs to another runner");
    Put "/api/heartbeat/{hostname}" Json Runner => nodes::heartbeat, "A runner's heartbeat",
        path(hostname: String), body(HeartbeatData), ok(200 one Message);
    Post "/api/update" Json Runner => tasks::update, "A runner's task status report",
        body(TaskStatusUpdate), ok(200 one Message);
    Get "/api/events" Websocket R(Viewer) => events::websocket, "Live cluster events";
    Post "/api/submit" Json R(User) => tasks::submit, "Submit tasks (one per target and argument set)",
        body(TaskRequest), ok(202 one SubmitResponse),
        refuses(400 "a request the original refuses, or depends_on naming no task", 503 "every named target failed (the original's contract)");
    Get "/api/status/{id}" Json R(Viewer) => tasks::status, "One task", path(id: TaskId), ok(200 one TaskView);
    Get "/api/tasks" Json R(Viewer) => tasks::list, "Command tasks, newest first (at most 5000)",
        query(TaskQuery), ok(200 list TaskView);
    Get "/api/tasks/page" Json R(Viewer) => tasks::page, "A page of tasks with a cursor",
        query(TaskQuery), ok(200 one TaskPage);
    Get "/api/usage" Json R(Viewer) => tasks::usage, "Usage per user or node over a window: core-, CPU- and GPU-hours, tasks",
        query(UsageQuery), ok(200 one UsageReport);
    Post "/api/kill/{id}" Json R(User) => tasks::kill, "Kill a task (users: their own)",
        path(id: TaskId), ok(202 one Message), refuses(409 "the task is over");
    Post "/api/command/{id}/{command}" Json R(User) => tasks::command, "Pause or resume a task; stop (disk kept) or start a VPS (users: their own)",
        path(id: TaskId, command: ControlCommand), ok(200 one Message),
        refuses(400 "not in a state for this", 409 "the task is over", 502 "the runner did not confirm");
    Get "/api/task/{id}/stdout" Json R(Viewer) => tasks::stdout, "A task's standard output",
        path(id: TaskId), query(tasks::LogQuery), ok(200 text String);
    Get "/api/task/{id}/stderr" Json R(Viewer) => tasks::stderr, "A task's standard error",
        path(id: TaskId), query(tasks::LogQuery), ok(200 text String);
    Get "/api/task/{id}/stdout/follow" Stream R(Viewer) => log_follow::stdout, "A task's standard output as it grows";
    Get "/api/task/{id}/stderr/follow" Stream R(Viewer) => log_follow::stderr, "A task's standard error as it grows";
    Get "/api/docker/host/containers" Json R(Viewer) => docker::containers, "The host's environment containers",
        ok(200 list EnvContainer);
    Post "/api/docker/host/create" Json R(Operator) => docker::create, "Create an environment container",
        query(docker::BackgroundQuery), body(CreateEnvRequest), ok(201 one Message, 202 one OperationStarted),
        refuses(400 "an invalid environment name or image reference", 404 "no such image", 409 "the operation was cancelled", 500 "the container could not be created");
    Post "/api/docker/host/delete/{name}" Json R(Operator) => docker::delete, "Delete an environment container",
        path(name: String), query(docker::DeleteQuery), ok(200 one Message), refuses(400 "an invalid environment name");
    Post "/api/docker/host/stop/{name}" Json R(Operator) => docker::stop, "Stop an environment container",
        path(name: String), ok(200 one Message), refuses(400 "an invalid environment name");
    Post "/api/docker/host/start/{name}" Json R(Operator) => docker::start, "Start an environment container",
        path(name: String), ok(200 one Message), refuses(400 "an invalid environment name");
    Get "/api/docker/host/containers/{name}/terminal" Websocket R(Admin) => terminal::websocket, "A shell in an environment container";
    Get "/api/tasks/{id}/terminal" Websocket R(Admin) => terminal::task_websocket, "A shell in a task's container";
    Get "/api/tasks/{id}/forward/{port}" Websocket R(Admin) => terminal::forward_websocket, "A TCP connection to a port inside a task";
    Get "/api/vps/status" Json R(Viewer) => tasks::vps_status, "VPS tasks that are not over", ok(200 list TaskView);
    Get "/api/vps" Json R(Viewer) => tasks::vps_list, "Every VPS task", query(TaskQuery), ok(200 list TaskView);
    Post "/api/vps/{id}/ticket" Json R(User) => auth::tunnel_ticket, "A single-use ticket for one SSH tunnel to the VPS (users: their own)",
        path(id: TaskId), ok(200 one TunnelTicket);
    Post "/api/vps/{id}/save" Json R(Operator) => vps::save, "Save a VPS as a new tarball version of an environment",
        path(id: TaskId), body(VpsSaveRequest), ok(200 one TarballSaved, 202 one OperationStarted),
        refuses(400 "an invalid environment name", 409 "the VPS is not running, or the save was cancelled", 500 "the save failed");
    Get "/api/vps/{id}/snapshots" Json R(Viewer) => vps::snapshots, "The tarballs saved from a VPS, newest first",
        path(id: TaskId), ok(200 list VpsSnapshot);
    Post "/api/docker/create_tar/{name}" Json R(Operator) => docker::create_tar, "Save an environment as a new tarball",
        path(name: String), query(docker::BackgroundQuery), ok(200 one TarballSaved, 202 one OperationStarted),
        refuses(400 "an invalid environment name", 409 "the save was cancelled", 500 "the save failed");
    Get "/api/docker/list" Json R(Viewer) => docker::list_tars, "Environment tarballs", ok(200 map EnvTarballs);
    Post "/api/docker/import" Json R(Operator) => docker::import, "Import an image or root file system as an environment",
        body(ImportRequest), ok(200 one TarballSaved, 202 one OperationStarted),
        refuses(400 "an invalid environment name", 409 "the import was cancelled", 500 "the import failed");
    Get "/api/docker/versions" Json R(Viewer) => docker::versions, "Tarball versions per node", ok(200 map EnvVersions);
    Get "/api/operations" Json R(Viewer) => docker::operations, "Long operations", ok(200 list Operation);
    Get "/api/operations/{id}" Json R(Viewer) => docker::operation, "One operation",
        path(id: u64), ok(200 one Operation);
    Delete "/api/operations/{id}" Json R(Operator) => docker::cancel_operation, "Cancel an operation",
        path(id: u64), ok(200 one Operation), refuses(409 "the operation has ended");
    Get "/api/openapi.json" Json Public => openapi::document, "This document", ok(200 one openapi::schema::Document);
}

/// Whether `path` (no query) is one of `pattern`'s paths; answers how many segments matched
/// literally (the most specific route wins).
fn matches(pattern: &str, path: &str) -> Option<usize> {
    let (mut p, mut s) = (pattern.split('/'), path.split('/'));
    let mut literal = 0;
    loop {
        match (p.next(), s.next()) {
            (None, None) => return Some(literal),
            (Some(want), Some(got)) if want.starts_with('{') && want.ends_with('}') && !got.is_empty() => {}
            (Some(want), Some(got)) if want == got => literal += 1,
            _ => return None,
        }
    }
}

/// The route a request goes to: `HEAD` is `GET`'s.
pub fn find(method: &axum::http::Method, path: &str) -> Option<&'static Route> {
    let verb = match *method {
        axum::http::Method::GET | axum::http::Method::HEAD => Verb::Get,
        axum::http::Method::POST => Verb::Post,
        axum::http::Method::PUT => Verb::Put,
        axum::http::Method::DELETE => Verb::Delete,
        _ => return None,
    };
    ROUTES
        .iter()
        .filter(|r| r.verb == verb)
        .filter_map(|r| matches(r.path, path).map(|literal| (literal, r)))
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_one_segment_per_parameter_and_literals_win() {
        assert_eq!(matches("/api/status/{id}", "/api/status/42"), Some(3), "the empty root, api, status");
        assert_eq!(matches("/api/status/{id}", "/api/status/42/x"), None);
        assert_eq!(matches("/api/status/{id}", "/api/status/"), None);
        let page = find(&axum::http::Method::GET, "/api/tasks/page").map(|r| r.path);
        assert_eq!(page, Some("/api/tasks/page"));
        let head = find(&axum::http::Method::HEAD, "/api/nodes").map(|r| r.access);
        assert_eq!(head, Some(R(Viewer)));
    }

    #[test]
    fn each_method_and_path_is_in_the_table_once() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(a.path.starts_with("/api/"), "{}", a.path);
            for b in &ROUTES[i + 1..] {
                assert!(!(a.verb == b.verb && a.path == b.path), "{} {} twice", a.verb.as_str(), a.path);
            }
        }
    }
}
