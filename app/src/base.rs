//! The path the dashboard is served under (`network.base_path`, e.g. `/hakuriver` behind a
//! reverse proxy; empty at the root). The host provides it to the server render; the page
//! carries it in `<meta name="hakuriver-base">` for the browser. Every URL the dashboard makes
//! goes through [`href`].

/// Provided by the host to every render.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BasePath(pub String);

/// The base path: `""` or `/something` (no trailing slash).
pub fn base_path() -> String {
    #[cfg(feature = "hydrate")]
    {
        thread_local! {
            static BASE: String = meta("hakuriver-base").unwrap_or_default();
        }
        BASE.with(Clone::clone)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        leptos::prelude::use_context::<BasePath>().map(|b| b.0).unwrap_or_default()
    }
}

/// The content of the page's `<meta name="NAME">` (what the server render hands the browser),
/// when there is one and it is not empty.
#[cfg(feature = "hydrate")]
pub fn meta(name: &str) -> Option<String> {
    leptos::prelude::document()
        .query_selector(&format!("meta[name={name}]"))
        .ok()
        .flatten()
        .and_then(|m| m.get_attribute("content"))
        .filter(|c| !c.is_empty())
}

/// `path` (starting with `/`) under the base path.
pub fn href(path: &str) -> String {
    join(&base_path(), path)
}

/// `base` + `path`, for a base of `""` or `/x`.
pub fn join(base: &str, path: &str) -> String {
    format!("{base}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_are_plain_prefixes() {
        assert_eq!(join("", "/tasks"), "/tasks");
        assert_eq!(join("/hakuriver", "/tasks?status=running"), "/hakuriver/tasks?status=running");
    }
}
