#![recursion_limit = "256"]
//! The dashboard's WASM entry: hydrates the page the host rendered.

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Server functions live under the base path too (`network.base_path`).
    let base = hakuriver_app::base::base_path();
    if !base.is_empty() {
        leptos::server_fn::client::set_server_url(Box::leak(base.into_boxed_str()));
    }
    leptos::mount::hydrate_body(hakuriver_app::App);
}
