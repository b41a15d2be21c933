use super::*;
use secrecy::ExposeSecret;

#[test]
fn the_shipped_example_config_is_valid() {
    std::env::set_var("BOOKET_SLOT_KEY", "example-slot-key-0123456789abcdef-0123");
    std::env::set_var("BOOKET_BORGERSERVICE_SECRET", "example-secret");
    std::env::set_var(
        "BOOKET_RECEIPT_KEY",
        crate::receipts::generate_key_pem().expose_secret(),
    );
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../booket.example.toml"
    ));
    let c = Config::load(path).unwrap();
    assert_eq!(c.forms[0].elements[0].notice_days, 2);
    assert_eq!(c.forms[0].elements[0].reminder_hours, 24);
    assert!(
        matches!(&c.mail, MailConfig::Graph { client_id, .. } if Some(client_id) == c.calendars[0].credentials().map(|a| a.client_id).as_ref())
    );
    assert_eq!(c.server.uploads.max_total_bytes, 30 * 1024 * 1024);
    assert!(c.receipts.signing_key.is_some());
    assert_eq!(
        c.exchange.scope_probe_mailbox.as_deref(),
        Some("direktion@kommune.dk")
    );
    assert!(c.server.private_listen.is_some());
    assert_eq!(
        c.server.allowed_origins,
        vec!["https://selvbetjening.kommune.dk".to_string()]
    );
}
