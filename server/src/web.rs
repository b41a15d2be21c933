//! The HTTP surface: server functions under `/api`, the widget's files under `/booket`,
//! and (in demo mode) the demo pages. Headers and limits that apply to everything live here.

use crate::booking::Booket;
use crate::config::Config;
use crate::demo::DemoPages;
use app::api::{Backend, BackendHandle};
use app::domain::BookingError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use std::path::PathBuf;
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

#[derive(Clone)]
pub struct AppState {
    pub booket: Arc<Booket>,
    pub config: Arc<Config>,
}

/// Where the built widget (Trunk's `dist/`) is: `BOOKET_ASSETS`, else `./dist`, else the
/// workspace's `dist/` next to this crate.
pub fn default_assets_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BOOKET_ASSETS") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("dist");
    if local.join("booket.js").exists() {
        return local;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../dist"))
}

pub fn router(state: AppState, assets: PathBuf, demo: Option<DemoPages>) -> Router {
    let max_body = state.config.server.max_body_bytes;
    let cors = cors_layer(&state.config.server.allowed_origins);
    // The booking that carries the form's files may be as large as the upload limits allow
    // (plus room for the fields); every other call is small.
    let max_form = state.config.server.uploads.max_total_bytes + 2 * 1024 * 1024;
    let api = Router::new()
        .route(
            "/api/book_form",
            post(server_fn).layer(RequestBodyLimitLayer::new(max_form)),
        )
        .route(
            "/api/{*fn_name}",
            post(server_fn).layer(RequestBodyLimitLayer::new(max_body)),
        )
        .with_state(state)
        .layer(cors);
    let mut router = Router::new().merge(api).nest_service(
        "/booket",
        ServeDir::new(assets)
            .precompressed_br()
            .precompressed_gzip(),
    );
    if let Some(pages) = demo {
        router = router.merge(pages.router());
    }
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(list))
        .allow_methods([Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::ACCEPT])
}

/// Runs a server function with the backend in context, then gives typed errors their
/// proper status (server_fn answers every error with 500).
async fn server_fn(State(state): State<AppState>, req: Request<Body>) -> Response {
    let handle = BackendHandle(state.booket.clone() as Arc<dyn Backend>);
    let res = leptos_axum::handle_server_fns_with_context(
        move || leptos::prelude::provide_context(handle.clone()),
        req,
    )
    .await
    .into_response();
    if res.status() == StatusCode::BAD_REQUEST && !res.headers().contains_key("serverfnerror") {
        // Unknown function: answer in the same typed shape as every other error.
        return typed_error(BookingError::invalid("function"));
    }
    if res.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !res.headers().contains_key("serverfnerror")
    {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    if let Ok(e) = serde_json::from_slice::<BookingError>(&bytes) {
        parts.status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn typed_error(e: BookingError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("serverfnerror", "1")], axum::Json(e)).into_response()
}
