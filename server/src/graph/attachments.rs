//! Attachments on events: one POST under 3 MB, an upload session in chunks above (with
//! the one retry policy of every call), listing with the derived type's cast, deleting.

use super::client::{map_error, transport, Req};
use super::error::GraphError;
use super::{AppCredentials, GraphClient};
use crate::exchange::parse_retry_after;
use crate::exchange::retry::{retrying, Failure, MAX_ATTEMPTS};
use crate::mailbox::AttachmentBody;
use reqwest::header::RETRY_AFTER;
use reqwest::{Method, StatusCode};
use std::time::SystemTime;

/// Files of this size or more go through an upload session (https://learn.microsoft.com/graph/outlook-large-attachments).
pub const SMALL_ATTACHMENT_LIMIT: usize = 3 * 1024 * 1024;
/// Upload-session chunk: under 4 MB, a multiple of 320 KiB.
pub const UPLOAD_CHUNK: usize = 12 * 320 * 1024;
const _: () = assert!(
    UPLOAD_CHUNK < 4 * 1024 * 1024,
    "chunks must stay under 4 MB"
);

fn read_error(e: std::io::Error) -> GraphError {
    tracing::error!("cannot read an attachment's content: {e}");
    GraphError::Transport {
        what: "the attachment's content",
        message: "could not be read".into(),
    }
}

/// The attachment fields Booket reads, `contentId` through the derived type's cast.
pub const ATTACHMENT_FIELDS: &str =
    "id,name,contentType,size,microsoft.graph.fileAttachment/contentId";

/// An event's attachment as listed (without its content).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentInfo {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Only file attachments have one; Booket tags its own files with it.
    #[serde(default)]
    pub content_id: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    /// The attachment's size in bytes (https://learn.microsoft.com/graph/api/resources/fileattachment).
    #[serde(default)]
    pub size: Option<u64>,
}

/// What attaching a file answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The attachment's id, when the answer named it (an upload session names it only in
    /// its `Location`).
    pub id: Option<String>,
    /// Where the last chunk of an upload session pointed (`Location`), if anywhere.
    pub location: Option<String>,
}

/// The attachment id in an upload session's `Location`. Microsoft's example is the Outlook
/// REST form, `https://outlook.office.com/api/v2.0/Users('…')/Events('…')/Attachments('…')`
/// (concepts/outlook-large-attachments.md); Graph's own form is lowercase. Any host, any
/// case; `None` when no non-empty id is there.
pub fn attachment_id_in(location: &str) -> Option<String> {
    const SEGMENT: &str = "attachments('";
    // ASCII lowercasing keeps every byte offset, so the id is cut from the original.
    let at = location.to_ascii_lowercase().rfind(SEGMENT)? + SEGMENT.len();
    let (id, _) = location[at..].split_once("')")?;
    (!id.is_empty()).then(|| id.to_owned())
}

impl GraphClient {
    /// Attaches a file to an event: one POST under 3 MB, an upload session in chunks under
    /// 4 MB above. `content_id` tags the attachment (Booket marks its own files). Returns
    /// the attachment id where the answer gave one.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_attachment(
        &self,
        creds: &AppCredentials,
        user: &str,
        event_id: &str,
        name: &str,
        content_type: &str,
        content_id: &str,
        content: &dyn AttachmentBody,
    ) -> Result<Added, GraphError> {
        use base64::Engine;
        let size = content.size();
        if size < SMALL_ATTACHMENT_LIMIT {
            let bytes = content.read(0, size).map_err(read_error)?;
            let body = self
                .send(
                    creds,
                    Req {
                        method: Method::POST,
                        url: self.url(&["users", user, "events", event_id, "attachments"], &[]),
                        if_match: None,
                        json: Some(serde_json::json!({
                            "@odata.type": "#microsoft.graph.fileAttachment",
                            "name": name,
                                                        "contentType": content_type,
                            "contentId": content_id,
                            "contentBytes": base64::engine::general_purpose::STANDARD.encode(bytes),
                        })),
                        replayable: false,
                    },
                )
                .await?;
            #[derive(serde::Deserialize)]
            struct Created {
                id: String,
            }
            let c: Created =
                serde_json::from_slice(&body).map_err(|e| GraphError::Decode(e.to_string()))?;
            return Ok(Added {
                id: Some(c.id),
                location: None,
            });
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Session {
            upload_url: String,
        }
        let body = self
            .send(
                creds,
                Req {
                    method: Method::POST,
                    url: self.url(
                        &[
                            "users",
                            user,
                            "events",
                            event_id,
                            "attachments",
                            "createUploadSession",
                        ],
                        &[],
                    ),
                    if_match: None,
                    json: Some(serde_json::json!({
                        "AttachmentItem": {
                            "attachmentType": "file",
                            "name": name,
                            "size": size,
                            "contentId": content_id,
                        }
                    })),
                    replayable: false,
                },
            )
            .await?;
        let session: Session =
            serde_json::from_slice(&body).map_err(|e| GraphError::Decode(e.to_string()))?;
        self.upload_chunks(creds, &session.upload_url, content)
            .await
    }

    /// PUTs `bytes` to an upload URL in order, in chunks under 4 MB. The URL is
    /// pre-authenticated, so no Authorization header goes with it (https://learn.microsoft.com/graph/outlook-large-attachments).
    async fn upload_chunks(
        &self,
        creds: &AppCredentials,
        upload_url: &str,
        content: &dyn AttachmentBody,
    ) -> Result<Added, GraphError> {
        let total = content.size();
        let mut start = 0;
        while start < total {
            let end = (start + UPLOAD_CHUNK).min(total);
            // One chunk in memory at a time.
            let chunk = bytes::Bytes::from(content.read(start, end - start).map_err(read_error)?);
            let chunk = &chunk;
            let started = self.timer.now();
            // Like every Graph call: 429 and 5xx (and a lost connection) are tried again by
            // the one retry policy, after `Retry-After` when the answer gives one.
            let r = retrying(
                &self.timer,
                self.opts.retry_budget,
                MAX_ATTEMPTS,
                move || async move {
                    let permit = self
                        .place(
                            &creds.client_id,
                            crate::exchange::gate::Class::Write,
                            started,
                        )
                        .await?;
                    let res = self
                        .http
                        .put(upload_url)
                        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                        .header(
                            reqwest::header::CONTENT_RANGE,
                            format!("bytes {start}-{}/{total}", end - 1),
                        )
                        .body(chunk.clone())
                        .send()
                        .await;
                    drop(permit);
                    match res {
                        Ok(r)
                            if r.status() == StatusCode::TOO_MANY_REQUESTS
                                || r.status().is_server_error() =>
                        {
                            let retry_after =
                                parse_retry_after(r.headers().get(RETRY_AFTER), SystemTime::now());
                            let error = if r.status() == StatusCode::TOO_MANY_REQUESTS {
                                GraphError::Throttled { retry_after }
                            } else {
                                GraphError::Unavailable {
                                    status: r.status().as_u16(),
                                }
                            };
                            Err(Failure::Again { error, retry_after })
                        }
                        Ok(r) => Ok(r),
                        Err(e) => Err(Failure::Again {
                            error: transport("the upload URL", &e),
                            retry_after: None,
                        }),
                    }
                },
            )
            .await?;
            let status = r.status();
            let location = r
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = r
                .bytes()
                .await
                .map_err(|e| transport("the upload URL", &e))?;
            match status.as_u16() {
                201 => {
                    let id = location.as_deref().and_then(attachment_id_in);
                    return Ok(Added { id, location });
                }
                200 => start = end,
                _ => return Err(map_error(status, &body)),
            }
        }
        Err(GraphError::Decode(
            "upload finished without 201 Created".into(),
        ))
    }

    /// The attachments of an event, without their content. The collection is typed
    /// `microsoft.graph.attachment`, so `contentId` (a property of the derived
    /// `fileAttachment`) is selected through its type cast; Graph refuses it by its bare name
    /// (400 `RequestBroker--ParseUri`). Should a tenant refuse the cast too, the list is read
    /// once more without `$select` (contents included: slower, but it works).
    pub async fn list_attachments(
        &self,
        creds: &AppCredentials,
        user: &str,
        event_id: &str,
    ) -> Result<Vec<AttachmentInfo>, GraphError> {
        let segments = ["users", user, "events", event_id, "attachments"];
        match self.list_attachments_with_cast(creds, user, event_id).await {
            Err(GraphError::Rejected { status: 400, code }) => {
                tracing::warn!(%code, "Graph refused the attachment $select; listing without it");
                self.get_all(creds, self.url(&segments, &[])).await
            }
            other => other,
        }
    }

    /// The attachments listed with the derived type's cast in `$select`, without the
    /// fallback (the conformance check reports whether the tenant accepts it).
    pub async fn list_attachments_with_cast(
        &self,
        creds: &AppCredentials,
        user: &str,
        event_id: &str,
    ) -> Result<Vec<AttachmentInfo>, GraphError> {
        let segments = ["users", user, "events", event_id, "attachments"];
        let url = self.url(&segments, &[("$select", ATTACHMENT_FIELDS)]);
        self.get_all(creds, url).await
    }

    /// One attachment of an event.
    fn attachment_url(&self, user: &str, event_id: &str, attachment_id: &str) -> String {
        self.url(
            &[
                "users",
                user,
                "events",
                event_id,
                "attachments",
                attachment_id,
            ],
            &[],
        )
    }

    /// A file attachment's raw content (`…/attachments/{id}/$value`,
    /// https://learn.microsoft.com/graph/api/attachment-get, example 6). The whole answer is
    /// read: the caller checks the listed size against its limit first, and moves one file
    /// at a time.
    pub async fn attachment_value(
        &self,
        creds: &AppCredentials,
        user: &str,
        event_id: &str,
        attachment_id: &str,
    ) -> Result<bytes::Bytes, GraphError> {
        self.send(
            creds,
            Req {
                method: Method::GET,
                // `$value` as Graph writes it (an id segment is encoded, this one is not).
                url: self.attachment_url(user, event_id, attachment_id) + "/$value",
                if_match: None,
                json: None,
                replayable: true,
            },
        )
        .await
    }

    pub async fn delete_attachment(
        &self,
        creds: &AppCredentials,
        user: &str,
        event_id: &str,
        attachment_id: &str,
    ) -> Result<(), GraphError> {
        self.send(
            creds,
            Req {
                method: Method::DELETE,
                url: self.attachment_url(user, event_id, attachment_id),
                if_match: None,
                json: None,
                replayable: true,
            },
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::attachment_id_in;

    #[test]
    fn the_id_is_read_from_any_documented_location_or_not_at_all() {
        // Microsoft's example: Outlook REST host and capitalised segments.
        assert_eq!(
            attachment_id_in("https://outlook.office.com/api/v2.0/Users('a8e8e219@72aa88bf')/Messages('AAMkADI5MAAIT3drCAAA=')/Attachments('AAMkADI5MAAIT3k0tAAABEgAQAPsm7DQ46UpMgrnnuy2Z9Wk=')").as_deref(),
            Some("AAMkADI5MAAIT3k0tAAABEgAQAPsm7DQ46UpMgrnnuy2Z9Wk=")
        );
        // Events instead of messages, and Graph's own lowercase form.
        assert_eq!(
            attachment_id_in(
                "https://outlook.office.com/api/v2.0/Users('u')/Events('e')/Attachments('X1')"
            )
            .as_deref(),
            Some("X1")
        );
        assert_eq!(
            attachment_id_in(
                "https://graph.microsoft.com/v1.0/users('u')/events('e')/attachments('AAMk/x+2=')"
            )
            .as_deref(),
            Some("AAMk/x+2=")
        );
        // No id to be had: never an empty one.
        for l in [
            "",
            "https://outlook.office.com/api/v2.0/Users('u')",
            "…/Attachments('')",
            "…/Attachments('open",
        ] {
            assert_eq!(attachment_id_in(l), None, "{l}");
        }
    }
}
