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

/// Form-encoded arguments. Both reads take flat text arguments (`app::api`), which
/// `serde_urlencoded` reads as server_fn's serde_qs does (the nesting serde_qs adds is for
/// arguments these two do not have) in under half the instructions: serde_qs took 6,300
/// of the 65,000 instructions of a cached week read (callgrind). The tests below hold the
/// two to the same answers.
fn parse<F: serde::de::DeserializeOwned>(text: &str) -> Result<F, BookingError> {
    serde_urlencoded::from_str(text).map_err(|_| BookingError::invalid("request"))
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

#[cfg(test)]
mod tests {
    use super::parse;
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
}
