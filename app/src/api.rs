//! Server functions: the only API the widget uses. Each body parses its input, takes the
//! backend from context and calls it; the rules and Graph live behind [`Backend`].
//!
//! Endpoint names are stable (`/api/element`, `/api/week`, `/api/book`) so embedders and
//! tests can rely on them.

use crate::domain::{BookingError, ElementPublic, Receipt, WeekView};
use leptos::server;

#[cfg(feature = "ssr")]
pub use backend::*;

#[cfg(feature = "ssr")]
mod backend {
    use super::*;
    use std::sync::Arc;

    /// A booking request after parsing, as the backend receives it.
    #[derive(Clone, Debug)]
    pub struct BookRequest {
        pub form: String,
        pub element: String,
        pub slot_id: String,
        /// Chosen by the widget per attempt; a retry with the same key gets the same receipt.
        pub idempotency_key: String,
    }

    /// What the server functions call. Implemented by the server crate against Graph.
    #[async_trait::async_trait]
    pub trait Backend: Send + Sync + 'static {
        async fn element(&self, form: &str, element: &str) -> Result<ElementPublic, BookingError>;
        /// `week`: any day of the wanted week; `None` means the current week.
        async fn week(
            &self,
            form: &str,
            element: &str,
            week: Option<chrono::NaiveDate>,
        ) -> Result<WeekView, BookingError>;
        async fn book(&self, req: BookRequest) -> Result<Receipt, BookingError>;
    }

    /// The backend as provided in the server functions' context.
    #[derive(Clone)]
    pub struct BackendHandle(pub Arc<dyn Backend>);

    pub(super) fn backend() -> Result<Arc<dyn Backend>, BookingError> {
        leptos::prelude::use_context::<BackendHandle>()
            .map(|h| h.0)
            .ok_or(BookingError::Internal)
    }

    /// Rejects oversized or control-character input before anything else looks at it.
    pub(super) fn short_text(field: &str, value: &str, max: usize) -> Result<(), BookingError> {
        if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
            Err(BookingError::invalid(field))
        } else {
            Ok(())
        }
    }

    /// Registers the server functions with the axum handler. Needed because the server
    /// binary references nothing else from this crate that would keep them linked.
    pub fn register_server_fns() {
        use leptos::server_fn::axum::register_explicit;
        register_explicit::<super::GetElement>();
        register_explicit::<super::GetWeek>();
        register_explicit::<super::BookSlot>();
    }
}

/// The public configuration of one booking element.
#[server(prefix = "/api", endpoint = "element")]
pub async fn get_element(form: String, element: String) -> Result<ElementPublic, BookingError> {
    short_text("form", &form, 64)?;
    short_text("element", &element, 64)?;
    backend()?.element(&form, &element).await
}

/// One week of slots. `week` is an ISO date (`2026-11-30`) of any day in the week, or empty
/// for the current week.
#[server(prefix = "/api", endpoint = "week")]
pub async fn get_week(
    form: String,
    element: String,
    week: String,
) -> Result<WeekView, BookingError> {
    short_text("form", &form, 64)?;
    short_text("element", &element, 64)?;
    let week = if week.is_empty() {
        None
    } else {
        Some(
            chrono::NaiveDate::parse_from_str(&week, "%Y-%m-%d")
                .map_err(|_| BookingError::invalid("week"))?,
        )
    };
    backend()?.week(&form, &element, week).await
}

/// Books a slot the server issued for this element.
#[server(prefix = "/api", endpoint = "book")]
pub async fn book_slot(
    form: String,
    element: String,
    slot_id: String,
    idempotency_key: String,
) -> Result<Receipt, BookingError> {
    short_text("form", &form, 64)?;
    short_text("element", &element, 64)?;
    short_text("slot_id", &slot_id, 1024)?;
    short_text("idempotency_key", &idempotency_key, 128)?;
    backend()?
        .book(BookRequest {
            form,
            element,
            slot_id,
            idempotency_key,
        })
        .await
}
