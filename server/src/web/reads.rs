//! The two reads every citizen makes (`/api/element`, `/api/week`), run straight rather
//! than through server_fn's generic handler.
//!
//! Same functions, same arguments, same answers: the body is parsed exactly as server_fn
//! parses a `PostUrl` body (serde_qs, depth 5, into the function's own argument struct)
//! and the function's own body runs (`ServerFn::run_body`), so validation stays in one
//! place (`app::api`). What is skipped is the per-call work of the generic path: finding
//! the function in its registry by path, boxing request and answer into its wrappers, and
//! the answer's re-encoding. What that saved is within the benchmark's noise on these
//! machines (docs/contributors/benchmarks.md, "Where a cached read's time goes"); it is kept
//! because it is less work per read for the same behaviour, which every read test checks
//! through this path.

use crate::web::typed_error;
use app::api::{Backend, WeekJson};
use app::domain::{BookingError, ElementPublic};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use leptos::server_fn::ServerFn;
use std::sync::Arc;

/// The JSON body of a read's answer.
pub trait ReadAnswer {
    fn into_json(self) -> Result<axum::body::Bytes, BookingError>;
}

impl ReadAnswer for WeekJson {
    fn into_json(self) -> Result<axum::body::Bytes, BookingError> {
        Ok(self.0)
    }
}

impl ReadAnswer for ElementPublic {
    fn into_json(self) -> Result<axum::body::Bytes, BookingError> {
        serde_json::to_vec(&self)
            .map(Into::into)
            .map_err(|_| BookingError::Internal)
    }
}

/// Form-encoded arguments, read as server_fn reads a `PostUrl` body.
fn parse<F: serde::de::DeserializeOwned>(text: &str) -> Result<F, BookingError> {
    serde_qs::Config::new(5, false)
        .deserialize_str(text)
        .map_err(|_| BookingError::invalid("request"))
}

/// Runs the read `F` for `req` with `backend`. The arguments are the body of a POST, or
/// the query of a GET (the same form encoding; a GET's body is not read), at most
/// `max_body` bytes either way. The body's size and deadline are the route's layers'
/// business; here a body that could not be read is a bad request, as it is for every
/// server function.
pub async fn run<F>(backend: Arc<dyn Backend>, req: Request<Body>, max_body: usize) -> Response
where
    F: ServerFn<Error = BookingError> + serde::de::DeserializeOwned,
    F::Output: ReadAnswer,
{
    let answer = async {
        let args: F = if req.method() == Method::GET {
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
        app::api::with_backend(backend, args.run_body())
            .await?
            .into_json()
    }
    .await;
    match answer {
        Ok(json) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json,
        )
            .into_response(),
        Err(e) => typed_error(e),
    }
}
