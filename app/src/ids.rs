//! What a citizen's request names, parsed once where it enters the server (the server
//! functions and `/api/book_form`): a value of one of these types has passed its rules, so
//! nothing behind the edge checks a raw string again. Server side only; the widget sends
//! plain strings.

use crate::domain::BookingError;

/// Defines a string newtype with its parse rule and the field name its errors carry.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $rule:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The value if it keeps the rule, else `Invalid` naming the field.
            pub fn parse(value: impl Into<String>) -> Result<Self, BookingError> {
                let value = value.into();
                let rule: fn(&str) -> bool = $rule;
                if rule(&value) {
                    Ok($name(value))
                } else {
                    Err(BookingError::invalid($field))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// 1–`max` bytes without control characters.
fn short(value: &str, max: usize) -> bool {
    (1..=max).contains(&value.len()) && !value.chars().any(char::is_control)
}

/// 1–`max` of `[A-Za-z0-9_-]`.
fn token_chars(value: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

id_type!(
    /// A form's id as configured (`[[forms]] id`).
    FormId,
    "form",
    |v| short(v, 64)
);

id_type!(
    /// An element's name within its form.
    ElementName,
    "element",
    |v| short(v, 64)
);

id_type!(
    /// A slot id as the server issued it (signed; its signature is checked behind the edge,
    /// against the form and element it was issued for).
    SlotId,
    "slot_id",
    |v| short(v, 1024)
);

id_type!(
    /// Chosen by the widget per booking attempt; a retry with the same key gets the same
    /// receipt.
    IdempotencyKey,
    "idempotency_key",
    |v| token_chars(v, 1, 128)
);

id_type!(
    /// A citizen's hold token as the server gave it (22 URL-safe characters), or empty
    /// for a citizen who holds nothing yet.
    HoldToken,
    "hold",
    |v| v.is_empty() || token_chars(v, 22, 22)
);

impl HoldToken {
    /// No hold (yet).
    pub fn none() -> HoldToken {
        HoldToken(String::new())
    }

    /// A token the server made (always of the right form).
    pub fn issued(token: String) -> HoldToken {
        debug_assert!(token_chars(&token, 22, 22));
        HoldToken(token)
    }
}

impl SlotId {
    /// An id the server signed (always of the right form).
    pub fn issued(id: String) -> SlotId {
        SlotId(id)
    }
}

/// An optional slot id (`release_slot_id`): empty, or a [`SlotId`].
pub fn optional_slot(field: &str, value: String) -> Result<Option<SlotId>, BookingError> {
    if value.is_empty() {
        Ok(None)
    } else {
        SlotId::parse(value)
            .map(Some)
            .map_err(|_| BookingError::invalid(field))
    }
}

/// Text that may be empty, at most `max` bytes, without control characters.
pub fn optional_text(field: &str, value: &str, max: usize) -> Result<(), BookingError> {
    if value.len() > max || value.chars().any(char::is_control) {
        Err(BookingError::invalid(field))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: BookingError) -> String {
        match e {
            BookingError::Invalid { field } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_type_keeps_its_rule_and_names_its_field() {
        assert_eq!(FormId::parse("ansoegning").unwrap().as_str(), "ansoegning");
        assert_eq!(field(FormId::parse("").unwrap_err()), "form");
        assert_eq!(field(FormId::parse("a\u{0}b").unwrap_err()), "form");
        assert_eq!(
            field(ElementName::parse("x".repeat(65)).unwrap_err()),
            "element"
        );
        assert!(ElementName::parse("tid æøå").is_ok());
        assert!(SlotId::parse("s".repeat(1024)).is_ok());
        assert_eq!(
            field(SlotId::parse("s".repeat(1025)).unwrap_err()),
            "slot_id"
        );
        assert!(IdempotencyKey::parse("0af3-_Z").is_ok());
        for bad in ["", "a b", "æ", &"k".repeat(129)] {
            assert_eq!(
                field(IdempotencyKey::parse(bad).unwrap_err()),
                "idempotency_key"
            );
        }
        assert!(HoldToken::parse("").is_ok());
        assert!(HoldToken::parse("abcdefghijklmnopqrstu_").is_ok());
        for bad in [
            "short",
            "abcdefghijklmnopqrstu=",
            "<script>alert(1)</script>xx",
        ] {
            assert_eq!(field(HoldToken::parse(bad).unwrap_err()), "hold");
        }
        assert_eq!(
            optional_slot("release_slot_id", String::new()).unwrap(),
            None
        );
        assert_eq!(
            field(optional_slot("release_slot_id", "\n".into()).unwrap_err()),
            "release_slot_id"
        );
    }
}
