//! The wasm entry point: point server functions at the Booket server and mount every
//! booking placeholder on the page.

fn main() {
    console_error_panic_hook::set_once();
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
