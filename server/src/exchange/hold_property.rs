//! Booket's hold record on an event: one MAPI named string property in Booket's own
//! property set, which Graph names as a single-value extended property and EWS as an
//! `ExtendedFieldURI`. Defined once here; what it holds is `booking::hold`'s business.

macro_rules! set {
    () => {
        "8e1a3b55-2f6d-4c0e-9b7a-5d4c3b2a1f09"
    };
}
macro_rules! name {
    () => {
        "BooketHold"
    };
}

/// The property set (a GUID of Booket's own).
pub const SET: &str = set!();
/// The property's name within the set.
pub const NAME: &str = name!();
/// Graph's id of the property: `String {set} Name name`.
pub const GRAPH_ID: &str = concat!("String {", set!(), "} Name ", name!());

#[cfg(test)]
mod tests {
    #[test]
    fn graph_names_the_property_by_set_and_name() {
        assert_eq!(
            super::GRAPH_ID,
            format!("String {{{}}} Name {}", super::SET, super::NAME)
        );
    }
}
