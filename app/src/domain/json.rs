//! The widget's JSON: a strict RFC 8259 parser into a small tree with [`FromJson`] for the
//! answers the server sends, and [`ToJson`] for the few values the widget writes (the
//! receipt, form fields, error details), byte for byte as serde_json writes them. The
//! server uses serde; the widget uses this instead of serde_json, whose monomorphised
//! visitors, error texts and Unicode tables cost the download about 14 KB (brotli).
//!
//! Only integers (the answers carry no others), nesting limited against hostile input. Long,
//! as a whole parser and writer is, with its tests against serde_json beside it.

use super::{
    BookingError, ElementPublic, FileProblem, Hold, MailOutcome, Receipt, ReceiptState, SlotState,
    SlotView, WeekView,
};
use chrono::{DateTime, FixedOffset, NaiveDate};

/// A parsed JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// The value when the number is an integer that fits in `i64`, else `None`.
    Num(Option<i64>),
    Str(String),
    Arr(Vec<Json>),
    /// Members in document order.
    Obj(Vec<(String, Json)>),
}

const MAX_DEPTH: usize = 64;

/// Parses one JSON text (surrounding whitespace allowed, nothing else after it).
pub fn parse(text: &str) -> Option<Json> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    (p.i == p.s.len()).then_some(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        let hit = self.s.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }

    fn word(&mut self, w: &[u8], v: Json) -> Option<Json> {
        self.s[self.i..].starts_with(w).then(|| {
            self.i += w.len();
            v
        })
    }

    fn value(&mut self, depth: usize) -> Option<Json> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match *self.s.get(self.i)? {
            b'n' => self.word(b"null", Json::Null),
            b't' => self.word(b"true", Json::Bool(true)),
            b'f' => self.word(b"false", Json::Bool(false)),
            b'"' => self.string().map(Json::Str),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value(depth + 1)?);
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                Some(Json::Arr(items))
            }
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        self.ws();
                        if self.s.get(self.i) != Some(&b'"') {
                            return None;
                        }
                        let key = self.string()?;
                        if !self.eat(b':') {
                            return None;
                        }
                        members.push((key, self.value(depth + 1)?));
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                Some(Json::Obj(members))
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Option<Json> {
        let start = self.i;
        let negative = self.s[self.i] == b'-';
        self.i += usize::from(negative);
        let int_start = self.i;
        let n = self.digits();
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return None;
        }
        let mut integer = true;
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
            integer = false;
        }
        if let Some(b'e' | b'E') = self.s.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.s.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
            integer = false;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        Some(Json::Num(if integer { text.parse().ok() } else { None }))
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        self.i += 4;
        h.iter()
            .try_fold(0, |n, &c| Some(n * 16 + char::from(c).to_digit(16)?))
    }

    /// A string starting at the opening quote; the input is UTF-8 already (`&str`).
    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return None;
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(code)?
                        }
                        _ => return None,
                    };
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
                0..=0x1f => return None,
                _ => out.push(c),
            }
        }
    }
}

impl Json {
    /// A member of an object (`None` for a missing member or a non-object).
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            // The last of duplicate keys wins, as in serde_json.
            Json::Obj(m) => m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A member read as `T`: `None` when missing or of the wrong shape.
    pub fn field<T: FromJson>(&self, key: &str) -> Option<T> {
        T::from_json(self.get(key)?)
    }

    /// A member that may be missing or `null` (then `T::default()`), but not malformed.
    fn field_or_default<T: FromJson + Default>(&self, key: &str) -> Option<T> {
        match self.get(key) {
            None | Some(Json::Null) => Some(T::default()),
            Some(v) => T::from_json(v),
        }
    }

    fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Reading a value of the answers' types from parsed JSON.
pub trait FromJson: Sized {
    fn from_json(v: &Json) -> Option<Self>;
}

/// Parses `text` and reads it as `T`.
pub fn from_str<T: FromJson>(text: &str) -> Option<T> {
    T::from_json(&parse(text)?)
}

impl FromJson for () {
    fn from_json(v: &Json) -> Option<Self> {
        matches!(v, Json::Null).then_some(())
    }
}

impl FromJson for String {
    fn from_json(v: &Json) -> Option<Self> {
        v.str().map(str::to_owned)
    }
}

impl FromJson for bool {
    fn from_json(v: &Json) -> Option<Self> {
        match v {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl FromJson for $t {
            fn from_json(v: &Json) -> Option<Self> {
                match v {
                    Json::Num(Some(n)) => <$t>::try_from(*n).ok(),
                    _ => None,
                }
            }
        }
    )*};
}
integers!(u8, u16, u32, u64);

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(v: &Json) -> Option<Self> {
        match v {
            Json::Null => Some(None),
            v => T::from_json(v).map(Some),
        }
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(v: &Json) -> Option<Self> {
        match v {
            Json::Arr(items) => items.iter().map(T::from_json).collect(),
            _ => None,
        }
    }
}

impl FromJson for NaiveDate {
    fn from_json(v: &Json) -> Option<Self> {
        super::wire::parse_date(v.str()?)
    }
}

impl FromJson for DateTime<FixedOffset> {
    fn from_json(v: &Json) -> Option<Self> {
        super::wire::parse_date_time(v.str()?)
    }
}

/// Unit enums travel as their snake_case names (one table for reading and writing).
macro_rules! names {
    ($t:ty { $($name:literal => $variant:path,)* }) => {
        impl FromJson for $t {
            fn from_json(v: &Json) -> Option<Self> {
                Some(match v.str()? {
                    $($name => $variant,)*
                    _ => return None,
                })
            }
        }
        impl ToJson for $t {
            fn write_json(&self, out: &mut String) {
                match self {
                    $($variant => $name.write_json(out),)*
                }
            }
        }
    };
}

names!(SlotState {
    "free" => SlotState::Free,
    "booked" => SlotState::Booked,
    "reserved" => SlotState::Reserved,
    "too_soon" => SlotState::TooSoon,
    "past" => SlotState::Past,
    "held" => SlotState::Held,
});
names!(ReceiptState {
    "selected" => ReceiptState::Selected,
    "booked" => ReceiptState::Booked,
});
names!(MailOutcome {
    "sent" => MailOutcome::Sent,
    "failed" => MailOutcome::Failed,
});
names!(FileProblem {
    "too_many" => FileProblem::TooMany,
    "too_large" => FileProblem::TooLarge,
    "total_too_large" => FileProblem::TotalTooLarge,
    "type" => FileProblem::Type,
    "content" => FileProblem::Content,
});

impl FromJson for ElementPublic {
    fn from_json(v: &Json) -> Option<Self> {
        Some(ElementPublic {
            form: v.field("form")?,
            name: v.field("name")?,
            heading: v.field("heading")?,
            description: v.field("description")?,
            info_text: v.field("info_text")?,
            required: v.field("required")?,
            show_weekend: v.field("show_weekend")?,
            first_hour: v.field("first_hour")?,
            last_hour: v.field("last_hour")?,
            calendar: v.field("calendar")?,
            sends_form: v.field_or_default("sends_form")?,
        })
    }
}

impl FromJson for SlotView {
    fn from_json(v: &Json) -> Option<Self> {
        Some(SlotView {
            id: v.field("id")?,
            start: v.field("start")?,
            end: v.field("end")?,
            state: v.field("state")?,
        })
    }
}

impl FromJson for WeekView {
    fn from_json(v: &Json) -> Option<Self> {
        Some(WeekView {
            week_start: v.field("week_start")?,
            first_week: v.field("first_week")?,
            today: v.field("today")?,
            days: v.field("days")?,
            slots: v.field("slots")?,
            next_free_week: v.field_or_default("next_free_week")?,
        })
    }
}

impl FromJson for Hold {
    fn from_json(v: &Json) -> Option<Self> {
        Some(Hold {
            slot_id: v.field("slot_id")?,
            token: v.field("token")?,
            expires: v.field("expires")?,
            seconds_left: v.field("seconds_left")?,
        })
    }
}

impl FromJson for Receipt {
    fn from_json(v: &Json) -> Option<Self> {
        Some(Receipt {
            slot_id: v.field("slot_id")?,
            start: v.field("start")?,
            end: v.field("end")?,
            calendar: v.field("calendar")?,
            state: v.field("state")?,
            attachments: v.field_or_default("attachments")?,
            mail: v.field_or_default("mail")?,
            jws: v.field_or_default("jws")?,
        })
    }
}

impl FromJson for BookingError {
    fn from_json(v: &Json) -> Option<Self> {
        Some(match v.get("error")?.str()? {
            "taken" => BookingError::Taken,
            "too_soon" => BookingError::TooSoon,
            "past" => BookingError::Past,
            "outside_window" => BookingError::OutsideWindow,
            "unknown_element" => BookingError::UnknownElement,
            "invalid_slot" => BookingError::InvalidSlot,
            "invalid" => BookingError::Invalid {
                field: v.field("field")?,
            },
            "files" => BookingError::Files {
                problem: v.field("problem")?,
                name: v.field("name")?,
                limit: v.field("limit")?,
            },
            "unavailable" => BookingError::Unavailable,
            "rate_limited" => BookingError::RateLimited {
                retry_after: v.field_or_default("retry_after")?,
            },
            "hold_limit" => BookingError::HoldLimit,
            "forbidden_origin" => BookingError::ForbiddenOrigin,
            "network" => BookingError::Network,
            "internal" => BookingError::Internal,
            _ => return None,
        })
    }
}

/// Writing a value as JSON.
pub trait ToJson {
    fn write_json(&self, out: &mut String);
}

/// `value` as compact JSON, as `serde_json::to_string` writes it.
pub fn to_string<T: ToJson + ?Sized>(value: &T) -> String {
    let mut out = String::new();
    value.write_json(&mut out);
    out
}

impl ToJson for str {
    fn write_json(&self, out: &mut String) {
        out.push('"');
        for c in self.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if c < ' ' => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.push_str("\\u00");
                    out.push(char::from(HEX[usize::from(c as u8 >> 4)]));
                    out.push(char::from(HEX[usize::from(c as u8 & 0xf)]));
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

impl ToJson for String {
    fn write_json(&self, out: &mut String) {
        self.as_str().write_json(out);
    }
}

impl ToJson for u64 {
    fn write_json(&self, out: &mut String) {
        out.push_str(&self.to_string());
    }
}

impl<T: ToJson> ToJson for [T] {
    fn write_json(&self, out: &mut String) {
        out.push('[');
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            v.write_json(out);
        }
        out.push(']');
    }
}

impl ToJson for DateTime<FixedOffset> {
    /// RFC 3339 as chrono's serde writes it: fraction only when not zero (3, 6 or 9
    /// digits), `Z` for UTC, else `±HH:MM`.
    fn write_json(&self, out: &mut String) {
        use chrono::{Datelike, Timelike};
        let t = self.naive_local();
        let (mut sec, mut nano) = (t.second(), t.nanosecond());
        if nano >= 1_000_000_000 {
            sec += 1;
            nano -= 1_000_000_000;
        }
        let fraction = match nano {
            0 => String::new(),
            n if n % 1_000_000 == 0 => format!(".{:03}", n / 1_000_000),
            n if n % 1_000 == 0 => format!(".{:06}", n / 1_000),
            n => format!(".{n:09}"),
        };
        let offset = self.offset().local_minus_utc();
        let zone = if offset == 0 {
            "Z".to_owned()
        } else {
            let (sign, m) = if offset < 0 {
                ('-', -offset / 60)
            } else {
                ('+', offset / 60)
            };
            format!("{sign}{:02}:{:02}", m / 60, m % 60)
        };
        out.push_str(&format!(
            "\"{:04}-{:02}-{:02}T{:02}:{:02}:{sec:02}{fraction}{zone}\"",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute()
        ));
    }
}

/// Writes an object member by member, in the order serde's derive does.
pub struct Object<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> Object<'a> {
    pub fn new(out: &'a mut String) -> Self {
        out.push('{');
        Object { out, empty: true }
    }

    pub fn field<T: ToJson + ?Sized>(&mut self, key: &str, value: &T) -> &mut Self {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        key.write_json(self.out);
        self.out.push(':');
        value.write_json(self.out);
        self
    }

    pub fn end(&mut self) {
        self.out.push('}');
    }
}

impl ToJson for Receipt {
    fn write_json(&self, out: &mut String) {
        let mut o = Object::new(out);
        o.field("slot_id", &self.slot_id)
            .field("start", &self.start)
            .field("end", &self.end)
            .field("calendar", &self.calendar)
            .field("state", &self.state);
        if !self.attachments.is_empty() {
            o.field("attachments", self.attachments.as_slice());
        }
        if let Some(mail) = &self.mail {
            o.field("mail", mail);
        }
        if let Some(jws) = &self.jws {
            o.field("jws", jws.as_str());
        }
        o.end();
    }
}

impl ToJson for BookingError {
    fn write_json(&self, out: &mut String) {
        let tag = match self {
            BookingError::Taken => "taken",
            BookingError::TooSoon => "too_soon",
            BookingError::Past => "past",
            BookingError::OutsideWindow => "outside_window",
            BookingError::UnknownElement => "unknown_element",
            BookingError::InvalidSlot => "invalid_slot",
            BookingError::Invalid { .. } => "invalid",
            BookingError::Files { .. } => "files",
            BookingError::Unavailable => "unavailable",
            BookingError::RateLimited { .. } => "rate_limited",
            BookingError::HoldLimit => "hold_limit",
            BookingError::ForbiddenOrigin => "forbidden_origin",
            BookingError::Network => "network",
            BookingError::Internal => "internal",
        };
        let mut o = Object::new(out);
        o.field("error", tag);
        match self {
            BookingError::Invalid { field } => {
                o.field("field", field);
            }
            BookingError::RateLimited { retry_after } if *retry_after > 0 => {
                o.field("retry_after", &u64::from(*retry_after));
            }
            BookingError::Files {
                problem,
                name,
                limit,
            } => {
                o.field("problem", problem)
                    .field("name", name)
                    .field("limit", limit);
            }
            _ => {}
        }
        o.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The same tree serde_json builds, for differential checks.
    fn from_value(v: &Value) -> Json {
        match v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Num(n.as_i64()),
            Value::String(s) => Json::Str(s.clone()),
            Value::Array(a) => Json::Arr(a.iter().map(from_value).collect()),
            Value::Object(o) => {
                Json::Obj(o.iter().map(|(k, v)| (k.clone(), from_value(v))).collect())
            }
        }
    }

    /// Agrees with serde_json on whether `text` is JSON and, if so, on its value.
    fn agrees(text: &str) {
        let ours = parse(text);
        let theirs = serde_json::from_str::<Value>(text).ok();
        match (&ours, &theirs) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                // serde_json keeps large integers as u64 and reads "-0" as a float; we keep
                // integers that fit in i64 (the answers carry no others).
                if !text.contains("18446744073709551615") && text != "-0" {
                    assert_eq!(a, &from_value(b), "{text:?}");
                }
            }
            _ => panic!("{text:?}: ours {ours:?}, serde_json {theirs:?}"),
        }
    }

    #[test]
    fn agrees_with_serde_json() {
        for text in [
            "null",
            "true",
            "false",
            "0",
            "-0",
            "12",
            "-7",
            "1.5",
            "1e3",
            "1E+3",
            "2.5e-3",
            "9223372036854775807",
            "18446744073709551615",
            r#""""#,
            r#""a\"b\\c\/d""#,
            r#""\b\f\n\r\t""#,
            r#""\u00e6\u00F8\u00e5""#,
            r#""\ud83d\ude00""#,
            r#""æøå 😀""#,
            "[]",
            "[1,2,[3,[]]]",
            "{}",
            r#"{"a":1,"b":[true,null],"c":{"d":"e"}}"#,
            " \n\t{ \"a\" : [ 1 , 2 ] } \r\n",
            "[1,]",
            "[,1]",
            "{,}",
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "+1",
            "--1",
            "NaN",
            "Infinity",
            "tru",
            "nul",
            "nulll",
            "[1 2]",
            r#""abc"#,
            "\"a\nb\"",
            r#""\x""#,
            r#""\u12""#,
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\ud83d\u0041""#,
            "",
            " ",
            "[",
            "]",
            "{",
            "}",
            "1 2",
            "[]]",
            "\u{feff}1",
            "'a'",
        ] {
            agrees(text);
        }
    }

    #[test]
    fn hostile_nesting_is_refused_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        assert_eq!(parse(&deep), None);
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_some());
    }

    #[test]
    fn answers_read_back_as_serde_wrote_them() {
        let t = |s| super::super::wire::parse_date_time(s).unwrap();
        let d = |s| super::super::wire::parse_date(s).unwrap();
        let element = ElementPublic {
            form: "demo".into(),
            name: "tid".into(),
            heading: "Book \"tid\" – æøå".into(),
            description: "<b>not markup</b>\n".into(),
            info_text: String::new(),
            required: true,
            show_weekend: false,
            first_hour: 8,
            last_hour: 16,
            calendar: "Borgerservice".into(),
            sends_form: true,
        };
        let text = serde_json::to_string(&element).unwrap();
        assert_eq!(from_str::<ElementPublic>(&text), Some(element));

        let states = [
            SlotState::Free,
            SlotState::Booked,
            SlotState::Reserved,
            SlotState::TooSoon,
            SlotState::Past,
            SlotState::Held,
        ];
        let week = WeekView {
            week_start: d("2026-11-30"),
            first_week: d("2026-11-23"),
            today: d("2026-11-27"),
            days: vec![d("2026-11-30"), d("2026-12-01")],
            slots: states
                .iter()
                .map(|&state| SlotView {
                    id: format!("id-{state:?}"),
                    start: t("2026-11-30T09:00:00+01:00"),
                    end: t("2026-11-30T09:30:00+01:00"),
                    state,
                })
                .collect(),
            next_free_week: Some(d("2026-12-07")),
        };
        let text = serde_json::to_string(&week).unwrap();
        assert_eq!(from_str::<WeekView>(&text), Some(week.clone()));
        let empty = WeekView {
            next_free_week: None,
            slots: vec![],
            ..week
        };
        let text = serde_json::to_string(&empty).unwrap();
        assert_eq!(from_str::<WeekView>(&text), Some(empty));

        let hold = Hold {
            slot_id: "s".into(),
            token: "t".into(),
            expires: t("2026-11-27T10:15:00+01:00"),
            seconds_left: 900,
        };
        let text = serde_json::to_string(&hold).unwrap();
        assert_eq!(from_str::<Hold>(&text), Some(hold));

        for (attachments, mail) in [
            (vec![], None),
            (vec!["a.pdf".to_owned()], Some(MailOutcome::Sent)),
            (vec![], Some(MailOutcome::Failed)),
        ] {
            for state in [ReceiptState::Selected, ReceiptState::Booked] {
                let receipt = Receipt {
                    slot_id: "s".into(),
                    start: t("2026-11-30T09:00:00+01:00"),
                    end: t("2026-11-30T09:30:00+01:00"),
                    calendar: "Borgerservice".into(),
                    state,
                    attachments: attachments.clone(),
                    mail,
                    jws: mail.map(|_| "eyJhbGciOiJFUzI1NiJ9.e30.c2ln".to_owned()),
                };
                let text = serde_json::to_string(&receipt).unwrap();
                assert_eq!(from_str::<Receipt>(&text), Some(receipt), "{text}");
            }
        }
        assert_eq!(from_str::<()>("null"), Some(()));
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let t = |s| super::super::wire::parse_date_time(s).unwrap();
        for text in [
            "",
            "plain",
            "quote \" back \\ slash /",
            "\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}",
            "æøå 😀 <b>&",
        ] {
            assert_eq!(to_string(text), serde_json::to_string(text).unwrap());
        }
        for (start, attachments, mail) in [
            ("2026-11-30T09:00:00+01:00", vec![], None),
            (
                "2026-06-30T09:00:00+02:00",
                vec!["a \"b\".pdf".to_owned()],
                Some(MailOutcome::Sent),
            ),
            (
                "2026-11-30T08:00:00Z",
                vec!["x".into(), "y\n".into()],
                Some(MailOutcome::Failed),
            ),
            ("2026-11-30T09:00:00.250+01:00", vec![], None),
            ("2026-11-30T09:00:00.000250-03:30", vec![], None),
            ("2026-11-30T09:00:00.000000250+05:45", vec![], None),
        ] {
            for state in [ReceiptState::Selected, ReceiptState::Booked] {
                let receipt = Receipt {
                    slot_id: "v1.abc_-".into(),
                    start: t(start),
                    end: t(start),
                    calendar: "Borger\"service\" æøå".into(),
                    state,
                    attachments: attachments.clone(),
                    mail,
                    jws: mail.map(|_| "eyJhbGciOiJFUzI1NiJ9.e30.c2ln".to_owned()),
                };
                let ours = to_string(&receipt);
                assert_eq!(ours, serde_json::to_string(&receipt).unwrap());
                assert_eq!(from_str::<Receipt>(&ours), Some(receipt));
            }
        }
        let mut ours = String::new();
        Object::new(&mut ours)
            .field("name", "e-mail")
            .field("label", "E-mail \"x\"")
            .end();
        let theirs = serde_json::json!({"name": "e-mail", "label": "E-mail \"x\""});
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&ours).unwrap(),
            theirs
        );
    }

    #[test]
    fn wrong_shapes_are_refused() {
        assert_eq!(from_str::<u8>("256"), None);
        assert_eq!(from_str::<u8>("-1"), None);
        assert_eq!(from_str::<u32>("1.0"), None);
        assert_eq!(from_str::<SlotState>(r#""Free""#), None);
        assert_eq!(from_str::<Vec<u8>>("[1,\"2\"]"), None);
        assert_eq!(from_str::<Hold>(r#"{"slot_id":"s","token":"t"}"#), None);
        assert_eq!(from_str::<NaiveDate>(r#""2026-02-30""#), None);
        assert_eq!(from_str::<()>("{}"), None);
    }
}
