//! Which credential each route needs: one table, deny by default. The guard asks it for every
//! request (after the original's bare paths are mapped onto `/api/...` and the base path is
//! taken off), so a route added without an entry here is admin-only until someone decides.

use axum::http::Method;
use hakuriver_model::auth::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the login page, the dashboard's static files, the OpenAPI document.
    Public,
    /// Runners: the runner token.
    Runner,
    /// A person or script holding at least this role.
    Role(Role),
}

/// Server functions the dashboard calls, `/api/ui/<name>`, and the role each needs.
const SERVER_FNS: &[(&str, Role)] = &[
    ("list_nodes", Role::Viewer),
    ("list_tasks", Role::Viewer),
    ("get_task", Role::Viewer),
    ("read_log", Role::Viewer),
    ("env_names", Role::Viewer),
    ("ssh_proxy_port", Role::Viewer),
    ("node_history", Role::Viewer),
    ("task_counts", Role::Viewer),
    ("env_containers", Role::Viewer),
    ("get_operation", Role::Viewer),
    ("tarballs", Role::Viewer),
    ("list_env_versions", Role::Viewer),
    ("submit_task", Role::User),
    ("task_action", Role::User),
    ("env_action", Role::Operator),
    ("create_env", Role::Operator),
    ("create_tar", Role::Operator),
    ("save_vps", Role::Operator),
];

/// The access `method path` needs. `path` is relative to the base path.
pub fn access(method: &Method, path: &str) -> Access {
    use Access::{Public, Role as R, Runner};
    use Role::{Admin, Operator, User, Viewer};
    let Some(api) = path.strip_prefix("/api/") else {
        return page(path);
    };
    let parts: Vec<&str> = api.split('/').collect();
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    match (parts.as_slice(), get, post) {
        (["openapi.json"], true, _) => Public,
        (["register"], _, true) | (["update"], _, true) => Runner,
        (["heartbeat", _], _, _) if method == Method::PUT => Runner,
        (["ui", name], _, _) => SERVER_FNS.iter().find(|(n, _)| n == name).map_or(R(Admin), |&(_, role)| R(role)),
        (["health"] | ["nodes"] | ["nodes", _] | ["events"], true, _) => R(Viewer),
        (["status", _] | ["tasks"] | ["tasks", "page"] | ["vps"] | ["vps", "status"], true, _) => R(Viewer),
        (["task", _, "stdout" | "stderr"] | ["task", _, "stdout" | "stderr", "follow"], true, _) => R(Viewer),
        (["docker", "host", "containers"] | ["docker", "list"] | ["docker", "versions"], true, _) => R(Viewer),
        (["operations"] | ["operations", _] | ["auth", "whoami"], true, _) => R(Viewer),
        (["submit"] | ["kill", _] | ["command", _, _] | ["vps", _, "ticket"], _, true) => R(User),
        (["docker", "host", "create"] | ["docker", "import"] | ["vps", _, "save"], _, true) => R(Operator),
        (["vps", _, "snapshots"], true, _) => R(Viewer),
        (["docker", "host", "delete" | "stop" | "start", _] | ["docker", "create_tar", _], _, true) => R(Operator),
        (["operations", _], _, _) if method == Method::DELETE => R(Operator),
        (["docker", "host", "containers", _, "terminal"] | ["tasks", _, "terminal"], true, _) => R(Admin),
        (["tasks", _, "forward", _], true, _) => R(Admin),
        (["auth", "tokens"], _, _) | (["auth", "tokens", _], _, _) | (["nodes", _, "release"], _, _) => R(Admin),
        _ => R(Admin),
    }
}

/// Pages need a viewer; the login page and static files need nothing.
fn page(path: &str) -> Access {
    let public = matches!(path, "/login" | "/logout" | "/favicon.svg" | "/favicon.ico")
        || path.starts_with("/pkg/")
        || path.starts_with("/xterm/");
    if public {
        Access::Public
    } else {
        Access::Role(Role::Viewer)
    }
}

/// The server functions' names, for the route matrix test.
pub fn server_fns() -> impl Iterator<Item = (&'static str, Role)> {
    SERVER_FNS.iter().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        use Access::{Public, Role as R, Runner};
        let cases = [
            (Method::GET, "/", R(Role::Viewer)),
            (Method::GET, "/tasks", R(Role::Viewer)),
            (Method::GET, "/login", Public),
            (Method::POST, "/login", Public),
            (Method::GET, "/pkg/hakuriver_bg.wasm", Public),
            (Method::GET, "/api/openapi.json", Public),
            (Method::POST, "/api/openapi.json", R(Role::Admin)),
            (Method::POST, "/api/register", Runner),
            (Method::PUT, "/api/heartbeat/n1", Runner),
            (Method::POST, "/api/heartbeat/n1", R(Role::Admin)),
            (Method::POST, "/api/update", Runner),
            (Method::GET, "/api/nodes", R(Role::Viewer)),
            (Method::GET, "/api/task/5/stdout/follow", R(Role::Viewer)),
            (Method::POST, "/api/submit", R(Role::User)),
            (Method::GET, "/api/submit", R(Role::Admin)),
            (Method::POST, "/api/command/5/pause", R(Role::User)),
            (Method::POST, "/api/vps/5/ticket", R(Role::User)),
            (Method::POST, "/api/docker/create_tar/x", R(Role::Operator)),
            (Method::DELETE, "/api/operations/3", R(Role::Operator)),
            (Method::GET, "/api/tasks/5/terminal", R(Role::Admin)),
            (Method::GET, "/api/tasks/5/forward/8888", R(Role::Admin)),
            (Method::POST, "/api/vps/5/save", R(Role::Operator)),
            (Method::GET, "/api/vps/5/snapshots", R(Role::Viewer)),
            (Method::GET, "/api/docker/host/containers/x/terminal", R(Role::Admin)),
            (Method::POST, "/api/auth/tokens", R(Role::Admin)),
            (Method::POST, "/api/nodes/n1/release", R(Role::Admin)),
            (Method::POST, "/api/ui/list_nodes", R(Role::Viewer)),
            (Method::POST, "/api/ui/create_tar", R(Role::Operator)),
            (Method::POST, "/api/ui/unknown", R(Role::Admin)),
            (Method::GET, "/api/whatever/new", R(Role::Admin)),
        ];
        for (method, path, want) in cases {
            assert_eq!(access(&method, path), want, "{method} {path}");
        }
    }
}
