//! Who is logged in, for the header's name and "Log out" button. The host provides it to the
//! server render when authentication is on; the page carries it in
//! `<meta name="hakuriver-user">` for the browser (the login cookie itself is HttpOnly).

/// `Some("alice (user)")` when someone is logged in; `None` with authentication off.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignedIn(pub Option<String>);

pub fn signed_in() -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        thread_local! {
            static USER: Option<String> = leptos::prelude::document()
                .query_selector("meta[name=hakuriver-user]")
                .ok()
                .flatten()
                .and_then(|m| m.get_attribute("content"))
                .filter(|c| !c.is_empty());
        }
        USER.with(Clone::clone)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        leptos::prelude::use_context::<SignedIn>().and_then(|s| s.0)
    }
}
