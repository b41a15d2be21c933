//! The widget's own JSON reader and writer against serde_json (what the server writes
//! with): same verdict on every text, same values, and strings written byte for byte alike.
#![no_main]

use app::domain::json::{self, Json};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Same value, with serde_json's meaning for duplicate keys (the last wins) and numbers
/// (the widget keeps integers only; serde_json reads "-0" as a float).
fn same(ours: &Json, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Json::Null, Value::Null) => true,
        (Json::Bool(a), Value::Bool(b)) => a == b,
        (Json::Num(a), Value::Number(n)) => {
            *a == n.as_i64() || (*a == Some(0) && n.as_f64() == Some(0.0))
        }
        (Json::Str(a), Value::String(b)) => a == b,
        (Json::Arr(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Json::Obj(members), Value::Object(map)) => {
            let mut keys: Vec<&String> = members.iter().map(|(k, _)| k).collect();
            keys.sort();
            keys.dedup();
            keys.len() == map.len()
                && map
                    .iter()
                    .all(|(k, v)| ours.get(k).is_some_and(|o| same(o, v)))
        }
        _ => false,
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match (json::parse(s), serde_json::from_str::<Value>(s)) {
        (Some(ours), Ok(theirs)) => assert!(same(&ours, &theirs), "{s:?}"),
        (None, Err(_)) => {}
        // The widget refuses nesting deeper than 64; serde_json allows 128.
        (None, Ok(theirs)) => assert!(depth(&theirs) > 64, "refused valid JSON {s:?}"),
        // RFC 8259 puts no limit on numbers; serde_json refuses those beyond f64 (the
        // widget keeps integers only, so such a number never reaches a field).
        (Some(_), Err(e)) if e.to_string().starts_with("number out of range") => {}
        (Some(ours), Err(e)) => panic!("accepted {s:?} as {ours:?}; serde_json: {e}"),
    }
    let written = json::to_string(s);
    assert_eq!(written, serde_json::to_string(s).unwrap());
    assert_eq!(json::parse(&written), Some(Json::Str(s.to_owned())));
});
