//! The original host served its API at bare paths (`/register`, `/nodes`, ...); we serve it under
//! `/api`. This rewrite sends bare-path API requests to `/api/...` before routing, so the
//! original's runners and scripts work unchanged. A browser asking for a dashboard page at a path
//! the API shares (`GET /nodes` with `Accept: text/html`) gets the page.

use axum::extract::Request;
use axum::http::{header, Method, Uri};

/// Bare API paths of the original host; an entry ending in `/` matches as a prefix.
const BARE_API_PATHS: &[&str] = &[
    "/health",
    "/nodes",
    "/register",
    "/heartbeat/",
    "/submit",
    "/status/",
    "/tasks",
    "/kill/",
    "/command/",
    "/task/",
    "/update",
    "/docker/",
    "/vps",
    "/vps/status",
];

/// The `/api` path a request for `path` belongs to, if it is one of the original's bare paths.
/// The original dashboard's terminal used `/ws/docker/...`: that maps to `/api/docker/...` too.
pub fn api_path(method: &Method, path: &str, accepts_html: bool) -> Option<String> {
    if let Some(rest) = path.strip_prefix("/ws/docker/") {
        return Some(format!("/api/docker/{rest}"));
    }
    let is_bare_api = BARE_API_PATHS.iter().any(|p| {
        if p.ends_with('/') {
            path.starts_with(p) && path.len() > p.len()
        } else {
            path == *p
        }
    });
    if !is_bare_api || (method == Method::GET && accepts_html && hakuriver_app::is_page_path(path)) {
        return None;
    }
    Some(format!("/api{path}"))
}

/// Rewrites the request's URI when it targets a bare API path (query string kept).
pub fn rewrite(mut req: Request) -> Request {
    let accepts_html =
        req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"));
    if let Some(path) = api_path(req.method(), req.uri().path(), accepts_html) {
        let target = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        if let Ok(uri) = target.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_api_paths_map_to_api() {
        assert_eq!(api_path(&Method::POST, "/register", false).as_deref(), Some("/api/register"));
        assert_eq!(api_path(&Method::PUT, "/heartbeat/n1", false).as_deref(), Some("/api/heartbeat/n1"));
        assert_eq!(api_path(&Method::GET, "/health", true).as_deref(), Some("/api/health"));
        assert_eq!(api_path(&Method::GET, "/nodes", false).as_deref(), Some("/api/nodes"));
        assert_eq!(api_path(&Method::GET, "/docker/list", false).as_deref(), Some("/api/docker/list"));
        assert_eq!(api_path(&Method::GET, "/vps/status", false).as_deref(), Some("/api/vps/status"));
        let ws = api_path(&Method::GET, "/ws/docker/host/containers/e/terminal", true);
        assert_eq!(ws.as_deref(), Some("/api/docker/host/containers/e/terminal"));
    }

    #[test]
    fn pages_and_other_paths_stay() {
        assert_eq!(api_path(&Method::GET, "/nodes", true), None, "a browser gets the Nodes page");
        assert_eq!(api_path(&Method::GET, "/", false), None);
        assert_eq!(api_path(&Method::GET, "/api/nodes", false), None);
        assert_eq!(api_path(&Method::PUT, "/heartbeat/", false), None);
        assert_eq!(api_path(&Method::GET, "/pkg/hakuriver.js", false), None);
    }

    #[test]
    fn rewrite_keeps_the_query() {
        let req = Request::builder().uri("/health?hostname=n1").body(axum::body::Body::empty()).unwrap();
        assert_eq!(rewrite(req).uri().to_string(), "/api/health?hostname=n1");
    }
}
