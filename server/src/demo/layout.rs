//! What every demo page shares: the pages' state and the page frame with its navigation.

use super::drafts;
use crate::config::Config;
use crate::sim::Simulator;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use html_escape::encode_text as esc;

#[derive(Clone)]
pub struct DemoPages {
    pub sim: Simulator,
    pub config: std::sync::Arc<Config>,
    pub booket: std::sync::Arc<crate::booking::Booket>,
    pub drafts: std::sync::Arc<drafts::Drafts>,
    /// The widget's build, for the form pages' preload hints (web/hints.rs).
    pub assets: std::path::PathBuf,
}

pub fn page(title: &str, body: &str) -> Response {
    page_with("da", title, "", body)
}

/// A page with `head` (preload hints) in its `<head>`, after the loader: the loader is
/// asked for first, so the hints (nine requests with two placeholders) never keep it
/// waiting for one of the six connections a browser opens to a server over HTTP/1.1.
pub fn page_with(lang: &str, title: &str, head: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<link rel=\"icon\" href=\"data:,\">\n<link rel=\"stylesheet\" href=\"/booket/demo.css\">\n\
         <script type=\"module\" src=\"/booket/booket.js\"></script>\n{head}</head>\n<body>\n{body}\n</body>\n</html>\n",
        esc(title)
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

pub fn nav() -> &'static str {
    "<nav class=\"demo-nav\" aria-label=\"Demo\"><a href=\"/\">Borgerens blanket</a> \
     <a href=\"/simulator\">Simuleret Outlook-kalender</a> <a href=\"/designer\">Designer</a></nav>"
}
