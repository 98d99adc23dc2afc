//! Which credential each request needs, deny by default. REST routes say it in the route table
//! (`api::routes`), server functions in `SERVER_FNS` below, pages here. The guard asks for every
//! request (after the original's bare paths are mapped onto `/api/...` and the base path is
//! taken off); anything in no table is admin-only.

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

impl Access {
    /// Its name in the OpenAPI document: `public`, `runner`, or the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Runner => "runner",
            Access::Role(role) => role.as_str(),
        }
    }

    /// Who may call, in words.
    pub fn describe(self) -> String {
        match self {
            Access::Public => "nothing".into(),
            Access::Runner => "the runner token".into(),
            Access::Role(role) => format!("the {role} role or above"),
        }
    }
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
    ("usage_summary", Role::Viewer),
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
    if !path.starts_with("/api/") {
        return page(path);
    }
    if let Some(name) = path.strip_prefix("/api/ui/") {
        return Access::Role(server_fn_role(name));
    }
    crate::api::find_route(method, path).map_or(Access::Role(Role::Admin), |route| route.access)
}

/// The role a server function needs (none: not one).
fn server_fn(name: &str) -> Option<Role> {
    SERVER_FNS.iter().find(|(n, _)| *n == name).map(|&(_, role)| role)
}

/// The role a server function needs; one not in `SERVER_FNS` needs an admin.
pub fn server_fn_role(name: &str) -> Role {
    server_fn(name).unwrap_or(Role::Admin)
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

    #[test]
    fn every_server_function_the_dashboard_registers_has_its_role_here() {
        let registered: Vec<String> =
            leptos::server_fn::axum::server_fn_paths().map(|(path, _)| path.to_string()).collect();
        for path in &registered {
            let name = path.strip_prefix("/api/ui/").unwrap_or_else(|| panic!("{path} outside /api/ui"));
            assert!(server_fn(name).is_some(), "server function {name} has no role in SERVER_FNS");
        }
        for (name, _) in SERVER_FNS {
            assert!(registered.iter().any(|p| p.ends_with(&format!("/{name}"))), "{name} is not a server function");
        }
    }
}
