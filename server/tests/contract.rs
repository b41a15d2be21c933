//! The wire contract (`app::contract`) against the `#[server]` functions: the same
//! endpoints, and each with exactly the contract's argument names. Fails when either side
//! drifts (the widget's client and the web layer take their names from the contract).

use app::api::{BookSlot, GetElement, GetWeek, ReleaseSlot, ReserveSlot};
use app::contract::{self, Endpoint};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeSet;

/// The argument names a server function's arguments really have: built from the
/// contract's names (fails if the function needs one the contract lacks), then written back
/// (shows every name the function has).
fn arguments_of<T: Serialize + DeserializeOwned>(e: &Endpoint) -> BTreeSet<String> {
    let given: serde_json::Map<String, serde_json::Value> = e
        .args
        .iter()
        .map(|a| (a.to_string(), serde_json::Value::String(String::new())))
        .collect();
    let args: T = serde_json::from_value(serde_json::Value::Object(given)).unwrap_or_else(|err| {
        panic!(
            "{}: the function needs an argument the contract lacks: {err}",
            e.name
        )
    });
    match serde_json::to_value(args).unwrap() {
        serde_json::Value::Object(m) => m.keys().cloned().collect(),
        other => panic!("{other}"),
    }
}

#[test]
fn server_functions_take_exactly_the_contracts_arguments() {
    let set = |e: &Endpoint| {
        e.args
            .iter()
            .map(|a| a.to_string())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        arguments_of::<GetElement>(&contract::ELEMENT),
        set(&contract::ELEMENT)
    );
    assert_eq!(
        arguments_of::<GetWeek>(&contract::WEEK),
        set(&contract::WEEK)
    );
    assert_eq!(
        arguments_of::<ReserveSlot>(&contract::RESERVE),
        set(&contract::RESERVE)
    );
    assert_eq!(
        arguments_of::<ReleaseSlot>(&contract::RELEASE),
        set(&contract::RELEASE)
    );
    assert_eq!(
        arguments_of::<BookSlot>(&contract::BOOK),
        set(&contract::BOOK)
    );
}

#[test]
fn the_registered_endpoints_are_the_contracts() {
    app::api::register_server_fns();
    let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_owned())
        .collect();
    // book_form is served by the server itself (it streams its files).
    let expected: BTreeSet<String> = contract::ALL
        .iter()
        .filter(|e| **e != contract::BOOK_FORM)
        .map(|e| format!("{}/{}", contract::PREFIX, e.name))
        .collect();
    assert_eq!(registered, expected);
    // Every path the web layer meets resolves to its endpoint.
    for e in contract::ALL {
        let path = format!("{}/{}", contract::PREFIX, e.name);
        assert_eq!(contract::by_path(&path), Some(&e));
    }
}
