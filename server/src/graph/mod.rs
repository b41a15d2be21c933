//! The Microsoft Graph wire: tokens, the few calendar and mail calls Booket needs, typed
//! errors, and the mailbox seam over them (the gate, retries and
//! clock are `exchange`'s). Base URLs come from configuration, so the same code talks to
//! Microsoft, a national cloud or the simulator.

mod attachments;
mod auth;
mod calendar;
mod client;
pub mod error;
mod mail;
mod mailbox;
pub mod wire;

pub use attachments::{
    attachment_id_in, Added, AttachmentInfo, ATTACHMENT_FIELDS, SMALL_ATTACHMENT_LIMIT,
    UPLOAD_CHUNK,
};
pub use auth::{AppCredentials, Certificate, ClientCredential};
pub use client::{GraphClient, GraphOptions};
pub use error::{GraphError, TokenRefusal};
pub use mailbox::{message, to_event, GraphMailbox, HOLD_PROPERTY, MAX_ATTACHMENT};
