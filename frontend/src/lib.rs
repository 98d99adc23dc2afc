#![recursion_limit = "256"]
//! The dashboard's WASM entry: hydrates the page the host rendered.

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(hakuriver_app::App);
}
