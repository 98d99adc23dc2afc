//! Who is logged in: the header's name and "Log out", and which actions the pages offer (the
//! host checks every one again). The host provides it to the server render when authentication
//! is on; the page carries it in `<meta name="hakuriver-user">` and `<meta name="hakuriver-role">`
//! for the browser (the login cookie itself is HttpOnly). Nobody logged in means authentication
//! is off: everything is offered, as in the original.

use hakuriver_model::auth::{Actor, Role};
use hakuriver_model::policy::Allowed;

/// Provided by the host to every render: the actor when authentication is on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignedIn(pub Option<Actor>);

/// The logged-in actor; `None` with authentication off.
pub fn signed_in() -> Option<Actor> {
    #[cfg(feature = "hydrate")]
    {
        thread_local! {
            static ACTOR: Option<Actor> = {
                use crate::base::meta;
                match (meta("hakuriver-user"), meta("hakuriver-role").and_then(|r| r.parse().ok())) {
                    (Some(name), Some(role)) => Some(Actor { name, role }),
                    _ => None,
                }
            };
        }
        ACTOR.with(Clone::clone)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        leptos::prelude::use_context::<SignedIn>().and_then(|s| s.0)
    }
}

/// Provided by the host to every render: what the actor may ask of a runner ([policy]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allowances(pub Allowed);

/// What the submit forms offer: privileged containers, tasks without a container, host mounts.
/// The page carries it in `<meta name="hakuriver-allowed">` (JSON) for the browser.
pub fn allowed() -> Allowed {
    #[cfg(feature = "hydrate")]
    {
        thread_local! {
            static ALLOWED: Allowed = crate::base::meta("hakuriver-allowed")
                .and_then(|c| serde_json::from_str(&c).ok())
                .unwrap_or_default();
        }
        ALLOWED.with(Clone::clone)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        leptos::prelude::use_context::<Allowances>().map(|a| a.0).unwrap_or_default()
    }
}

/// The `<meta name="hakuriver-allowed">` content.
pub fn allowed_meta() -> String {
    serde_json::to_string(&allowed()).unwrap_or_default()
}

/// Whether to offer what needs `role`.
pub fn may(role: Role) -> bool {
    signed_in().is_none_or(|actor| actor.can(role))
}

/// Whether to offer kill, pause and resume for a task submitted by `owner`.
pub fn may_control(owner: Option<&str>) -> bool {
    signed_in().is_none_or(|actor| actor.may_control(owner))
}
