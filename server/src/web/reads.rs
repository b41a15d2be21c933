//! The two reads every citizen makes (`/api/element`, `/api/week`), run straight rather
//! than through server_fn's generic handler.
//!
//! Same functions, same arguments, same answers: the body is parsed into the function's
//! own argument struct as server_fn parses a `PostUrl` body (form encoding; see [`parse`])
//! and the function's own body runs (`ServerFn::run_body`), so validation stays in one
//! place (`app::api`). What is skipped is the per-call work of the generic path: finding
//! the function in its registry by path, boxing request and answer into its wrappers, and
//! the answer's re-encoding. What that saved is within the benchmark's noise on these
//! machines (docs/contributors/benchmarks.md, "Where a cached read's time goes"); it is kept
//! because it is less work per read for the same behaviour, which every read test checks
//! through this path. It also compresses its own answers: a kept week goes in the gzip made
//! once with it to the browsers that take gzip, instead of being compressed for each of
//! them (the week's body, `app::api::week_answer`, is the one `get_week` runs).

use crate::web::{typed_error, AppState};
use app::api::{Backend, GetElement, GetWeek};
use app::domain::BookingError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use leptos::server_fn::ServerFn;
use std::sync::Arc;

/// A read's answer: its JSON, and for a week kept between requests the gzip made once
/// with it (`booking/read.rs`).
pub struct Answer {
    json: axum::body::Bytes,
    gzip: Option<axum::body::Bytes>,
}

/// A read: its arguments as the function declares them, and its answer.
pub trait Read: serde::de::DeserializeOwned {
    fn answer(self) -> impl std::future::Future<Output = Result<Answer, BookingError>> + Send;
}

impl Read for GetElement {
    /// The function's own body.
    async fn answer(self) -> Result<Answer, BookingError> {
        let public = self.run_body().await?;
        let json = serde_json::to_vec(&public).map_err(|_| BookingError::Internal)?;
        Ok(Answer {
            json: json.into(),
            gzip: None,
        })
    }
}

impl Read for GetWeek {
    /// The function's own body (`app::api::week_answer`, which `get_week` runs too), keeping
    /// the gzip the function's wire format has no room for.
    async fn answer(self) -> Result<Answer, BookingError> {
        let week = app::api::week_answer(self.form, self.element, self.week, self.hold).await?;
        Ok(Answer {
            json: week.json,
            gzip: week.gzip,
        })
    }
}

/// Form-encoded arguments. Both reads take flat text arguments (`app::api`), which
/// `serde_urlencoded` reads as server_fn's serde_qs does (the nesting serde_qs adds is for
/// arguments these two do not have) in under half the instructions: serde_qs took 6,300
/// of the 65,000 instructions of a cached week read (callgrind). The tests below hold the
/// two to the same answers.
fn parse<F: serde::de::DeserializeOwned>(text: &str) -> Result<F, BookingError> {
    serde_urlencoded::from_str(text).map_err(|_| BookingError::invalid("request"))
}

/// Whether the answer should go gzipped, decided as the compression layer decides for
/// the other functions' answers (tower-http, which keeps its choice to itself): of the `gzip`,
/// `x-gzip` and `identity` entries of `Accept-Encoding` with a q-value above 0 the highest
/// wins, gzip on a tie; others and malformed q-values are passed over. The tests hold the
/// two to the same choices.
fn takes_gzip(headers: &axum::http::HeaderMap) -> bool {
    let mut best: Option<(u16, bool)> = None;
    let entries = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for entry in entries {
        let mut parts = entry.splitn(2, ';');
        let name = parts.next().unwrap_or_default().trim();
        let gzip = name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip");
        if !gzip && !name.eq_ignore_ascii_case("identity") {
            continue;
        }
        let q = match parts.next() {
            None => 1000,
            Some(q) => match q_value(q.trim()) {
                Some(q) => q,
                None => continue,
            },
        };
        if q > 0 && best.is_none_or(|b| (q, gzip) > b) {
            best = Some((q, gzip));
        }
    }
    best.is_some_and(|(_, gzip)| gzip)
}

/// A q-value (RFC 9110 §12.4.2: `q=` then 0 or 1 with at most three decimals) in
/// thousandths.
fn q_value(text: &str) -> Option<u16> {
    let value = text
        .strip_prefix("q=")
        .or_else(|| text.strip_prefix("Q="))?;
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .zip([100u16, 10, 1])
        .map(|(digit, weight)| u16::from(digit - b'0') * weight)
        .sum::<u16>();
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// A read's request as its route takes it: GET and HEAD (the arguments in the query) and
/// POST (in the body) go on to the API's function; any other method is 405 with the methods
/// a read takes, before it costs a read. (A browser's CORS preflight never gets here: the
/// CORS layer around answers it.)
pub async fn serve(state: State<AppState>, req: Request<Body>) -> Response {
    match *req.method() {
        Method::GET | Method::HEAD | Method::POST => super::server_fn(state, req).await,
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, HeaderValue::from_static("GET,HEAD,POST"))],
        )
            .into_response(),
    }
}

/// Runs the read `F` for `req` with `backend`. The arguments are the body of a POST, or
/// the query of a GET or HEAD (the same form encoding; their body is not read), at most
/// `max_body` bytes either way. The body's size and deadline are the route's layers'
/// business; here a body that could not be read is a bad request, as it is for every
/// server function. The reads compress their own answers (no compression layer around
/// them): an answer of `COMPRESS_ABOVE` bytes or more goes gzipped to a client that takes
/// gzip (`takes_gzip`) — a kept week in the gzip made once with it — and a smaller one
/// (an element, an error) plain, as the layer around the other functions decides.
pub async fn run<F: Read>(
    backend: Arc<dyn Backend>,
    req: Request<Body>,
    max_body: usize,
) -> Response {
    let gzip_wanted = takes_gzip(req.headers());
    let answer = async {
        let args: F = if matches!(*req.method(), Method::GET | Method::HEAD) {
            let query = req.uri().query().unwrap_or_default();
            if query.len() > max_body {
                return Err(BookingError::invalid("request"));
            }
            parse(query)?
        } else {
            let bytes = axum::body::to_bytes(req.into_body(), max_body)
                .await
                .map_err(|_| BookingError::invalid("request"))?;
            parse(std::str::from_utf8(&bytes).map_err(|_| BookingError::invalid("request"))?)?
        };
        app::api::with_backend(backend, args.answer()).await
    }
    .await;
    match answer {
        // Worth compressing: gzip for a client that takes it (a kept week's own, made once
        // with it; any other made now at zlib's fastest level), else plain.
        Ok(Answer { json, gzip }) if json.len() >= usize::from(crate::web::COMPRESS_ABOVE) => {
            let gzip = gzip_wanted
                .then(|| {
                    gzip.or_else(|| crate::booking::gzipped(&json, flate2::Compression::fast()))
                })
                .flatten();
            match gzip {
                Some(gzip) => json_answer(gzip, true, true),
                None => json_answer(json, false, true),
            }
        }
        Ok(Answer { json, .. }) => json_answer(json, false, false),
        Err(e) => typed_error(e),
    }
}

/// The reads ahead of the router: a request for one of the two reads' paths goes straight
/// to `reads`, every other request to `rest` (the router). The reads are nearly every
/// request the service gets; through the router each paid for its path match, its
/// matched-path and parameter bookkeeping, and a clone of its boxed route with the layers
/// in it (the CORS layer's lists among them) — [`crate::web::router`] says what that cost.
/// Only the exact paths are taken here; anything else under `/api` (a trailing slash, an
/// unknown name) goes to the router and is answered there as before.
#[derive(Clone)]
pub struct ReadsFirst<R, S> {
    pub reads: R,
    pub rest: S,
}

/// Whether `path` is one of the two reads' (`/api/week`, `/api/element`).
fn is_read_path(path: &str) -> bool {
    app::contract::by_path(path).is_some_and(|e| {
        e.name == app::contract::WEEK.name || e.name == app::contract::ELEMENT.name
    })
}

impl<R, S> tower::Service<Request<Body>> for ReadsFirst<R, S>
where
    R: tower::Service<Request<Body>, Response = Response, Error = std::convert::Infallible>,
    S: tower::Service<Request<Body>, Response = Response, Error = std::convert::Infallible>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures::future::Either<R::Future, S::Future>;

    /// Ready when both are (which of them a request goes to is known only at `call`).
    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::ready!(self.reads.poll_ready(cx))?;
        self.rest.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if is_read_path(req.uri().path()) {
            futures::future::Either::Left(self.reads.call(req))
        } else {
            futures::future::Either::Right(self.rest.call(req))
        }
    }
}

/// A read's answer: its JSON, or the gzip of it (`gzipped`); `varies` when it would go
/// gzipped to a client that asked (`Vary: accept-encoding`). The header map is made with
/// room for the headers the layers around add on the way out (CORS's `Vary`,
/// `Cache-Control`, the request id, the three security headers): an empty one is made
/// for six and grown on the seventh.
fn json_answer(body: axum::body::Bytes, gzipped: bool, varies: bool) -> Response {
    let mut headers = axum::http::HeaderMap::with_capacity(12);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if gzipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if varies {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    let mut res = Response::new(Body::from(body));
    *res.headers_mut() = headers;
    res
}

#[cfg(test)]
mod tests {
    use super::{parse, q_value, takes_gzip};
    use app::api::{GetElement, GetWeek};

    fn by_serde_qs<F: serde::de::DeserializeOwned>(text: &str) -> Option<F> {
        serde_qs::Config::new(5, false).deserialize_str(text).ok()
    }

    fn week(w: GetWeek) -> [String; 4] {
        [w.form, w.element, w.week, w.hold]
    }

    /// What the widget, the loader and the preload hints send, and what a hostile client
    /// might: each read as server_fn's own parser reads it, or refused as it refuses it.
    #[test]
    fn reads_arguments_as_server_fn_does() {
        let bodies = [
            "form=demo&element=tid&week=2026-11-30&hold=",
            "form=demo&element=tid&week=&hold=",
            "form=demo&element=tid",
            "element=t%C3%A6&form=a+b&hold=abc",
            "form=demo&element=tid&week=2026-11-30&unknown=1",
            "form=&element=",
            "form=demo&form=other&element=tid",
            "form=%FF&element=tid",
            "element=tid",
            "",
            "form=demo&element=tid&week=a%26b%3Dc",
        ];
        for body in bodies {
            let ours = parse::<GetWeek>(body).ok().map(week);
            let theirs = by_serde_qs::<GetWeek>(body).map(week);
            assert_eq!(ours, theirs, "week arguments {body:?}");
            let ours = parse::<GetElement>(body).ok().map(|e| [e.form, e.element]);
            let theirs = by_serde_qs::<GetElement>(body).map(|e| [e.form, e.element]);
            assert_eq!(ours, theirs, "element arguments {body:?}");
        }
        assert_eq!(
            parse::<GetWeek>("element=t%C3%A6&form=a+b&hold=abc")
                .ok()
                .map(week),
            Some(["a b", "tæ", "", "abc"].map(String::from))
        );
    }

    /// What browsers, proxies and a hostile client send: the kept gzip goes out exactly
    /// when the compression layer would have gzipped the answer.
    #[tokio::test]
    async fn takes_gzip_when_the_compression_layer_would() {
        use axum::http::{header, HeaderMap, HeaderValue, Request, Response};
        use tower::{Service, ServiceExt};
        let mut layer = tower::ServiceBuilder::new()
            .layer(tower_http::compression::CompressionLayer::new())
            .service_fn(|_: Request<axum::body::Body>| async {
                Ok::<_, std::convert::Infallible>(Response::new(axum::body::Body::from(
                    "{\"slots\":[]}".repeat(20),
                )))
            });
        let values: &[&[&str]] = &[
            &[],
            &["gzip, deflate, br, zstd"],
            &["gzip"],
            &["x-gzip"],
            &["GZIP"],
            &["br"],
            &["identity"],
            &["*"],
            &["gzip;q=0"],
            &["gzip;q=0.000"],
            &["gzip;q=0.001"],
            &["gzip;q=0.5, identity"],
            &["gzip;q=0.5, identity;q=0.5"],
            &["identity;q=1, gzip;q=1.0"],
            &["gzip;q=1.5"],
            &["gzip;q=1.001"],
            &["gzip;q=0.5000"],
            &["gzip;q=abc", "identity;q=0.1"],
            &["gzip;Q=0.9"],
            &["gzip ; q=0.9"],
            &["gzip;q=.5"],
            &["br;q=1, gzip;q=0.2, identity;q=0.3"],
            &["deflate", "gzip;q=0.1"],
            &[",,,"],
            &["gzip;q=0", "gzip;q=0.3"],
        ];
        for value in values {
            let mut headers = HeaderMap::new();
            let mut request = Request::new(axum::body::Body::empty());
            for v in *value {
                headers.append(header::ACCEPT_ENCODING, HeaderValue::from_static(v));
                request
                    .headers_mut()
                    .append(header::ACCEPT_ENCODING, HeaderValue::from_static(v));
            }
            let answer = layer.ready().await.unwrap().call(request).await.unwrap();
            let layer_gzips = answer.headers().get(header::CONTENT_ENCODING).is_some();
            assert_eq!(
                takes_gzip(&headers),
                layer_gzips,
                "Accept-Encoding {value:?}"
            );
        }
        // And the cases above are not all one answer.
        assert!(takes_gzip(&HeaderMap::from_iter([(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br, zstd")
        )])));
        assert!(!takes_gzip(&HeaderMap::new()));
    }

    #[test]
    fn q_values_in_thousandths() {
        for (text, q) in [
            ("q=1", Some(1000)),
            ("q=1.000", Some(1000)),
            ("q=0", Some(0)),
            ("q=0.5", Some(500)),
            ("q=0.05", Some(50)),
            ("q=0.125", Some(125)),
            ("Q=0.2", Some(200)),
            ("q=1.5", None),
            ("q=0.1234", None),
            ("q=2", None),
            ("q=", None),
            ("q=-0", None),
            ("level=1", None),
        ] {
            assert_eq!(q_value(text), q, "{text}");
        }
    }
}
