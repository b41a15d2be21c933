//! What both Exchange backends share, whatever their wire: the gate that keeps an app's
//! requests in flight within Exchange's limit (writes first), the one retry policy and its
//! clock, `Retry-After`, the per-calendar read budget, the name of Booket's hold record
//! and the cache of calendar ids. `graph/` and `ews/` each keep only their wire: requests,
//! answers, errors and sign-in.

pub mod budget;
pub mod calendar_ids;
pub mod gate;
pub mod hold_property;
pub mod retry;
pub mod timer;

pub use budget::ReadBudget;
pub use calendar_ids::CalendarIds;
pub use gate::{Class, Gate, Permit};
pub use retry::parse_retry_after;
pub use timer::{RecordingTimer, Timer, TokioTimer};
