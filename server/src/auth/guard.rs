//! The middleware every request passes: body limit, websocket origin check, authentication and
//! authorization by `policy`, the CSRF rule for cookie logins, slow-down after failures, and the
//! security headers on every answer.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use hakuriver_model::auth::Actor;

use super::held::{Held, Presented};
use super::policy::{access, Access};
use super::Credential;
use crate::api::{ApiError, MAX_BODY_BYTES};
use crate::state::AppState;
use hakuriver_support::request_rules::{write_headers_ok, Accepts};

/// The dashboard's login cookie.
pub const SESSION_COOKIE: &str = "hakuriver_session";

/// The policy for pages without their own: no inline scripts, no plugins, no framing. Dashboard
/// pages send their own with the render's nonce (`site::content_security_policy`).
pub const DEFAULT_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
    base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut response = check(&state, req, next).await;
    security_headers(response.headers_mut());
    response
}

async fn check(state: &AppState, mut req: Request, next: Next) -> Response {
    let too_long = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES as u64);
    if too_long {
        return ApiError::TooLarge(format!("request body too large: at most {MAX_BODY_BYTES} bytes")).into_response();
    }
    let req_body = std::mem::take(req.body_mut());
    *req.body_mut() = Body::new(http_body_util::Limited::new(req_body, MAX_BODY_BYTES));

    let headers = req.headers();
    let auth = &state.services.auth;
    if let Some(refused) = refuse_foreign(state, &req) {
        return refused;
    }
    if is_websocket(headers) && headers.contains_key(header::ORIGIN) && !origin_allowed(headers, auth.allowed_origins())
    {
        return ApiError::Forbidden("websocket from another origin refused".into()).into_response();
    }
    if !auth.enabled() {
        req.extensions_mut().insert(Actor::anonymous());
        return next.run(req).await;
    }
    let path = strip_base(req.uri().path(), &state.base_path).to_string();
    let needed = access(req.method(), &path);
    if needed == Access::Public {
        return next.run(req).await;
    }
    let ip = auth.client_ip(req.extensions(), req.headers());
    let (credential, by_cookie) = match presented(req.headers()) {
        Presented::Nothing => {
            return if matches!(needed, Access::Role(_)) && wants_page(&req, &path) {
                login_redirect(&state.base_path, &req)
            } else {
                ApiError::Unauthorized(
                    "Authentication required: send `Authorization: Bearer <token>` (see `hakuriver token`), or log in to the dashboard."
                        .into(),
                )
                .into_response()
            };
        }
        presented => {
            // A websocket or a followed log outlives the request: it is watched, and ends when
            // its credential does.
            let changes = (is_websocket(req.headers()) || path.ends_with("/follow")).then(|| auth.changes());
            match presented.resolve(auth).await {
                Ok(Some(credential)) => {
                    let by_cookie = matches!(presented, Presented::Cookie(_));
                    req.extensions_mut().insert(presented.clone());
                    if let Some(changes) = changes {
                        req.extensions_mut().insert(Held::new(auth.clone(), presented, changes));
                    }
                    (credential, by_cookie)
                }
                Ok(None) => {
                    if let Some(wait) = auth.failed(ip) {
                        return too_many(wait);
                    }
                    tracing::info!(%ip, path, "authentication failed");
                    if matches!(presented, Presented::Cookie(_)) && wants_page(&req, &path) {
                        return login_redirect(&state.base_path, &req);
                    }
                    return ApiError::Unauthorized("Invalid, expired or revoked token.".into()).into_response();
                }
                Err(e) => return ApiError::Internal(e.to_string()).into_response(),
            }
        }
    };
    // A login cookie rides along with any request the browser makes, so a state-changing one
    // must come from one of our own pages (SameSite=Strict already keeps it off other sites').
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if by_cookie && !safe && !origin_allowed(req.headers(), auth.allowed_origins()) {
        return ApiError::Forbidden("cross-site request refused (the Origin is not this host)".into()).into_response();
    }
    match (needed, credential) {
        (Access::Runner, Credential::Runner) => next.run(req).await,
        (Access::Runner, Credential::Person(actor)) => {
            ApiError::Forbidden(format!("this route is for runners (their runner token), not {}", actor.name))
                .into_response()
        }
        (Access::Role(_), Credential::Runner) => {
            ApiError::Forbidden("the runner token only opens the runner protocol".into()).into_response()
        }
        (Access::Role(role), Credential::Person(actor)) if actor.can(role) => {
            req.extensions_mut().insert(actor);
            next.run(req).await
        }
        (Access::Role(role), Credential::Person(actor)) => {
            ApiError::Forbidden(format!("this needs the {role} role; {} has the {} role", actor.name, actor.role))
                .into_response()
        }
        (Access::Public, _) => next.run(req).await,
    }
}

/// What no page on another site may do, whatever `[auth] enabled` says: reach the host by a
/// name that is not its own (DNS rebinding: 421), write anything but JSON (or the login form)
/// (415), or write from a page of another origin (403).
fn refuse_foreign(state: &AppState, req: &Request) -> Option<Response> {
    let (method, path, headers) = (req.method(), req.uri().path(), req.headers());
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    // HTTP/2 names the host in the request's authority instead of a Host header.
    let host = text(header::HOST).or_else(|| req.uri().authority().map(|a| a.as_str()));
    if !state.public_names.allows(host) {
        tracing::warn!(
            host = host.unwrap_or(""),
            "refused a request for a name this host does not answer to (add it to [network] public_hosts if it is this host's)"
        );
        let detail = format!(
            "This host does not answer to the name {:?}; if that is how users reach it, add it to [network] public_hosts.",
            host.unwrap_or("")
        );
        return Some(ApiError::Misdirected(detail).into_response());
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || is_websocket(headers) {
        return None;
    }
    let path = strip_base(path, &state.base_path);
    // The login form and the dashboard's server functions post forms; every other write is JSON.
    let form = matches!(path, "/login" | "/logout") || path.starts_with("/api/ui/");
    let accepts = if form { Accepts::JsonOrForm } else { Accepts::Json };
    if !write_headers_ok(headers, accepts) {
        let detail = match accepts {
            Accepts::Json => "Writes take a JSON body: send `Content-Type: application/json`.",
            Accepts::JsonOrForm => "This takes application/x-www-form-urlencoded or JSON.",
        };
        return Some(ApiError::UnsupportedMediaType(detail.into()).into_response());
    }
    if headers.contains_key(header::ORIGIN) && !origin_allowed(headers, state.services.auth.allowed_origins()) {
        tracing::info!(origin = text(header::ORIGIN).unwrap_or(""), path, "refused a write from another origin");
        return Some(
            ApiError::Forbidden("cross-site request refused (the Origin is not this host)".into()).into_response(),
        );
    }
    None
}

fn presented(headers: &HeaderMap) -> Presented {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).unwrap_or(value);
        return Presented::Bearer(token.trim().to_string());
    }
    match session_cookie(headers) {
        Some(cookie) => Presented::Cookie(cookie),
        None => Presented::Nothing,
    }
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('=').map(str::to_string))
        .filter(|v| !v.is_empty())
}

fn is_websocket(headers: &HeaderMap) -> bool {
    headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Whether the request's `Origin` (else its `Referer`) is this host as the browser reached it
/// (`Host`, or `X-Forwarded-Host` behind a proxy) or one of `allowed`.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let origin = match (text(header::ORIGIN), text(header::REFERER)) {
        (Some(origin), _) => origin.to_string(),
        (None, Some(referer)) => origin_of(referer),
        (None, None) => return false,
    };
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(&origin)) {
        return true;
    }
    let Some((_, authority)) = origin.split_once("://") else { return false };
    [text(header::HOST), text(header::HeaderName::from_static("x-forwarded-host"))]
        .into_iter()
        .flatten()
        .any(|host| host.eq_ignore_ascii_case(authority))
}

/// `scheme://authority` of a URL.
fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split(['/', '?', '#']).next().unwrap_or("")),
        None => String::new(),
    }
}

/// `path` without the base path (`/hakuriver/api/nodes` → `/api/nodes`).
pub fn strip_base<'a>(path: &'a str, base: &str) -> &'a str {
    if base.is_empty() {
        return path;
    }
    match path.strip_prefix(base) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

fn wants_page(req: &Request, path: &str) -> bool {
    req.method() == Method::GET
        && !path.starts_with("/api/")
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|accept| accept.contains("text/html") || accept.contains("*/*"))
}

fn login_redirect(base: &str, req: &Request) -> Response {
    let next = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    Redirect::to(&format!("{base}/login?next={encoded}")).into_response()
}

fn too_many(wait_ms: i64) -> Response {
    let secs = (wait_ms + 999) / 1000;
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(hakuriver_model::api::ErrorDetail::new(format!(
            "Too many failed authentication attempts from this address; retry in {secs} s."
        ))),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

fn security_headers(headers: &mut HeaderMap) {
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(DEFAULT_CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
}

/// Who a request runs as: set by the guard on every route that needs a role (none on public
/// routes such as the login page and static files).
pub fn actor_of(extensions: &axum::http::Extensions) -> Option<Actor> {
    extensions.get::<Actor>().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn origins() {
        let same = headers(&[("host", "10.0.0.1:8000"), ("origin", "http://10.0.0.1:8000")]);
        assert!(origin_allowed(&same, &[]));
        let other = headers(&[("host", "10.0.0.1:8000"), ("origin", "https://evil.example")]);
        assert!(!origin_allowed(&other, &[]));
        assert!(origin_allowed(&other, &["https://evil.example".into()]));
        let proxied =
            headers(&[("host", "127.0.0.1:8000"), ("x-forwarded-host", "lab.org"), ("origin", "https://lab.org")]);
        assert!(origin_allowed(&proxied, &[]));
        let referer = headers(&[("host", "h:1"), ("referer", "http://h:1/tasks?x=1")]);
        assert!(origin_allowed(&referer, &[]));
        assert!(!origin_allowed(&headers(&[("host", "h:1")]), &[]));
        assert!(!origin_allowed(&headers(&[("host", "h:1"), ("origin", "null")]), &[]));
    }

    #[test]
    fn cookies_and_base_paths() {
        let h = headers(&[("cookie", "a=b; hakuriver_session=abc; c=d")]);
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
        assert_eq!(session_cookie(&headers(&[("cookie", "hakuriver_session=")])), None);
        assert_eq!(session_cookie(&headers(&[("cookie", "hakuriver_sessionx=1")])), None);
        assert_eq!(strip_base("/hr/api/nodes", "/hr"), "/api/nodes");
        assert_eq!(strip_base("/hr", "/hr"), "/");
        assert_eq!(strip_base("/hrx/api", "/hr"), "/hrx/api");
        assert_eq!(strip_base("/api/nodes", ""), "/api/nodes");
    }
}
