//! The dashboard's login: a plain form (it works before any WASM loads) that trades a token for
//! an HttpOnly, SameSite=Strict session cookie, and the logout that ends it.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::guard::{origin_allowed, session_cookie, SESSION_COOKIE};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/login", get(page).post(login)).route("/logout", post(logout))
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
    #[serde(default)]
    next: String,
}

async fn page(State(s): State<AppState>, Query(q): Query<NextQuery>) -> Response {
    if !s.services.auth.enabled() {
        return Redirect::to(&format!("{}/", s.base_path)).into_response();
    }
    Html(form(&s.base_path, &safe_next(&q.next, &s.base_path), None)).into_response()
}

async fn login(
    State(s): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let auth = &s.services.auth;
    let next = safe_next(&f.next, &s.base_path);
    if !origin_allowed(&headers, auth.allowed_origins()) {
        return (StatusCode::FORBIDDEN, Html(form(&s.base_path, &next, Some("Log in from this host's own page."))))
            .into_response();
    }
    let ip = auth.client_ip(&extensions, &headers);
    match auth.login(f.token.trim()).await {
        Ok(Some((cookie, actor))) => {
            tracing::info!(%ip, name = %actor.name, role = %actor.role, "dashboard login");
            let max_age = auth.session_length().as_secs();
            let secure = if s.tls { "; Secure" } else { "" };
            let value =
                format!("{SESSION_COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
            with_cookie(Redirect::to(&next).into_response(), &value)
        }
        Ok(None) => {
            if let Some(wait) = auth.failed(ip) {
                let message = format!("Too many failed attempts; wait {} s.", (wait + 999) / 1000);
                return (StatusCode::TOO_MANY_REQUESTS, Html(form(&s.base_path, &next, Some(&message))))
                    .into_response();
            }
            tracing::info!(%ip, "dashboard login refused");
            let message = "That token is not valid (or it expired, or was revoked).";
            (StatusCode::UNAUTHORIZED, Html(form(&s.base_path, &next, Some(message)))).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "login failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(form(&s.base_path, &next, Some("Login failed; see the host log."))),
            )
                .into_response()
        }
    }
}

async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if !origin_allowed(&headers, s.services.auth.allowed_origins()) {
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    if let Some(cookie) = session_cookie(&headers) {
        if let Err(e) = s.services.auth.logout(&cookie).await {
            tracing::error!(error = %e, "logout failed");
        }
    }
    let cleared = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    with_cookie(Redirect::to(&format!("{}/login", s.base_path)).into_response(), &cleared)
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// Where to go after logging in: a path on this host under the base path, never another site.
/// `next` is read as a browser reads a `Location` (a WHATWG URL relative to this host: tabs and
/// newlines dropped, `\` as `/`) and kept only when it stays on this origin; what is sent back
/// is the parsed path and query, not the text given.
fn safe_next(next: &str, base: &str) -> String {
    let fallback = format!("{base}/");
    let Ok(here) = url::Url::parse("http://this-host.invalid/") else { return fallback };
    let Ok(target) = here.join(next) else { return fallback };
    let same_origin = next.starts_with('/') && target.origin() == here.origin() && target.username().is_empty();
    let path = target.path();
    if !same_origin || !(base.is_empty() || path == base || path.starts_with(&format!("{base}/"))) {
        return fallback;
    }
    match target.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn form(base: &str, next: &str, error: Option<&str>) -> String {
    let error = error.map(|e| format!("<p class=\"login-error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let base = escape(base);
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · HakuRiver</title><link rel="icon" href="{base}/favicon.svg"><link rel="stylesheet" href="{base}/pkg/hakuriver.css"></head>
<body><main class="login"><h1>HakuRiver</h1>
<form method="post" action="{base}/login">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<input type="hidden" name="next" value="{next}">
{error}<button type="submit">Log in</button>
</form>
<p class="muted">An admin creates tokens with <code>hakuriver token create NAME --role user</code>.</p>
</main></body></html>"#,
        next = escape(next),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_host() {
        assert_eq!(safe_next("/tasks?status=running", ""), "/tasks?status=running");
        for bad in [
            "//evil.example/x",
            "https://evil.example",
            "/\\evil",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example/x",
            "\\/evil.example",
            "/\\/evil.example",
            " //evil.example",
            "http:evil.example",
            "//user@evil.example",
            "tasks",
            "",
        ] {
            assert_eq!(safe_next(bad, ""), "/", "{bad}");
        }
        assert_eq!(safe_next("/hr/tasks", "/hr"), "/hr/tasks");
        assert_eq!(safe_next("/other", "/hr"), "/hr/");
        assert_eq!(safe_next("/hr/../other", "/hr"), "/hr/");
        assert_eq!(safe_next("/tasks?q=<x>", ""), "/tasks?q=%3Cx%3E");
    }

    #[test]
    fn the_form_escapes_what_it_echoes() {
        let page = form("", "/\"><script>x</script>", Some("<b>"));
        assert!(!page.contains("<script>x") && page.contains("&lt;b&gt;"));
    }
}
