//! The Microsoft Graph client: token cache, concurrency gate, retries, typed errors and the
//! few calendar calls Booket needs. Base URLs come from configuration, so the same code
//! talks to Microsoft, a national cloud or the simulator.

mod attachments;
mod auth;
mod calendar;
mod client;
pub mod error;
pub(crate) mod gate;
mod mail;
mod mailbox;
pub(crate) mod retry;
pub mod timer;
pub mod wire;

pub use attachments::{
    attachment_id_in, Added, AttachmentInfo, ATTACHMENT_FIELDS, SMALL_ATTACHMENT_LIMIT,
    UPLOAD_CHUNK,
};
pub use auth::{AppCredentials, Certificate, ClientCredential};
pub use client::{parse_retry_after, GraphClient, GraphOptions};
pub use error::{GraphError, TokenRefusal};
pub use mailbox::{message, to_event, GraphMailbox, HOLD_PROPERTY, MAX_ATTACHMENT};
