//! The one route table: every REST route with the access it needs, its kind and its summary.
//! The router is built from it, the guard (`auth::policy::access`) looks each request up in it,
//! and the OpenAPI document (`x-hakuriver-access`) and the role × route test read it there; a
//! route cannot be added without saying who may call it.

use axum::routing::{delete, get, post, put};
use axum::Router;
use hakuriver_model::auth::Role::{Admin, Operator, User, Viewer};

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

macro_rules! route_table {
    ($($verb:ident $path:literal $kind:ident $access:expr => $handler:path, $summary:literal;)*) => {
        /// Every REST route (see the module's doc).
        pub const ROUTES: &[Route] = &[
            $(Route { verb: Verb::$verb, path: $path, access: $access, kind: Kind::$kind, summary: $summary },)*
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
    Get "/api/health" Json R(Viewer) => nodes::health, "Cluster health: the last minute of samples per node";
    Get "/api/nodes" Json R(Viewer) => nodes::list, "Every node";
    Get "/api/nodes/{hostname}" Json R(Viewer) => nodes::show, "One node";
    Post "/api/nodes/{hostname}/release" Json R(Admin) => auth::release_node, "Let another runner take a node name";
    Get "/api/auth/tokens" Json R(Admin) => auth::tokens, "API tokens (never their secrets)";
    Post "/api/auth/tokens" Json R(Admin) => auth::create_token, "Create a token: the answer is the only time its secret is shown";
    Delete "/api/auth/tokens/{id}" Json R(Admin) => auth::revoke_token, "Revoke a token (and end its logins)";
    Get "/api/auth/whoami" Json R(Viewer) => auth::whoami, "Who the credentials belong to";
    Post "/api/register" Json Runner => nodes::register, "Register a runner";
    Put "/api/heartbeat/{hostname}" Json Runner => nodes::heartbeat, "A runner's heartbeat";
    Post "/api/update" Json Runner => tasks::update, "A runner's task status report";
    Get "/api/events" Websocket R(Viewer) => events::websocket, "Live cluster events";
    Post "/api/submit" Json R(User) => tasks::submit, "Submit tasks (one per target and argument set)";
    Get "/api/status/{id}" Json R(Viewer) => tasks::status, "One task";
    Get "/api/tasks" Json R(Viewer) => tasks::list, "Command tasks, newest first (at most 5000)";
    Get "/api/tasks/page" Json R(Viewer) => tasks::page, "A page of tasks with a cursor";
    Post "/api/kill/{id}" Json R(User) => tasks::kill, "Kill a task (users: their own)";
    Post "/api/command/{id}/{command}" Json R(User) => tasks::command, "Pause or resume a task; stop (disk kept) or start a VPS (users: their own)";
    Get "/api/task/{id}/stdout" Json R(Viewer) => tasks::stdout, "A task's standard output";
    Get "/api/task/{id}/stderr" Json R(Viewer) => tasks::stderr, "A task's standard error";
    Get "/api/task/{id}/stdout/follow" Stream R(Viewer) => log_follow::stdout, "A task's standard output as it grows";
    Get "/api/task/{id}/stderr/follow" Stream R(Viewer) => log_follow::stderr, "A task's standard error as it grows";
    Get "/api/docker/host/containers" Json R(Viewer) => docker::containers, "The host's environment containers";
    Post "/api/docker/host/create" Json R(Operator) => docker::create, "Create an environment container";
    Post "/api/docker/host/delete/{name}" Json R(Operator) => docker::delete, "Delete an environment container";
    Post "/api/docker/host/stop/{name}" Json R(Operator) => docker::stop, "Stop an environment container";
    Post "/api/docker/host/start/{name}" Json R(Operator) => docker::start, "Start an environment container";
    Get "/api/docker/host/containers/{name}/terminal" Websocket R(Admin) => terminal::websocket, "A shell in an environment container";
    Get "/api/tasks/{id}/terminal" Websocket R(Admin) => terminal::task_websocket, "A shell in a task's container";
    Get "/api/tasks/{id}/forward/{port}" Websocket R(Admin) => terminal::forward_websocket, "A TCP connection to a port inside a task";
    Get "/api/vps/status" Json R(Viewer) => tasks::vps_status, "VPS tasks that are not over";
    Get "/api/vps" Json R(Viewer) => tasks::vps_list, "Every VPS task";
    Post "/api/vps/{id}/ticket" Json R(User) => auth::tunnel_ticket, "A single-use ticket for one SSH tunnel to the VPS (users: their own)";
    Post "/api/vps/{id}/save" Json R(Operator) => vps::save, "Save a VPS as a new tarball version of an environment";
    Get "/api/vps/{id}/snapshots" Json R(Viewer) => vps::snapshots, "The tarballs saved from a VPS, newest first";
    Post "/api/docker/create_tar/{name}" Json R(Operator) => docker::create_tar, "Save an environment as a new tarball";
    Get "/api/docker/list" Json R(Viewer) => docker::list_tars, "Environment tarballs";
    Post "/api/docker/import" Json R(Operator) => docker::import, "Import an image or root file system as an environment";
    Get "/api/docker/versions" Json R(Viewer) => docker::versions, "Tarball versions per node";
    Get "/api/operations" Json R(Viewer) => docker::operations, "Long operations";
    Get "/api/operations/{id}" Json R(Viewer) => docker::operation, "One operation";
    Delete "/api/operations/{id}" Json R(Operator) => docker::cancel_operation, "Cancel an operation";
    Get "/api/openapi.json" Json Public => openapi::document, "This document";
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
