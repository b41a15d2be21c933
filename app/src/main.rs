//! The wasm entry point: point server functions at the Booket server and mount every
//! booking placeholder on the page.

// Talc instead of Rust's default allocator (dlmalloc): about 200 B less in the download
// (brotli), and made for wasm (docs/contributors/benchmarks.md).
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

fn main() {
    // A bug should at least say where it happened in the browser's console.
    std::panic::set_hook(Box::new(|info| {
        if let Some(at) = info.location() {
            let line = js_sys::Number::from(at.line());
            web_sys::console::error_3(&"Booket: a bug at".into(), &at.file().into(), &line);
        }
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

/// Mounts the placeholders a page added after the start (the loader watches for them).
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn mount() {
    app::booking::mount_all();
}
