//! `/api/book_form`: the booking that carries the host form along, read as a stream.
//!
//! The identifying parts (form, element, slot id, hold, idempotency key) come first. At the
//! first file part they are checked — the slot id's signature, the rules, and whether the
//! slot is free or the citizen's, judged from the cached week — before a byte of any file
//! is read, so a forged or taken slot costs nothing. Files are then streamed to unnamed
//! temporary files with the count, per-file and total limits enforced as the bytes arrive,
//! so no file sits in memory whole. A place to read files is taken only then, once the
//! booking's own parts passed (at most `max_concurrent_upload_reads`, two per client), and
//! the body must keep arriving at `upload_min_rate_bytes_per_second` once
//! `upload_rate_grace_seconds` have passed, so a dripping client loses its place in
//! seconds. Sending the files on to Exchange takes one of `max_concurrent_uploads` places
//! (a client that never finishes sending never reaches it). The router bounds the time
//! between body frames and the whole request.

use crate::booking::UploadPolicy;
use crate::web::AppState;
use app::api::UploadContent;
use app::api::{
    BookRequest, ElementName, FormField, FormId, HoldToken, IdempotencyKey, SlotId, Upload,
};
use app::contract::{arg, BOOK_FORM, FIELD_PART, FILE_PART};
use app::domain::{BookingError, FileProblem};
use axum::extract::{FromRequest, Multipart, Request};
use axum::response::{IntoResponse, Response};
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

fn files_error(problem: FileProblem, name: &str, limit: usize) -> BookingError {
    BookingError::Files {
        problem,
        name: crate::booking::documents::safe_name(name),
        limit: limit as u64,
    }
}

/// Streams one file part into an unnamed temporary file, within the limits. The file is
/// made at the first byte (an empty part costs none) and written off the async workers.
async fn spool(
    field: &mut axum::extract::multipart::Field<'_>,
    name: &str,
    limits: &crate::config::UploadLimits,
    total: &mut usize,
) -> Result<Upload, BookingError> {
    use tokio::io::AsyncWriteExt;
    let internal = |what: &str, e: std::io::Error| {
        tracing::error!("cannot {what} for an upload: {e}");
        BookingError::Internal
    };
    let mut writer: Option<tokio::io::BufWriter<tokio::fs::File>> = None;
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
        if chunk.is_empty() {
            continue;
        }
        let w = match &mut writer {
            Some(w) => w,
            None => {
                let file = tokio::task::spawn_blocking(tempfile::tempfile)
                    .await
                    .map_err(|e| internal("make a temporary file", std::io::Error::other(e)))?
                    .map_err(|e| internal("make a temporary file", e))?;
                writer.insert(tokio::io::BufWriter::with_capacity(
                    64 * 1024,
                    tokio::fs::File::from_std(file),
                ))
            }
        };
        w.write_all(&chunk)
            .await
            .map_err(|e| internal("write a temporary file", e))?;
    }
    let content = match writer {
        None => UploadContent::Memory(Arc::new(Vec::new())),
        Some(mut w) => {
            w.flush()
                .await
                .map_err(|e| internal("write a temporary file", e))?;
            UploadContent::File(Arc::new(w.into_inner().into_std().await))
        }
    };
    Ok(Upload {
        name: name.to_owned(),
        len,
        content,
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

/// A booking's place to read its files from the client: one of the client's two, and one
/// of `max_concurrent_upload_reads`; given back when dropped.
struct ReadingPlace {
    _share: ClientUploads,
    _permit: tokio::sync::OwnedSemaphorePermit,
    gauge: prometheus::IntGauge,
}

impl Drop for ReadingPlace {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// Takes a reading place for `client`: refused when the client already reads two, and
/// after [`QUEUE_WAIT`] when every place stays taken.
async fn reading_place(
    state: &AppState,
    client: std::net::IpAddr,
) -> Result<ReadingPlace, BookingError> {
    let share = ClientUploads::take(&state.uploads_by_client, client)
        .ok_or(BookingError::RateLimited { retry_after: 0 })?;
    let permit =
        match tokio::time::timeout(QUEUE_WAIT, state.upload_reads.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => {
                tracing::warn!(
                    "every place to read files was busy: a booking with files was turned away"
                );
                return Err(BookingError::Unavailable);
            }
        };
    let gauge = state.metrics.upload_places_reading.clone();
    gauge.inc();
    Ok(ReadingPlace {
        _share: share,
        _permit: permit,
        gauge,
    })
}

/// Reads the multipart request into a booking request (see the module docs).
async fn read_request(
    state: &AppState,
    req: Request,
    client: std::net::IpAddr,
    rate: &crate::web::deadline::MinRate,
) -> Result<BookRequest, BookingError> {
    let mut parts = Multipart::from_request(req, &())
        .await
        .map_err(|_| BookingError::invalid("request"))?;
    let mut raw = RawParts::default();
    let mut files = Vec::new();
    let mut fields: Vec<FormField> = Vec::new();
    let mut policy: Option<UploadPolicy> = None;
    let mut _place: Option<ReadingPlace> = None;
    let mut file_parts = 0usize;
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
                        let checked = state
                            .booket
                            .precheck_upload(
                                &p.form,
                                &p.element,
                                &p.slot_id,
                                &p.hold,
                                &p.idempotency_key,
                            )
                            .await?;
                        // Only a booking whose own parts passed takes a place to read files.
                        _place = Some(reading_place(state, client).await?);
                        // From here the client's sending speed counts, not ours.
                        rate.arm();
                        policy.insert(checked)
                    }
                };
                // Every file part counts, empty ones too (an empty file input sends one;
                // each would otherwise cost a parse and a look at the limits for nothing).
                file_parts += 1;
                if file_parts > policy.limits.max_files {
                    return Err(files_error(
                        FileProblem::TooMany,
                        "",
                        policy.limits.max_files,
                    ));
                }
                if !policy.take_files {
                    drain(&mut field, &file_name, &policy.limits, &mut total).await?;
                    continue;
                }
                let upload = spool(&mut field, &file_name, &policy.limits, &mut total).await?;
                // An empty file input still sends one nameless, empty part.
                if file_name.is_empty() && upload.len == 0 {
                    continue;
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
    let server = &state.config.server;
    let rate = crate::web::deadline::MinRate::new(server.upload_rate_grace, server.upload_min_rate);
    let req = req.map(|b| rate.wrap(b));
    let result = async {
        let req = match read_request(&state, req, client, &rate).await {
            Ok(req) => req,
            // Too slow a client is told to check its connection.
            Err(_) if rate.was_too_slow() => {
                tracing::info!("a booking's body arrived below the minimum rate and was cut off");
                return Err(BookingError::Network);
            }
            Err(e) => return Err(e),
        };
        let Ok(Ok(_permit)) =
            tokio::time::timeout(QUEUE_WAIT, state.uploads.clone().acquire_owned()).await
        else {
            tracing::warn!(
                "every place to send files on was busy: a booking with files was turned away"
            );
            return Err(BookingError::Unavailable);
        };
        let caller = crate::booking::Caller::client(client);
        state.booket.book(&caller, req).await
    }
    .await;
    match result {
        Ok(receipt) => axum::Json(receipt).into_response(),
        Err(e) => crate::web::typed_error(e),
    }
}
