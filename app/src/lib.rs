#![recursion_limit = "256"]
//! The HakuRiver dashboard: Leptos components and routes, rendered on the host (feature `ssr`)
//! and hydrated in the browser (feature `hydrate`). Data comes from server functions, which call
//! the host's services through [`HostApi`], and live changes from the `/api/events` websocket.

pub mod base;
pub mod chart;
pub mod format;
pub mod live;
pub mod pages;
pub mod series;
pub mod server_fns;
pub mod session;
pub mod task_form;
pub mod task_list;
pub mod terminal;
#[cfg(feature = "hydrate")]
mod xterm;

#[cfg(feature = "ssr")]
mod host_api;
#[cfg(feature = "ssr")]
pub use host_api::{HostApi, HostError, SharedHostApi};

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::path;

use live::{LinkState, LiveCluster};

/// Paths of dashboard pages. The host serves these as HTML to browsers even where the original's
/// bare API shares the path (`GET /nodes`).
pub const PAGE_PATHS: &[&str] = &["/", "/nodes", "/tasks", "/vps", "/docker", "/gpus"];

pub fn is_page_path(path: &str) -> bool {
    PAGE_PATHS.contains(&path)
}

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let base = base::base_path();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="hakuriver-base" content=base.clone()/>
                <meta name="hakuriver-user" content=session::signed_in().map(|a| a.name).unwrap_or_default()/>
                <meta name="hakuriver-role" content=session::signed_in().map(|a| a.role.to_string()).unwrap_or_default()/>
                <meta name="hakuriver-allowed" content=session::allowed_meta()/>
                <link rel="icon" type="image/svg+xml" href=base::href("/favicon.svg")/>
                <link rel="stylesheet" href=base::href("/xterm/xterm.css")/>
                <HydrationScripts options root=base/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let live = LiveCluster::provide();
    // Marks the page as hydrated for tests and people: effects only run in the browser.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    let base = base::base_path();
    view! {
        <Stylesheet id="hakuriver" href=base::href("/pkg/hakuriver.css")/>
        <Title text="HakuRiver"/>
        <Router base=base>
            <div class="layout">
                <nav class="sidebar">
                    <div class="brand">"HakuRiver"</div>
                    <A href=base::href("/")>"Overview"</A>
                    <A href=base::href("/nodes")>"Nodes"</A>
                    <A href=base::href("/gpus")>"GPUs"</A>
                    <A href=base::href("/tasks")>"Tasks"</A>
                    <A href=base::href("/vps")>"VPS"</A>
                    <A href=base::href("/docker")>"Docker"</A>
                    <A href=base::href("/usage")>"Usage"</A>
                    <LinkBadge state=live.link/>
                    {session::signed_in().map(|who| view! {
                        <form class="session" method="post" action=base::href("/logout")>
                            <span class="session-user">{format!("{} ({})", who.name, who.role)}</span>
                            <button type="submit" class="session-logout">"Log out"</button>
                        </form>
                    })}
                </nav>
                <main>
                    <Routes fallback=pages::NotFound>
                        <Route path=path!("/") view=pages::Overview/>
                        <Route path=path!("/nodes") view=pages::NodesPage/>
                        <Route path=path!("/gpus") view=pages::GpusPage/>
                        <Route path=path!("/tasks") view=pages::TasksPage/>
                        <Route path=path!("/vps") view=pages::VpsPage/>
                        <Route path=path!("/docker") view=pages::DockerPage/>
                        <Route path=path!("/usage") view=pages::UsagePage/>
                    </Routes>
                </main>
            </div>
        </Router>
    }
}

/// Whether live updates are flowing.
#[component]
fn LinkBadge(state: RwSignal<LinkState>) -> impl IntoView {
    view! {
        <div class="link-badge" data-link=move || state.get().as_str()>
            {move || state.get().label()}
        </div>
    }
}
