//! Server functions: the API the widget uses (it calls them with `fetch` through
//! `booking::client`, speaking the same wire format). Each body parses its input, takes
//! the backend from context and calls it; the rules and Graph live behind [`Backend`].
//! Arguments are parsed into the types of `ids.rs` here, at the edge.
//! The booking with the form's files, `/api/book_form`, is read as a stream by the
//! server itself (`server/src/uploads.rs`) and ends in [`Backend::book`] too.
//!
//! Endpoint names are stable (`/api/element`, `/api/week`, `/api/reserve`, `/api/release`,
//! `/api/book`, `/api/book_form`) so embedders and tests can rely on them.

use crate::domain::{BookingError, ElementPublic, Hold, Receipt};
use leptos::server;
use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};

/// A week answer already serialised: exactly the JSON of a [`crate::domain::WeekView`].
/// The server keeps these between requests (most citizens look at the same weeks), so the
/// hottest call costs no serialisation.
#[derive(Clone, Debug)]
pub struct WeekJson(pub Bytes);

/// The wire encoding of [`WeekJson`]: its bytes as they are, as `application/json`.
pub struct PreEncodedJson;

impl ContentType for PreEncodedJson {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for PreEncodedJson {
    const FORMAT_TYPE: Format = Format::Text;
}

impl Encodes<WeekJson> for PreEncodedJson {
    type Error = std::convert::Infallible;

    fn encode(output: &WeekJson) -> Result<Bytes, Self::Error> {
        Ok(output.0.clone())
    }
}

impl Decodes<WeekJson> for PreEncodedJson {
    type Error = std::convert::Infallible;

    fn decode(bytes: Bytes) -> Result<WeekJson, Self::Error> {
        Ok(WeekJson(bytes))
    }
}

#[cfg(feature = "ssr")]
pub use backend::*;

#[cfg(feature = "ssr")]
mod backend {
    use super::*;
    pub use crate::ids::*;
    use std::sync::Arc;

    /// A booking request after parsing, as the backend receives it.
    #[derive(Clone, Debug)]
    pub struct BookRequest {
        pub form: FormId,
        pub element: ElementName,
        pub slot_id: SlotId,
        pub idempotency_key: IdempotencyKey,
        /// The citizen's hold token, if they reserved the slot (may be empty).
        pub hold: HoldToken,
        /// Files from the form's upload fields (multipart booking only).
        pub files: Vec<Upload>,
        /// The form's fields, for the summary and the e-mail.
        pub fields: Vec<FormField>,
    }

    /// One field of the host form as the citizen filled it in.
    #[derive(Clone, Debug, serde::Deserialize)]
    pub struct FormField {
        /// The field's `name` (how the e-mail field is found).
        pub name: String,
        /// Its label as the citizen saw it.
        pub label: String,
        pub value: String,
    }

    /// A file as received: streamed to an unnamed temporary file while the request was
    /// read (so it never sits in memory whole; the file is gone when the last handle
    /// closes), or held in memory.
    #[derive(Clone)]
    pub struct Upload {
        /// The name the browser sent (the server makes it safe before using it).
        pub name: String,
        pub len: usize,
        pub content: UploadContent,
    }

    #[derive(Clone)]
    pub enum UploadContent {
        Memory(Arc<Vec<u8>>),
        File(Arc<std::fs::File>),
    }

    impl Upload {
        pub fn in_memory(name: &str, bytes: Vec<u8>) -> Upload {
            Upload {
                name: name.to_owned(),
                len: bytes.len(),
                content: UploadContent::Memory(Arc::new(bytes)),
            }
        }

        /// `len` bytes from `offset` (fewer at the end). Reads the temporary file in place,
        /// without moving a shared cursor, so every handle may read at once.
        pub fn read_at(&self, offset: usize, len: usize) -> std::io::Result<Vec<u8>> {
            let end = offset.saturating_add(len).min(self.len);
            let start = offset.min(end);
            match &self.content {
                UploadContent::Memory(b) => Ok(b[start..end.min(b.len())].to_vec()),
                UploadContent::File(f) => {
                    use std::os::unix::fs::FileExt;
                    let mut buf = vec![0; end - start];
                    f.read_exact_at(&mut buf, start as u64)?;
                    Ok(buf)
                }
            }
        }
    }

    impl std::fmt::Debug for Upload {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Upload({:?}, {} bytes)", self.name, self.len)
        }
    }

    /// A reserve (or extend) request after parsing.
    #[derive(Clone, Debug)]
    pub struct ReserveRequest {
        pub form: FormId,
        pub element: ElementName,
        pub slot_id: SlotId,
        /// The citizen's hold token from an earlier reservation, or empty for a new one.
        pub hold: HoldToken,
        /// A slot held with the same token to give back once the new one is held.
        pub release_slot_id: Option<SlotId>,
        /// A session token from the form's backend naming the citizen (or empty).
        pub session: String,
    }

    /// A week's answer as the backend has it: the JSON of a [`crate::domain::WeekView`],
    /// and for an answer kept between requests its gzip, made once when it was kept, so a
    /// browser's read of a cached week is sent without compressing it again.
    #[derive(Clone, Debug)]
    pub struct WeekAnswer {
        pub json: Bytes,
        pub gzip: Option<Bytes>,
    }

    /// What the server functions call. Implemented by the server crate against Graph.
    #[async_trait::async_trait]
    pub trait Backend: Send + Sync + 'static {
        async fn element(
            &self,
            form: &FormId,
            element: &ElementName,
        ) -> Result<ElementPublic, BookingError>;
        /// One week of slots as JSON (a [`crate::domain::WeekView`]): `week` is any day of
        /// the wanted week, `None` the current week; `hold` marks the slot held with that
        /// token as [`crate::domain::SlotState::Held`]. JSON because the answer is usually
        /// served from a cache of serialised answers.
        async fn week_json(
            &self,
            form: &FormId,
            element: &ElementName,
            week: Option<chrono::NaiveDate>,
            hold: &HoldToken,
        ) -> Result<WeekAnswer, BookingError>;
        async fn reserve(&self, req: ReserveRequest) -> Result<Hold, BookingError>;
        async fn release(
            &self,
            form: &FormId,
            element: &ElementName,
            slot_id: &SlotId,
            hold: &HoldToken,
        ) -> Result<(), BookingError>;
        async fn book(&self, req: BookRequest) -> Result<Receipt, BookingError>;
    }

    tokio::task_local! {
        static BACKEND: Arc<dyn Backend>;
    }

    /// Runs `f` (the handling of one server-function request) with `backend` as the
    /// backend its server functions call. A task-local rather than a Leptos context: the
    /// server runs server functions without a reactive owner per request, which was a
    /// tenth of the cost of a cached week read.
    pub async fn with_backend<F: std::future::Future>(
        backend: Arc<dyn Backend>,
        f: F,
    ) -> F::Output {
        BACKEND.scope(backend, f).await
    }

    /// The body of [`get_week`]: its arguments checked, then the backend's answer with its
    /// gzip when there is one (the server's own read path sends that as it is).
    pub async fn week_answer(
        form: String,
        element: String,
        week: String,
        hold: String,
    ) -> Result<WeekAnswer, BookingError> {
        let (form, element) = (FormId::parse(form)?, ElementName::parse(element)?);
        let hold = HoldToken::parse(hold)?;
        let week = if week.is_empty() {
            None
        } else {
            Some(
                crate::domain::wire::parse_date(&week)
                    .ok_or_else(|| BookingError::invalid("week"))?,
            )
        };
        backend()?.week_json(&form, &element, week, &hold).await
    }

    pub(super) fn backend() -> Result<Arc<dyn Backend>, BookingError> {
        BACKEND
            .try_with(Arc::clone)
            .map_err(|_| BookingError::Internal)
    }

    /// Registers the server functions with the axum handler. Needed because the server
    /// binary references nothing else from this crate that would keep them linked.
    pub fn register_server_fns() {
        use leptos::server_fn::axum::register_explicit;
        register_explicit::<super::GetElement>();
        register_explicit::<super::GetWeek>();
        register_explicit::<super::ReserveSlot>();
        register_explicit::<super::ReleaseSlot>();
        register_explicit::<super::BookSlot>();
        // `/api/book_form` streams its files and is served by the server itself.
    }
}

/// The public configuration of one booking element.
#[server(prefix = "/api", endpoint = "element")]
pub async fn get_element(form: String, element: String) -> Result<ElementPublic, BookingError> {
    let (form, element) = (FormId::parse(form)?, ElementName::parse(element)?);
    backend()?.element(&form, &element).await
}

/// One week of slots. `week` is an ISO date (`2026-11-30`) of any day in the week, or empty
/// for the current week; `hold` is the citizen's hold token (or empty).
#[server(prefix = "/api", endpoint = "week", output = Post<PreEncodedJson>)]
pub async fn get_week(
    form: String,
    element: String,
    #[server(default)] week: String,
    #[server(default)] hold: String,
) -> Result<WeekJson, BookingError> {
    Ok(WeekJson(week_answer(form, element, week, hold).await?.json))
}

/// Reserves a slot for the citizen (" - Reserveret"), or extends their hold on it. With
/// `release_slot_id` the citizen's previous hold is given back once the new one is held.
#[server(prefix = "/api", endpoint = "reserve")]
pub async fn reserve_slot(
    form: String,
    element: String,
    slot_id: String,
    #[server(default)] hold: String,
    #[server(default)] release_slot_id: String,
    #[server(default)] session: String,
) -> Result<Hold, BookingError> {
    optional_text("session", &session, 4096)?;
    backend()?
        .reserve(ReserveRequest {
            form: FormId::parse(form)?,
            element: ElementName::parse(element)?,
            slot_id: SlotId::parse(slot_id)?,
            hold: HoldToken::parse(hold)?,
            release_slot_id: optional_slot("release_slot_id", release_slot_id)?,
            session,
        })
        .await
}

/// Gives a held slot back.
#[server(prefix = "/api", endpoint = "release")]
pub async fn release_slot(
    form: String,
    element: String,
    slot_id: String,
    hold: String,
) -> Result<(), BookingError> {
    let (form, element) = (FormId::parse(form)?, ElementName::parse(element)?);
    let slot_id = SlotId::parse(slot_id)?;
    // Giving back needs a hold to give back.
    if hold.is_empty() {
        return Err(BookingError::invalid("hold"));
    }
    let hold = HoldToken::parse(hold)?;
    backend()?.release(&form, &element, &slot_id, &hold).await
}

/// Books a slot the server issued for this element.
#[server(prefix = "/api", endpoint = "book")]
pub async fn book_slot(
    form: String,
    element: String,
    slot_id: String,
    idempotency_key: String,
    #[server(default)] hold: String,
) -> Result<Receipt, BookingError> {
    backend()?
        .book(BookRequest {
            form: FormId::parse(form)?,
            element: ElementName::parse(element)?,
            slot_id: SlotId::parse(slot_id)?,
            idempotency_key: IdempotencyKey::parse(idempotency_key)?,
            hold: HoldToken::parse(hold)?,
            files: Vec::new(),
            fields: Vec::new(),
        })
        .await
}
