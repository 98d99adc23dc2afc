//! The terminal component: xterm.js attached to a terminal websocket (`path`, same origin) once
//! the page is hydrated; the server renders the empty box.

use leptos::prelude::*;

#[component]
pub fn TerminalView(path: String, #[prop(into)] label: String) -> impl IntoView {
    let node = NodeRef::<leptos::html::Div>::new();
    #[cfg(feature = "hydrate")]
    {
        let session = StoredValue::new_local(None::<crate::xterm::Session>);
        Effect::new(move |_| {
            if let Some(element) = node.get() {
                match crate::xterm::open(&element, &path) {
                    Ok(s) => session.set_value(Some(s)),
                    Err(e) => leptos::logging::error!("cannot open the terminal: {e:?}"),
                }
            }
        });
        on_cleanup(move || session.set_value(None));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
    view! { <div class="terminal" node_ref=node role="application" aria-label=label data-testid="terminal"></div> }
}
