//! `/api/book_form`: the booking that carries the host form along, read as a stream.
//!
//! The identifying parts (form, element, slot id, hold, idempotency key) come first. At the
//! first file part they are checked — the slot id's signature, the rules, and whether the
//! slot is free or the citizen's, judged from the cached week — before a byte of any file
//! is read, so a forged or taken slot costs nothing. Files are then streamed to unnamed
//! temporary files with the count, per-file and total limits enforced as the bytes arrive,
//! so no file sits in memory whole; at most `max_concurrent_uploads` requests read files at
//! once, and the router bounds the time between body frames and the whole request.

use crate::web::AppState;
use app::api::UploadContent;
use app::api::{
    Backend, BookRequest, ElementName, FormField, FormId, HoldToken, IdempotencyKey, SlotId, Upload,
};
use app::contract::{arg, BOOK_FORM, FIELD_PART, FILE_PART};
use app::domain::{BookingError, FileProblem};
use axum::extract::{FromRequest, Multipart, Request};
use axum::response::{IntoResponse, Response};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// How long a booking with files waits for one of the upload places before the citizen is
/// told to try again.
const QUEUE_WAIT: Duration = Duration::from_secs(20);
/// Largest text part (form, element, slot id, hold, idempotency key).
const MAX_TEXT_PART: usize = 2048;
/// Largest `field` part (JSON of one form field).
const MAX_FIELD_PART: usize = 25_000;
const MAX_FIELDS: usize = 200;

/// Reads a text part whole, refusing it as soon as it passes `max` bytes.
async fn text_part(
    field: &mut axum::extract::multipart::Field<'_>,
    name: &str,
    max: usize,
) -> Result<String, BookingError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|_| BookingError::invalid(name))?
    {
        if buf.len() + chunk.len() > max {
            return Err(BookingError::invalid(name));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| BookingError::invalid(name))
}

/// What the files of one booking may be, once its slot has been checked.
pub struct UploadPolicy {
    /// The element attaches documents; otherwise files are read past and dropped.
    pub take_files: bool,
    pub limits: crate::config::UploadLimits,
}

fn files_error(problem: FileProblem, name: &str, limit: usize) -> BookingError {
    BookingError::Files {
        problem,
        name: crate::booking::documents::safe_name(name),
        limit: limit as u64,
    }
}

/// Streams one file part into an unnamed temporary file, within the limits.
async fn spool(
    field: &mut axum::extract::multipart::Field<'_>,
    name: &str,
    limits: &crate::config::UploadLimits,
    total: &mut usize,
) -> Result<Upload, BookingError> {
    let file = tempfile::tempfile().map_err(|e| {
        tracing::error!("cannot create a temporary file for an upload: {e}");
        BookingError::Internal
    })?;
    let mut writer = std::io::BufWriter::with_capacity(64 * 1024, file);
    let mut len = 0usize;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|_| BookingError::invalid("file"))?
    {
        len += chunk.len();
        *total += chunk.len();
        if len > limits.max_file_bytes {
            return Err(files_error(
                FileProblem::TooLarge,
                name,
                limits.max_file_bytes,
            ));
        }
        if *total > limits.max_total_bytes {
            return Err(files_error(
                FileProblem::TotalTooLarge,
                name,
                limits.max_total_bytes,
            ));
        }
        writer.write_all(&chunk).map_err(|e| {
            tracing::error!("cannot write an upload to its temporary file: {e}");
            BookingError::Internal
        })?;
    }
    let file = writer.into_inner().map_err(|e| {
        tracing::error!("cannot write an upload to its temporary file: {e}");
        BookingError::Internal
    })?;
    Ok(Upload {
        name: name.to_owned(),
        len,
        content: UploadContent::File(Arc::new(file)),
    })
}

/// Reads a file part to its end without keeping it (the element takes no documents).
async fn drain(
    field: &mut axum::extract::multipart::Field<'_>,
    name: &str,
    limits: &crate::config::UploadLimits,
    total: &mut usize,
) -> Result<(), BookingError> {
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|_| BookingError::invalid("file"))?
    {
        *total += chunk.len();
        if *total > limits.max_total_bytes {
            return Err(files_error(
                FileProblem::TotalTooLarge,
                name,
                limits.max_total_bytes,
            ));
        }
    }
    Ok(())
}

/// The identifying parts as they came.
#[derive(Default)]
struct RawParts {
    form: String,
    element: String,
    slot_id: String,
    idempotency_key: String,
    hold: String,
}

/// The identifying parts, parsed as the server functions parse them.
struct Parts {
    form: FormId,
    element: ElementName,
    slot_id: SlotId,
    idempotency_key: IdempotencyKey,
    hold: HoldToken,
}

impl RawParts {
    fn parse(&self) -> Result<Parts, BookingError> {
        Ok(Parts {
            form: FormId::parse(self.form.as_str())?,
            element: ElementName::parse(self.element.as_str())?,
            slot_id: SlotId::parse(self.slot_id.as_str())?,
            idempotency_key: IdempotencyKey::parse(self.idempotency_key.as_str())?,
            hold: HoldToken::parse(self.hold.as_str())?,
        })
    }
}

/// Reads the multipart request into a booking request (see the module docs).
async fn read_request(state: &AppState, req: Request) -> Result<BookRequest, BookingError> {
    let mut parts = Multipart::from_request(req, &())
        .await
        .map_err(|_| BookingError::invalid("request"))?;
    let mut raw = RawParts::default();
    let mut files = Vec::new();
    let mut fields: Vec<FormField> = Vec::new();
    let mut policy: Option<UploadPolicy> = None;
    let mut total = 0usize;
    while let Some(mut field) = parts
        .next_field()
        .await
        .map_err(|_| BookingError::invalid("request"))?
    {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            own if BOOK_FORM.args.contains(&own) => {
                if policy.is_some() {
                    // The slot was checked with what came before the files.
                    return Err(BookingError::invalid("request"));
                }
                let text = text_part(&mut field, &name, MAX_TEXT_PART).await?;
                *match own {
                    arg::FORM => &mut raw.form,
                    arg::ELEMENT => &mut raw.element,
                    arg::SLOT_ID => &mut raw.slot_id,
                    arg::IDEMPOTENCY_KEY => &mut raw.idempotency_key,
                    arg::HOLD => &mut raw.hold,
                    _ => return Err(BookingError::invalid("request")),
                } = text;
            }
            FIELD_PART => {
                let text = text_part(&mut field, FIELD_PART, MAX_FIELD_PART).await?;
                let f: FormField =
                    serde_json::from_str(&text).map_err(|_| BookingError::invalid("field"))?;
                if f.name.len() > 200
                    || f.label.len() > 500
                    || f.value.len() > 20_000
                    || fields.len() >= MAX_FIELDS
                {
                    return Err(BookingError::invalid("field"));
                }
                fields.push(f);
            }
            FILE_PART => {
                let file_name = field.file_name().unwrap_or("").to_owned();
                let policy = match &policy {
                    Some(p) => p,
                    None => {
                        let p = raw.parse()?;
                        policy.insert(
                            state
                                .booket
                                .precheck_upload(
                                    &p.form,
                                    &p.element,
                                    &p.slot_id,
                                    &p.hold,
                                    &p.idempotency_key,
                                )
                                .await?,
                        )
                    }
                };
                if !policy.take_files {
                    drain(&mut field, &file_name, &policy.limits, &mut total).await?;
                    continue;
                }
                let upload = spool(&mut field, &file_name, &policy.limits, &mut total).await?;
                // An empty file input still sends one nameless, empty part.
                if file_name.is_empty() && upload.len == 0 {
                    continue;
                }
                if files.len() >= policy.limits.max_files {
                    return Err(files_error(
                        FileProblem::TooMany,
                        "",
                        policy.limits.max_files,
                    ));
                }
                files.push(upload);
            }
            _ => return Err(BookingError::invalid("request")),
        }
    }
    let p = raw.parse()?;
    Ok(BookRequest {
        form: p.form,
        element: p.element,
        slot_id: p.slot_id,
        idempotency_key: p.idempotency_key,
        hold: p.hold,
        files,
        fields,
    })
}

/// Bookings with files one client may have under way at once, so a few slow clients
/// cannot take every upload place.
pub const UPLOADS_PER_CLIENT: usize = 2;

/// A client's share of the upload places, given back when dropped.
pub struct ClientUploads {
    active: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
    client: std::net::IpAddr,
}

impl ClientUploads {
    /// `None` when the client already has [`UPLOADS_PER_CLIENT`] under way.
    pub fn take(
        active: &Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
        client: std::net::IpAddr,
    ) -> Option<ClientUploads> {
        let mut map = active.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(client).or_insert(0);
        if *n >= UPLOADS_PER_CLIENT {
            return None;
        }
        *n += 1;
        Some(ClientUploads {
            active: active.clone(),
            client,
        })
    }
}

impl Drop for ClientUploads {
    fn drop(&mut self) {
        let mut map = self.active.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.client);
            }
        }
    }
}

/// Serves `/api/book_form` (origin and budget already checked by the caller).
pub async fn book_form(state: AppState, req: Request, client: std::net::IpAddr) -> Response {
    let Some(_share) = ClientUploads::take(&state.uploads_by_client, client) else {
        return crate::web::typed_error(BookingError::RateLimited { retry_after: 0 });
    };
    let permit = match tokio::time::timeout(QUEUE_WAIT, state.uploads.clone().acquire_owned()).await
    {
        Ok(Ok(p)) => p,
        _ => {
            tracing::warn!("every upload place was busy: a booking with files was turned away");
            return crate::web::typed_error(BookingError::Unavailable);
        }
    };
    let result = crate::clients::CLIENT
        .scope(client, async {
            match read_request(&state, req).await {
                Ok(req) => state.booket.book(req).await,
                Err(e) => Err(e),
            }
        })
        .await;
    drop(permit);
    match result {
        Ok(receipt) => axum::Json(receipt).into_response(),
        Err(e) => crate::web::typed_error(e),
    }
}
