//! Thin bindings to xterm.js 6 and its fit addon, imported as ES modules the host serves under
//! `/xterm/` (copied from npm by scripts/build-site.sh), and the terminal session: xterm.js ⇄
//! websocket with the original's JSON frames. Browser only.

use hakuriver_model::env::{TerminalInput, TerminalOutput};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlElement, MessageEvent, WebSocket};

// Relative to the wasm-bindgen module in `<base>/pkg/`, so a base path needs no rebuild.
#[wasm_bindgen(raw_module = "../xterm/xterm.mjs")]
extern "C" {
    pub type Terminal;
    #[wasm_bindgen(constructor)]
    fn new(options: &JsValue) -> Terminal;
    #[wasm_bindgen(method)]
    fn open(this: &Terminal, parent: &HtmlElement);
    #[wasm_bindgen(method)]
    fn write(this: &Terminal, data: &str);
    #[wasm_bindgen(method)]
    fn focus(this: &Terminal);
    #[wasm_bindgen(method)]
    fn dispose(this: &Terminal);
    #[wasm_bindgen(method, getter)]
    fn rows(this: &Terminal) -> u16;
    #[wasm_bindgen(method, getter)]
    fn cols(this: &Terminal) -> u16;
    #[wasm_bindgen(method, js_name = onData)]
    fn on_data(this: &Terminal, callback: &Closure<dyn FnMut(String)>) -> JsValue;
    #[wasm_bindgen(method, js_name = onResize)]
    fn on_resize(this: &Terminal, callback: &Closure<dyn FnMut(JsValue)>) -> JsValue;
    #[wasm_bindgen(method, js_name = loadAddon)]
    fn load_addon(this: &Terminal, addon: &FitAddon);
}

#[wasm_bindgen(raw_module = "../xterm/addon-fit.mjs")]
extern "C" {
    pub type FitAddon;
    #[wasm_bindgen(constructor)]
    fn new() -> FitAddon;
    #[wasm_bindgen(method)]
    fn fit(this: &FitAddon);
}

fn send(ws: &WebSocket, frame: &TerminalInput) {
    if ws.ready_state() == WebSocket::OPEN {
        if let Ok(text) = serde_json::to_string(frame) {
            let _ = ws.send_with_str(&text);
        }
    }
}

/// An open terminal: dropping it closes the websocket and disposes of xterm.js.
pub struct Session {
    ws: WebSocket,
    term: Terminal,
    _closures: Vec<Box<dyn std::any::Any>>,
    _resize_listener: window_resize::Listener,
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.ws.close();
        self.term.dispose();
    }
}

/// Opens xterm.js in `element` and connects it to the terminal websocket at `path` (same origin);
/// it fits the element and follows window resizes, telling the far side the new size.
pub fn open(element: &HtmlElement, path: &str) -> Result<Session, JsValue> {
    let location = web_sys::window().ok_or("no window")?.location();
    let scheme = if location.protocol()? == "https:" { "wss" } else { "ws" };
    let ws = WebSocket::new(&format!("{scheme}://{}{path}", location.host()?))?;

    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"cursorBlink".into(), &JsValue::TRUE)?;
    js_sys::Reflect::set(&options, &"fontSize".into(), &JsValue::from(14))?;
    let term = Terminal::new(&options);
    let fit = FitAddon::new();
    term.load_addon(&fit);
    term.open(element);
    fit.fit();
    term.focus();

    let writer: Terminal = term.clone().unchecked_into();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let Some(text) = e.data().as_string() else { return };
        match serde_json::from_str::<TerminalOutput>(&text) {
            Ok(TerminalOutput::Output { data }) => writer.write(&data),
            Ok(TerminalOutput::Error { data }) => writer.write(&format!("\x1b[31m{data}\x1b[0m")),
            Err(_) => {}
        }
    });
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

    let closed: Terminal = term.clone().unchecked_into();
    let on_close = Closure::<dyn FnMut()>::new(move || closed.write("\r\n\x1b[2m[session closed]\x1b[0m\r\n"));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));

    let sized: Terminal = term.clone().unchecked_into();
    let (ws_open, ws_data, ws_resize) = (ws.clone(), ws.clone(), ws.clone());
    let on_open = Closure::<dyn FnMut()>::new(move || {
        send(&ws_open, &TerminalInput::Resize { rows: sized.rows(), cols: sized.cols() });
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));

    let on_data = Closure::<dyn FnMut(String)>::new(move |data: String| send(&ws_data, &TerminalInput::Input { data }));
    let _ = term.on_data(&on_data);
    let on_resize = Closure::<dyn FnMut(JsValue)>::new(move |size: JsValue| {
        let get = |k: &str| js_sys::Reflect::get(&size, &k.into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0) as u16;
        send(&ws_resize, &TerminalInput::Resize { rows: get("rows"), cols: get("cols") });
    });
    let _ = term.on_resize(&on_resize);
    let resize_listener = window_resize::Listener::new(move || fit.fit())?;

    Ok(Session {
        ws,
        term,
        _closures: vec![
            Box::new(on_message),
            Box::new(on_close),
            Box::new(on_open),
            Box::new(on_data),
            Box::new(on_resize),
        ],
        _resize_listener: resize_listener,
    })
}

/// A window `resize` listener, removed when dropped.
mod window_resize {
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;

    pub struct Listener {
        callback: Closure<dyn FnMut()>,
    }

    impl Listener {
        pub fn new(f: impl FnMut() + 'static) -> Result<Self, JsValue> {
            let callback = Closure::<dyn FnMut()>::new(f);
            web_sys::window()
                .ok_or("no window")?
                .add_event_listener_with_callback("resize", callback.as_ref().unchecked_ref())?;
            Ok(Listener { callback })
        }
    }

    impl Drop for Listener {
        fn drop(&mut self) {
            if let Some(w) = web_sys::window() {
                let _ = w.remove_event_listener_with_callback("resize", self.callback.as_ref().unchecked_ref());
            }
        }
    }
}
