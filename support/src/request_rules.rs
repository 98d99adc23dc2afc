//! Rules every request to a HakuRiver daemon passes whatever `[auth] enabled` says, so that no
//! web page a user opens can drive the cluster through their browser: the `Host` must be a name
//! this daemon answers to (DNS rebinding needs a name of the attacker's), and a write must be
//! JSON (or, where a form posts, a form): a page on another origin cannot send either without
//! the browser asking first. Pure functions over header values.

use std::net::IpAddr;

/// The names a daemon answers to besides IP literals and `localhost`: the machine's hostname,
/// the address it is reached at, and `[network] public_hosts`.
#[derive(Debug, Clone, Default)]
pub struct PublicNames {
    names: Vec<String>,
}

impl PublicNames {
    pub fn new<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        let names = names.into_iter().map(|n| normalize(n.as_ref())).filter(|n| !n.is_empty()).collect();
        PublicNames { names }
    }

    /// `new`, plus this machine's hostname.
    pub fn with_hostname<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let mut public = PublicNames::new(names);
        public.names.push(normalize(&hostname));
        public
    }

    /// Whether a request's `Host` (`name[:port]`, `[v6]:port`) is one this daemon answers to.
    /// A request without one (HTTP/1.0) passes: browsers always send it.
    pub fn allows(&self, host: Option<&str>) -> bool {
        let Some(host) = host else { return true };
        let name = host_name(host.trim());
        if name.starts_with('[') || name.parse::<IpAddr>().is_ok() {
            return true;
        }
        let name = normalize(name);
        name == "localhost" || self.names.contains(&name)
    }
}

/// `name` of `name:port`; `[v6]` of `[v6]:port`.
fn host_name(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split_inclusive(']').next().unwrap_or(authority);
    }
    match authority.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => authority,
    }
}

fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The kinds of body a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepts {
    /// `application/json` only (every API write).
    Json,
    /// JSON or `application/x-www-form-urlencoded` (the login and logout forms).
    JsonOrForm,
}

/// Whether a write's headers announce a body of a kind the route takes (`write_body_ok`; no
/// `Content-Length` and no `Transfer-Encoding` means no body).
pub fn write_headers_ok(headers: &http::HeaderMap, accepts: Accepts) -> bool {
    let text = |name: http::header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let length = text(http::header::CONTENT_LENGTH);
    let empty = length == Some("0") || (length.is_none() && !headers.contains_key(http::header::TRANSFER_ENCODING));
    write_body_ok(text(http::header::CONTENT_TYPE), empty, accepts)
}

/// Whether a write's body is of a kind the route takes. A write without a body needs no
/// `Content-Type`; any other kind (`text/plain`, `multipart/form-data`: what a page on another
/// origin can send without asking) is refused.
pub fn write_body_ok(content_type: Option<&str>, body_empty: bool, accepts: Accepts) -> bool {
    let Some(content_type) = content_type else { return body_empty };
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    media == "application/json" || (accepts == Accepts::JsonOrForm && media == "application/x-www-form-urlencoded")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_by_ip_and_known_names_pass_others_do_not() {
        let names = PublicNames::new(["Cluster.Lab.org", "gpu-host"]);
        for ok in [
            "127.0.0.1:8000",
            "10.0.0.5",
            "[::1]:8000",
            "[fe80::1]",
            "localhost:8000",
            "LOCALHOST",
            "cluster.lab.org",
            "cluster.lab.org.:443",
            "gpu-host:8000",
        ] {
            assert!(names.allows(Some(ok)), "{ok}");
        }
        assert!(names.allows(None));
        for bad in
            ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "cluster.lab.org.evil", "", "gpu-host:x"]
        {
            assert!(!names.allows(Some(bad)), "{bad}");
        }
    }

    #[test]
    fn writes_are_json_or_the_forms_that_post() {
        assert!(write_body_ok(Some("application/json"), false, Accepts::Json));
        assert!(write_body_ok(Some("Application/JSON; charset=utf-8"), false, Accepts::Json));
        assert!(write_body_ok(None, true, Accepts::Json));
        assert!(!write_body_ok(None, false, Accepts::Json));
        for bad in ["text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", ""] {
            assert!(!write_body_ok(Some(bad), false, Accepts::Json), "{bad}");
            assert!(!write_body_ok(Some(bad), true, Accepts::Json), "{bad} without a body");
        }
        assert!(write_body_ok(Some("application/x-www-form-urlencoded"), false, Accepts::JsonOrForm));
        let mut headers = http::HeaderMap::new();
        assert!(write_headers_ok(&headers, Accepts::Json), "no body, no type");
        headers.insert(http::header::TRANSFER_ENCODING, http::HeaderValue::from_static("chunked"));
        assert!(!write_headers_ok(&headers, Accepts::Json), "a streamed body needs a type");
        headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        assert!(write_headers_ok(&headers, Accepts::Json));
        assert!(!write_body_ok(Some("text/plain"), false, Accepts::JsonOrForm));
    }
}
