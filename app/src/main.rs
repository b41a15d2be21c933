//! The wasm entry point: point server functions at the Booket server and mount every
//! booking placeholder on the page.

fn main() {
    // A bug should at least say where it happened in the browser's console.
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("Booket: {info}").into());
    }));
    // The loader (public/booket.js) records the server it was loaded from, so the widget
    // works on other origins too. Same-origin pages need nothing.
    let base = js_sys::Reflect::get(&js_sys::global(), &"booketServer".into())
        .ok()
        .and_then(|v| v.as_string());
    if let Some(url) = base {
        app::booking::client::set_server(&url);
    }
    app::booking::mount_all();
}
