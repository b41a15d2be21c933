//! The wire contract between the widget and the server, written once: each endpoint's
//! name, the names of its arguments in the order the widget sends them, and whether it
//! writes to Outlook (writes have their own per-client budget). The widget's client
//! (`booking/client.rs`) sends exactly these names, the web layer (`server/src/web.rs`)
//! names functions and budgets by them, `/api/book_form` (`server/src/uploads.rs`) reads
//! its parts by them, and a test in `server/tests/contract.rs` fails when the `#[server]`
//! functions in [`crate::api`] drift from them.

/// Where every endpoint lives.
pub const PREFIX: &str = "/api";

/// Argument names.
pub mod arg {
    pub const FORM: &str = "form";
    pub const ELEMENT: &str = "element";
    pub const WEEK: &str = "week";
    pub const HOLD: &str = "hold";
    pub const SLOT_ID: &str = "slot_id";
    pub const RELEASE_SLOT_ID: &str = "release_slot_id";
    pub const SESSION: &str = "session";
    pub const IDEMPOTENCY_KEY: &str = "idempotency_key";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub name: &'static str,
    pub args: &'static [&'static str],
    pub write: bool,
}

pub const ELEMENT: Endpoint = Endpoint {
    name: "element",
    args: &[arg::FORM, arg::ELEMENT],
    write: false,
};

pub const WEEK: Endpoint = Endpoint {
    name: "week",
    args: &[arg::FORM, arg::ELEMENT, arg::WEEK, arg::HOLD],
    write: false,
};

pub const RESERVE: Endpoint = Endpoint {
    name: "reserve",
    args: &[
        arg::FORM,
        arg::ELEMENT,
        arg::SLOT_ID,
        arg::HOLD,
        arg::RELEASE_SLOT_ID,
        arg::SESSION,
    ],
    write: true,
};

pub const RELEASE: Endpoint = Endpoint {
    name: "release",
    args: &[arg::FORM, arg::ELEMENT, arg::SLOT_ID, arg::HOLD],
    write: true,
};

pub const BOOK: Endpoint = Endpoint {
    name: "book",
    args: &[
        arg::FORM,
        arg::ELEMENT,
        arg::SLOT_ID,
        arg::IDEMPOTENCY_KEY,
        arg::HOLD,
    ],
    write: true,
};

/// The booking with the form's files (multipart): these parts first, then the form's
/// fields, then its files under [`FILE_PART`].
pub const BOOK_FORM: Endpoint = Endpoint {
    name: "book_form",
    args: &[
        arg::FORM,
        arg::ELEMENT,
        arg::SLOT_ID,
        arg::IDEMPOTENCY_KEY,
        arg::HOLD,
    ],
    write: true,
};

/// The multipart part name of each of the form's fields (JSON: name, label, value).
pub const FIELD_PART: &str = "field";

/// The multipart part name of each uploaded file.
pub const FILE_PART: &str = "file";

pub const ALL: [Endpoint; 6] = [ELEMENT, WEEK, RESERVE, RELEASE, BOOK, BOOK_FORM];

/// The endpoint a request path names (`/api/<name>`).
pub fn by_path(path: &str) -> Option<&'static Endpoint> {
    let name = path.strip_prefix(PREFIX)?.strip_prefix('/')?;
    ALL.iter().find(|e| e.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_find_their_endpoint_and_nothing_else() {
        assert_eq!(by_path("/api/book"), Some(&BOOK));
        assert_eq!(by_path("/api/book_form"), Some(&BOOK_FORM));
        assert_eq!(by_path("/api/books"), None);
        assert_eq!(by_path("/apibook"), None);
        assert_eq!(by_path("/book"), None);
        let names: std::collections::HashSet<_> = ALL.iter().map(|e| e.name).collect();
        assert_eq!(names.len(), ALL.len());
    }
}
