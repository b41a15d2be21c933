//! The EWS backend (Exchange Server on premises): the second implementation of the mailbox
//! seam beside `graph/`. `xml.rs` is the wire (requests written with escaping, answers read
//! typed with quick-xml's serde), `client.rs` the calls (gate, retries, limits, what an
//! answer means), `connection.rs` the HTTP connections and their logons, `ntlm.rs` NTLMv2 with
//! Extended Protection's channel binding, `mailbox.rs` the seam.
//!
//! (The `ews` crate of Thunderbird was read and not used: it has no FindFolder,
//! CreateAttachment, DeleteAttachment or SendItem, no impersonation or time zone headers,
//! no `SendMeetingInvitationsOrCancellations` on UpdateItem, and reads calendar items as
//! messages without Start and End — docs/operators/ews-setup.md.)

pub mod client;
pub mod connection;
pub mod mailbox;
pub mod ntlm;
pub mod xml;

pub use client::{EwsClient, EwsError};
pub use mailbox::EwsMailbox;
