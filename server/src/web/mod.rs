//! The HTTP surface: server functions under `/api`, the widget's files under `/booket`,
//! and (in demo mode) the demo pages. Headers, limits and the origin and rate checks that
//! apply to everything live here.
//!
//! (About 600 lines: the router with its layers, the origin check, the read and write
//! budgets and their tests; uploads and clients are in their own files.)

pub mod clients;
pub mod connection;
pub mod deadline;
pub mod hints;
mod manage;
mod reads;
pub mod uploads;

use crate::booking::Booket;
use crate::config::Config;
use crate::web::clients::{client_of, retry_after_secs, Budgets, Spend};
use app::api::Backend;
use app::domain::BookingError;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use tower_http::compression::predicate::SizeAbove;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

/// What every request handler needs. One `Arc`, so the per-request clones axum makes
/// cost one atomic increment (they showed up in profiles under load).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub booket: Arc<Booket>,
    /// The core for the read functions (element, week), which take no caller: one for
    /// every read, so a cached week costs no allocation for it.
    reader: Arc<dyn Backend>,
    pub config: Arc<Config>,
    /// Reads (element, week) and writes (reserve, release, book) per client.
    pub budgets: Arc<Budgets>,
    /// Places for bookings that send their files on to Exchange (`max_concurrent_uploads`).
    pub uploads: Arc<tokio::sync::Semaphore>,
    /// Places for bookings that read files from the client (`max_concurrent_upload_reads`).
    pub upload_reads: Arc<tokio::sync::Semaphore>,
    /// Reading places taken per client.
    pub uploads_by_client: Arc<std::sync::Mutex<std::collections::HashMap<IpAddr, usize>>>,
    /// Booket's own origins: `public_url`'s, and, when that only follows a loopback
    /// listener, its `localhost` spellings too.
    pub own_origins: Vec<String>,
    pub metrics: crate::metrics::Metrics,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The request id's header, set on every request and answer.
const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// Request ids: a random prefix per process and a counter, e.g. `3f9a1c0e5b7d2a64-1a`.
/// Unique like a UUID for our purposes, without a call into the OS per request.
#[derive(Clone)]
struct RequestIds {
    prefix: Arc<str>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl RequestIds {
    fn new() -> Self {
        let mut seed = [0u8; 8];
        getrandom::getrandom(&mut seed).expect("the OS random source works");
        RequestIds {
            prefix: format!("{:016x}", u64::from_be_bytes(seed)).into(),
            next: Arc::default(),
        }
    }
}

impl tower_http::request_id::MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<tower_http::request_id::RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Formatted on the stack (16 hex digits, '-', at most 16 more): one allocation per
        // request, the header value's own, where `format!` made two.
        const MAX: usize = 16 + 1 + 16;
        let mut id = [0u8; MAX];
        let mut rest = &mut id[..];
        std::io::Write::write_fmt(&mut rest, format_args!("{}-{n:x}", self.prefix)).ok()?;
        let len = MAX - rest.len();
        HeaderValue::from_bytes(&id[..len])
            .ok()
            .map(tower_http::request_id::RequestId::new)
    }
}

impl AppState {
    pub fn new(booket: Arc<Booket>, config: Arc<Config>, metrics: crate::metrics::Metrics) -> Self {
        let budgets = Arc::new(Budgets::new(
            config.server.read_rate_limit_per_minute,
            config.server.rate_limit_per_minute,
        ));
        // Clients whose budget has filled up again are forgotten once a minute, so a
        // stream of new addresses cannot grow the limiters' state without bound.
        let weak = Arc::downgrade(&budgets);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            tick.tick().await;
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(b) => b.prune(),
                    None => break,
                }
            }
        });
        AppState(Arc::new(Shared {
            reader: Arc::new(crate::booking::ForCaller {
                booket: booket.clone(),
                caller: crate::booking::Caller::default(),
            }),
            booket,
            budgets,
            uploads: Arc::new(tokio::sync::Semaphore::new(
                config.server.max_concurrent_uploads,
            )),
            upload_reads: Arc::new(tokio::sync::Semaphore::new(
                config.server.max_concurrent_upload_reads,
            )),
            uploads_by_client: Arc::default(),
            own_origins: own_origins(&config.server),
            config,
            metrics,
        }))
    }
}

/// The Content-Security-Policy of Booket's own pages; the widget runs under it (no inline
/// script, wasm allowed).
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

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

/// The private listener's routes: `/metrics`, `/healthz` (the process answers) and
/// `/readyz` (it can book: tokens and calendars; 503 while shutting down). For the
/// monitoring network and the orchestrator only — never route it through the proxy.
pub fn private_router(booket: Arc<Booket>, draining: Arc<std::sync::atomic::AtomicBool>) -> Router {
    let metrics = booket.metrics().clone();
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || async move { metrics_answer(&metrics) }),
        )
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
        .route(
            "/readyz",
            axum::routing::get(move || async move {
                if draining.load(std::sync::atomic::Ordering::SeqCst) {
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        axum::Json(serde_json::json!({"ready": false, "draining": true})),
                    )
                        .into_response();
                }
                let (ready, calendars) = booket.readiness().await;
                let status = if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                (
                    status,
                    [(header::CACHE_CONTROL, "no-store")],
                    axum::Json(serde_json::json!({"ready": ready, "calendars": calendars})),
                )
                    .into_response()
            }),
        )
}

/// The public keys that verify receipts (JWKS, RFC 7517). Public by nature: any form
/// backend may fetch them, and may cache them for a few minutes.
fn jwks_answer(booket: &Booket) -> Response {
    match booket.receipt_signer() {
        Some(signer) => (
            [
                (header::CACHE_CONTROL, "public, max-age=300"),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                (header::CONTENT_TYPE, "application/jwk-set+json"),
            ],
            serde_json::to_string(&signer.jwks(booket.now())).unwrap_or_default(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The API's answers of this many bytes or more go gzipped to clients that take it; smaller
/// ones fit a packet either way (see the compression layer in [`router`]).
pub(crate) const COMPRESS_ABOVE: u16 = 1024;

/// How long a browser may keep one of the widget's files. The wasm, its glue and the
/// stylesheet are named after their content (tools/finish-widget.mjs), so a name never
/// changes what it points at: a year, never asked again. Everything else (the loader, which
/// names them, and the files pages may link by a fixed name) is kept five minutes, so a new
/// build reaches pages within five minutes, and is then asked again with
/// `If-Modified-Since` (ServeDir answers `304` when it is unchanged).
fn asset_cache_control(path: &str) -> HeaderValue {
    let name = path.rsplit('/').next().unwrap_or_default();
    let hashed = name
        .split_once('-')
        .and_then(|(_, rest)| rest.split_once('.'))
        .is_some_and(|(hash, _)| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
    HeaderValue::from_static(if hashed {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    })
}

/// What the public listener serves: the router inside the layers every request passes,
/// boxed once (as a route of a router would be, without the router's own match).
pub type PublicService =
    tower::util::BoxCloneSyncService<Request<Body>, Response, std::convert::Infallible>;

/// `demo` is the demo's pages (with the simulator), served under its own CSP.
pub fn router(state: AppState, assets: PathBuf, demo: Option<Router>) -> PublicService {
    let state_metrics = state.metrics.clone();
    let metrics_token = state.config.server.metrics_token.clone();
    let max_body = state.config.server.max_body_bytes;
    let cors = cors_layer(&state.config.server.allowed_origins);
    // The booking that carries the form's files may be as large as the upload limits allow
    // (plus room for the fields); every other call is small.
    let max_form = state.config.server.uploads.max_total_bytes + 2 * 1024 * 1024;
    let server = &state.config.server;
    let keys_of = state.booket.clone();
    let page_state = state.clone();
    // No request may take longer than its time-out, nor wait longer than `body_timeout`
    // for the next piece of its body (a trickling client is cut off). A request cut off
    // by its time-out is answered 503, which the widget words as "svarer ikke lige nu";
    // what it had written is left as any interrupted booking is (a hold lapses, files are
    // swept).
    let timeouts = |whole: std::time::Duration| {
        tower::ServiceBuilder::new()
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                whole,
            ))
            .layer(RequestBodyTimeoutLayer::new(server.body_timeout))
    };
    // A small body: at most `max_body_bytes`, all of it within `body_timeout`.
    let body_deadline = server.body_timeout;
    let small_body = || {
        tower::ServiceBuilder::new()
            .map_request(move |req: Request| {
                req.map(|b| crate::web::deadline::with_deadline(b, body_deadline))
            })
            .layer(RequestBodyLimitLayer::new(max_body))
    };
    // The booking's own page (the link in the confirmation mail): small bodies, the
    // ordinary request time-out, a trickling body cut off as for every call.
    let booking_page = Router::new()
        .route(
            "/booking/{token}",
            axum::routing::get(manage::show).post(manage::act).layer(
                tower::ServiceBuilder::new()
                    .layer(RequestBodyLimitLayer::new(max_body))
                    .layer(timeouts(server.request_timeout)),
            ),
        )
        .with_state(page_state);
    // Every API answer: CORS for the pages on the allow-list, never stored, and compressed
    // for the clients that take it. The reads compress their own (reads.rs).
    let api_headers = || {
        tower::ServiceBuilder::new()
            .layer(cors.clone())
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            ))
    };
    let api_layers = || {
        api_headers()
            // A week's answer is ~11 KB of JSON and ~2.9 KB gzipped: a quarter of the
            // bytes for every week a citizen's phone loads (on a first visit the two
            // first weeks share the line with the wasm; the browser bench could not
            // tell the difference from its noise). zlib's fastest level took ~35 µs
            // for a week's answer, its default ~55 µs for 230 B less; clients that do
            // not ask (`Accept-Encoding`) get it plain. A week kept between requests
            // goes out in the gzip made once with it (reads.rs): compressing it for
            // every browser ran cached reads at a third of the rate of plain ones. An
            // answer under 1 KB (an element, an error) goes plain: it fits one packet
            // either way, and setting up the compressor for it cut element reads to a
            // third of their rate too.
            .layer(
                tower_http::compression::CompressionLayer::new()
                    .quality(tower_http::CompressionLevel::Fastest)
                    .compress_when(SizeAbove::new(COMPRESS_ABOVE)),
            )
    };
    // The reads every citizen makes (most answered from memory): the API's headers (they
    // compress their own answers, as the layer would: ~1,500 instructions a read less) and
    // a small body around the function itself, one service for both paths (`reads::serve`
    // takes GET, HEAD and POST, as a method route would), served ahead of the router
    // (`reads::ReadsFirst`, inside the layers every request passes; see the end of this
    // function). As routes of the router each read paid for the path match and a clone
    // of its boxed route, CORS lists and all: with the three security headers as three
    // layers, 7,100 of a cached read's 55,000 instructions, now spent on nothing
    // (docs/contributors/benchmarks.md).
    //
    // They carry no per-request timers: with them the cached reads of bench/run.sh fell
    // to 0.40 of bare axum at 500 clients, without them 0.46. Their bodies are small
    // (`max_body_bytes`) and must arrive whole within `body_timeout`, a deadline that
    // arms a timer only for a body not already there (deadline.rs); the header-read
    // time-out still applies, and their Graph reads have the client's own time-outs.
    //
    // They may also be asked with GET and the arguments in the query, as the loader
    // does: a page can then name them in its `<head>` (`<link rel="preload">`, which only
    // GETs), so the browser asks while it reads the HTML (web/hints.rs).
    let read = tower::ServiceBuilder::new()
        .map_response(IntoResponse::into_response)
        .layer(api_headers())
        .map_response(IntoResponse::into_response)
        .layer(small_body())
        .service(axum::handler::Handler::with_state(
            reads::serve,
            state.clone(),
        ));
    let api = Router::new()
        .route(
            &format!(
                "{}/{}",
                app::contract::PREFIX,
                app::contract::BOOK_FORM.name
            ),
            post(server_fn).layer(
                tower::ServiceBuilder::new()
                    // The files are streamed within the upload limits (uploads.rs), not
                    // held to axum's default 2 MB.
                    .layer(axum::extract::DefaultBodyLimit::disable())
                    .layer(RequestBodyLimitLayer::new(max_form))
                    .layer(timeouts(server.upload_timeout)),
            ),
        )
        .route(
            "/api/{*fn_name}",
            post(server_fn).layer(
                tower::ServiceBuilder::new()
                    .layer(RequestBodyLimitLayer::new(max_body))
                    .layer(timeouts(server.request_timeout)),
            ),
        )
        .layer(api_layers())
        .with_state(state);
    // The widget's files are public: any page may load them (module scripts and the wasm
    // are fetched with CORS). Whether a page may *book* is decided at /api.
    let assets = Router::new()
        .nest_service(
            "/booket",
            ServeDir::new(assets)
                .precompressed_br()
                .precompressed_gzip(),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ))
        .layer(axum::middleware::map_response(
            |uri: axum::http::Uri, mut res: Response| async move {
                if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
                    res.headers_mut()
                        .insert(header::CACHE_CONTROL, asset_cache_control(uri.path()));
                }
                res
            },
        ));
    let metrics = state_metrics;
    let mut router = Router::new()
        .merge(api)
        .merge(assets)
        .merge(booking_page)
        .route(
            "/.well-known/jwks.json",
            axum::routing::get(move || async move { jwks_answer(&keys_of) }),
        );
    // /metrics tells an outsider how busy the service is and how Graph answers: only with
    // the bearer token (`metrics_token`), or on the private `private_listen`. The local demo
    // shows it openly.
    let token = metrics_token
        .as_ref()
        .map(|t| format!("Bearer {}", secrecy::ExposeSecret::expose_secret(t)));
    if token.is_some() || demo.is_some() {
        router = router.route(
            "/metrics",
            axum::routing::get(move |headers: HeaderMap| async move {
                let authorised = match &token {
                    None => true,
                    Some(want) => headers.get(header::AUTHORIZATION).is_some_and(|got| {
                        use subtle::ConstantTimeEq;
                        got.as_bytes().ct_eq(want.as_bytes()).into()
                    }),
                };
                if authorised {
                    metrics_answer(&metrics)
                } else {
                    StatusCode::UNAUTHORIZED.into_response()
                }
            }),
        );
    }
    if let Some(pages) = demo {
        router = router.merge(pages.layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        )));
    }
    // Every request gets an id (kept from `x-request-id` if the proxy set one), logged on
    // its span and returned in the answer.
    // (The span's fields are worked out only when the span is logged at all: not at
    // `warn`, where a read then pays nothing for them. The header is named by a
    // `HeaderName`, not a `&str` that every lookup would parse again.)
    let trace =
        tower_http::trace::TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
            tracing::info_span!(
                "request",
                id = %req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-"),
                method = %req.method(),
                path = %logged_path(req.uri().path())
            )
        });
    // One ServiceBuilder stack around the reads and the router, not `Router::layer`: that
    // wraps and boxes every route in the stack, and each request then clones the route's
    // nested boxes; around the router the stack is one service, cloned as a whole (a
    // router is an `Arc`). The same layers run for every request, matched or not. The
    // stack is boxed once and served as it is, not as the fallback of one more router,
    // whose match and boxed route every request paid for nothing.
    let stack = tower::ServiceBuilder::new()
        .map_response(security_headers)
        .map_request(|mut req: Request<Body>| {
            if req
                .headers()
                .get(&REQUEST_ID)
                .is_some_and(|v| !is_usable_request_id(v))
            {
                req.headers_mut().remove(&REQUEST_ID);
            }
            req
        })
        .layer(tower_http::request_id::SetRequestIdLayer::new(
            REQUEST_ID,
            RequestIds::new(),
        ))
        .layer(tower_http::request_id::PropagateRequestIdLayer::new(
            REQUEST_ID,
        ))
        .layer(trace)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .service(reads::ReadsFirst {
            reads: read,
            rest: router,
        });
    PublicService::new(stack)
}

/// The headers every answer carries: no framing, no type sniffing, and the referrer cut to
/// the origin across sites. An answer that set its own `Referrer-Policy` or
/// `X-Frame-Options` keeps it. One step for all three: as three `SetResponseHeader` layers
/// they were three more services and futures every request went through.
fn security_headers<B>(res: axum::http::Response<B>) -> Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let mut res = res.into_response();
    let headers = res.headers_mut();
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("strict-origin-when-cross-origin"));
    headers
        .entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    // No credentials: the widget needs no cookies. The answers vary with `Origin` (whether
    // it is on the list) and with nothing else a preflight asks: the methods and headers
    // allowed are fixed lists, not the request's own echoed back, so the layer's default
    // `Vary` (`origin, access-control-request-method, access-control-request-headers`)
    // named two headers no answer depends on, in every API answer (63 bytes) and built
    // anew for each.
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::POST, Method::GET])
        .allow_headers([header::CONTENT_TYPE, header::ACCEPT])
        .vary([header::ORIGIN])
}

/// Booket's own origins (see [`Shared::own_origins`]).
pub fn own_origins(server: &crate::config::ServerConfig) -> Vec<String> {
    let Ok(url) = url::Url::parse(&server.public_url) else {
        return Vec::new();
    };
    let mut out = vec![url.origin().ascii_serialization()];
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    if !server.public_url_configured && loopback {
        if let Some(port) = url.port_or_known_default() {
            out.push(format!("{}://localhost:{port}", url.scheme()));
        }
    }
    out
}

/// Whether a browser request from `origin` may use the API: one of Booket's own origins
/// (from `public_url`, never from what the request's Host says) or one on the allow-list.
pub fn origin_allowed(origin: &str, own: &[String], allowed: &[String]) -> bool {
    allowed.iter().any(|a| a == "*" || a == origin) || own.iter().any(|o| o == origin)
}

/// Browsers send `Origin` with every cross-origin POST, and a form-encoded POST runs even
/// when CORS hides the answer, so the check has to happen here, before the function runs.
/// An `Origin` that cannot be read is refused (fails closed); none at all is a client
/// that is not a browser page, which CORS does not concern.
fn check_origin(state: &AppState, req: &Request) -> Result<(), BookingError> {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().map_err(|_| {
        tracing::warn!("API call with an unreadable Origin");
        BookingError::ForbiddenOrigin
    })?;
    if origin_allowed(
        origin,
        &state.own_origins,
        &state.config.server.allowed_origins,
    ) {
        Ok(())
    } else {
        tracing::warn!(%origin, "API call from an origin that is not allowed");
        Err(BookingError::ForbiddenOrigin)
    }
}

/// The Prometheus text answer.
pub fn metrics_answer(metrics: &crate::metrics::Metrics) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
        .into_response()
}

/// The path as the request log shows it: a booking's link is its key, so the log names
/// the route, never the token.
fn logged_path(path: &str) -> &str {
    if path.starts_with("/booking/") {
        "/booking/…"
    } else {
        path
    }
}

/// A request id a client or proxy sent is kept only when it is a short token; anything
/// else (long, or with characters a log could be confused by) is replaced by our own.
fn is_usable_request_id(v: &HeaderValue) -> bool {
    (1..=64).contains(&v.len())
        && v.as_bytes()
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Runs a server function with the backend in context, then gives typed errors their
/// proper status (server_fn answers every error with 500).
async fn server_fn(State(state): State<AppState>, req: Request<Body>) -> Response {
    // Found once for the request: the metrics' label (unknown paths grouped as "other",
    // so labels stay bounded) and what the run below does with it.
    let endpoint = app::contract::by_path(req.uri().path());
    let res = match check_origin(&state, &req) {
        Ok(()) => run_server_fn(state.clone(), endpoint, req).await,
        Err(refused) => typed_error(refused),
    };
    state
        .metrics
        .requests
        .with_label_values(&[endpoint.map_or("other", |e| e.name), res.status().as_str()])
        .inc();
    res
}

async fn run_server_fn(
    state: AppState,
    endpoint: Option<&'static app::contract::Endpoint>,
    req: Request<Body>,
) -> Response {
    let book_form = endpoint == Some(&app::contract::BOOK_FORM);
    if book_form && !has_multipart_boundary(req.headers()) {
        // server_fn would panic on a multipart request without a boundary.
        return typed_error(BookingError::invalid("request"));
    }
    let spend = match endpoint {
        Some(e) if e.write => Spend::Write,
        _ => Spend::Read,
    };
    let client = requesting_client(&state, &req);
    // Calls also count across the instances (the shared store, when there is one).
    let spent = match state.budgets.spend(spend, client) {
        Ok(()) => match spend {
            Spend::Write => state.booket.spend_shared_write(client).await,
            Spend::Read => state.booket.spend_shared_read(client).await,
        }
        .map_err(std::time::Duration::from_secs),
        other => other,
    };
    if let Err(wait) = spent {
        let secs = retry_after_secs(wait);
        let mut res = typed_error(BookingError::RateLimited {
            retry_after: secs.min(u64::from(u32::MAX)) as u32,
        });
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return res;
    }
    if book_form {
        // Boxed: a booking's future (multipart, files, Exchange writes) is several KB, and
        // every layer moves this function's future; the reads should not carry its size.
        return Box::pin(crate::web::uploads::book_form(state, req, client)).await;
    }
    // The two reads every citizen makes run straight (reads.rs).
    let max_body = state.config.server.max_body_bytes;
    if endpoint == Some(&app::contract::WEEK) {
        return reads::run::<app::api::GetWeek>(state.reader.clone(), req, max_body).await;
    }
    if endpoint == Some(&app::contract::ELEMENT) {
        return reads::run::<app::api::GetElement>(state.reader.clone(), req, max_body).await;
    }
    // The writes learn who asks (the per-client caps); the reads need not.
    let backend = match spend {
        Spend::Read => state.reader.clone(),
        Spend::Write => Arc::new(crate::booking::ForCaller {
            booket: state.booket.clone(),
            caller: crate::booking::Caller::client(client),
        }) as Arc<dyn Backend>,
    };
    let res = app::api::with_backend(backend, leptos::server_fn::axum::handle_server_fn(req))
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

/// Who asks, for the per-client budgets: the connection's peer, or what a trusted proxy
/// says (clients.rs).
fn requesting_client(state: &AppState, req: &Request) -> IpAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let server = &state.config.server;
    client_of(
        peer,
        req.headers(),
        &server.trusted_proxies,
        server.forwarded_header,
    )
}

/// `multipart/form-data; boundary=…` with a non-empty boundary.
fn has_multipart_boundary(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = ct.split(';').map(str::trim);
    parts
        .next()
        .is_some_and(|m| m.eq_ignore_ascii_case("multipart/form-data"))
        && parts.any(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("boundary") && !v.trim().trim_matches('"').is_empty()
            })
        })
}

/// A panic anywhere in a request becomes a plain, typed 500 (never a dropped connection
/// or a stack trace); the panic itself goes to the log.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    typed_error(BookingError::Internal)
}

pub(crate) fn typed_error(e: BookingError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("serverfnerror", "1")], axum::Json(e)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_content_named_files_are_kept_for_a_year() {
        let year = "public, max-age=31536000, immutable";
        for path in [
            "/booket/app-0123456789abcdef.wasm",
            "/booket/app-fedcba9876543210.js",
            "/booket/booket-00aa11bb22cc33dd.css",
        ] {
            assert_eq!(asset_cache_control(path), year, "{path}");
        }
        for path in [
            "/booket/booket.js",
            "/booket/booket.css",
            "/booket/demo.css",
            "/booket/app-0123456789abcde.wasm",
            "/booket/app-0123456789abcdeg.wasm",
            "/booket/files.json",
        ] {
            assert_eq!(asset_cache_control(path), "public, max-age=300", "{path}");
        }
    }

    #[test]
    fn origins_are_our_own_or_listed() {
        let own = vec!["https://booking.kommune.dk".to_string()];
        let allowed = vec!["https://selvbetjening.kommune.dk".to_string()];
        assert!(origin_allowed("https://booking.kommune.dk", &own, &allowed));
        assert!(origin_allowed(
            "https://selvbetjening.kommune.dk",
            &own,
            &allowed
        ));
        assert!(!origin_allowed("https://evil.example", &own, &allowed));
        assert!(!origin_allowed(
            "https://booking.kommune.dk.evil.example",
            &own,
            &allowed
        ));
        assert!(!origin_allowed("http://booking.kommune.dk", &own, &allowed));
        assert!(!origin_allowed("null", &own, &allowed));
        assert!(origin_allowed(
            "https://evil.example",
            &own,
            &["*".to_string()]
        ));
    }

    #[test]
    fn the_log_never_shows_a_booking_links_token() {
        assert_eq!(logged_path("/booking/eyJhbGciOi.x.y"), "/booking/…");
        assert_eq!(logged_path("/api/week"), "/api/week");
    }

    #[test]
    fn request_ids_are_the_prefix_and_a_hex_counter() {
        use tower_http::request_id::MakeRequestId;
        let mut ids = RequestIds::new();
        let req = Request::new(Body::empty());
        for (n, hex) in [
            (0u64, "0"),
            (1, "1"),
            (0x1a, "1a"),
            (0xabc, "abc"),
            (u64::MAX, "ffffffffffffffff"),
        ] {
            ids.next.store(n, std::sync::atomic::Ordering::Relaxed);
            let id = ids.make_request_id(&req).unwrap();
            let want = format!("{}-{hex}", ids.prefix);
            assert_eq!(id.header_value().to_str().unwrap(), want);
            assert!(is_usable_request_id(id.header_value()));
        }
    }

    #[test]
    fn request_ids_from_outside_are_kept_only_when_short_tokens() {
        for ok in ["abc-123", "3f9a1c0e5b7d2a64-1a", "req:42.x_y"] {
            assert!(is_usable_request_id(&HeaderValue::from_static(ok)), "{ok}");
        }
        let long = "a".repeat(65);
        for bad in ["", "a b", "x\"y", "<script>", long.as_str(), "ünï"] {
            let v = HeaderValue::from_bytes(bad.as_bytes()).unwrap();
            assert!(!is_usable_request_id(&v), "{bad}");
        }
    }
}
