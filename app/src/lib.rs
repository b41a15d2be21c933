//! Booket's booking element: the Leptos widget (feature `csr`) and the server functions it
//! calls (their server side behind feature `ssr`).

pub mod api;
pub mod contract;
pub mod domain;
pub mod i18n;
#[cfg(feature = "ssr")]
pub mod ids;

#[cfg(feature = "csr")]
pub mod booking;
