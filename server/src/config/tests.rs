//! Configuration, rule by rule: each mistake named with its key and line, each default.
//! (About 585 lines: one test per rule.)

use super::*;

const GOOD: &str = r#"
[server]
listen = "127.0.0.1:3100"

[[calendars]]
name = "Borgerservice"
outlook_calendar = "Borgerservice"
owner = "booking@kommune.dk"
tenant_id = "t"
client_id = "c"
client_secret = { env = "BOOKET_TEST_SECRET_CFG" }

[[forms]]
id = "ansoegning"
title = "Ansøgning"

[[forms.elements]]
name = "tid"
heading = "Vælg tid"
calendar = "Borgerservice"
first_hour = 8
last_hour = 16
notice_days = 2
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    std::env::set_var("BOOKET_TEST_SECRET_CFG", "s3cret");
    Config::parse(text, "booket.toml", Path::new("."))
}

#[test]
fn receipt_keys_are_checked_at_load_and_openssl_keys_work() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("receipt.pem");
    // What docs/operators/graph-setup.md tells administrators to run.
    let made = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&key)
        .status()
        .expect("openssl is installed (scripts/setup.sh)");
    assert!(made.success());
    let with = |extra: &str| Config::parse(&format!("{GOOD}\n{extra}"), "booket.toml", dir.path());
    std::env::set_var("BOOKET_TEST_SECRET_CFG", "s3cret");
    let c =
        with("[receipts]\nsigning_key = { file = \"receipt.pem\" }\nlifetime_hours = 48").unwrap();
    assert!(c.receipts.signing_key.is_some());
    assert_eq!(c.receipts.lifetime.as_secs(), 48 * 3600);
    std::fs::write(
        dir.path().join("bad.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let e = with("[receipts]\nsigning_key = { file = \"bad.pem\" }").unwrap_err();
    assert!(e.to_string().contains("[receipts] signing_key"), "{e}");
    assert!(e.to_string().contains("P-256"), "{e}");
    let e = with("[receipts]\nsigning_key = { file = \"receipt.pem\" }\n[[receipts.previous_keys]]\nkey = { file = \"receipt.pem\" }\nretired_at = \"yesterday\"").unwrap_err();
    assert!(e.to_string().contains("previous_keys[0].retired_at"), "{e}");
}

#[test]
fn a_webhook_is_https_or_this_machine_and_needs_the_receipt_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("receipt.pem"),
        secrecy::ExposeSecret::expose_secret(&crate::receipts::generate_key_pem()),
    )
    .unwrap();
    let with = |url: &str, key: bool| {
        let form = GOOD.replace(
            "title = \"Ansøgning\"",
            &format!("title = \"Ansøgning\"\nwebhook_url = \"{url}\""),
        );
        let receipts = if key {
            "[receipts]\nsigning_key = { file = \"receipt.pem\" }"
        } else {
            ""
        };
        std::env::set_var("BOOKET_TEST_SECRET_CFG", "s3cret");
        Config::parse(&format!("{form}\n{receipts}"), "booket.toml", dir.path())
    };
    for ok in [
        "https://blanket.kommune.dk/booket-events?t=1",
        "http://127.0.0.1:8080/events",
        "http://localhost/events",
    ] {
        let c = with(ok, true).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(c.forms[0].webhook_url.as_ref().unwrap().as_str(), ok);
    }
    for bad in [
        "http://blanket.kommune.dk/events",
        "ftp://x/y",
        "not a url",
        "mailto:a@b.dk",
    ] {
        let e = with(bad, true).unwrap_err().to_string();
        assert!(e.contains("webhook_url"), "{bad}: {e}");
    }
    let e = with("https://blanket.kommune.dk/events", false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("webhook_url") && e.contains("signing_key"),
        "{e}"
    );
    assert!(with("", false).unwrap().forms[0].webhook_url.is_none());
}

#[test]
fn an_unknown_mail_protocol_names_the_key_and_the_choices() {
    let e = parse(&format!("{GOOD}\n[mail]\nprotocol = \"smtp\"\n")).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("mail.protocol"), "{text}");
    assert!(text.contains("graph") && text.contains("off"), "{text}");
}

#[test]
fn the_private_listener_keeps_its_old_name() {
    let c = parse(&GOOD.replace(
        "listen = \"127.0.0.1:3100\"",
        "listen = \"127.0.0.1:3100\"\nmetrics_listen = \"127.0.0.1:9100\"",
    ))
    .unwrap();
    assert_eq!(c.server.private_listen.map(|a| a.port()), Some(9100));
    assert_eq!(c.deprecated, vec![("metrics_listen", "private_listen")]);
}

#[test]
fn the_read_budget_keeps_its_old_name_and_the_file_says_which_it_used() {
    let old = parse(&GOOD.replace(
        "[[calendars]]",
        "[exchange]\nmax_graph_reads_per_minute = 7\n\n[[calendars]]",
    ))
    .unwrap();
    assert_eq!(old.exchange.max_reads_per_minute, 7);
    assert_eq!(
        old.deprecated,
        vec![("max_graph_reads_per_minute", "max_reads_per_minute")]
    );
    let new = parse(&GOOD.replace(
        "[[calendars]]",
        "[exchange]\nmax_reads_per_minute = 7\n\n[[calendars]]",
    ))
    .unwrap();
    assert_eq!(new.exchange.max_reads_per_minute, 7);
    assert!(new.deprecated.is_empty());
}

#[test]
fn the_scope_probe_must_be_a_mailbox_booket_does_not_use() {
    let e = parse(&GOOD.replace(
        "[[calendars]]",
        "[exchange]\nscope_probe_mailbox = \"Booking@Kommune.dk\"\n\n[[calendars]]",
    ))
    .unwrap_err();
    assert!(e.to_string().contains("scope_probe_mailbox"), "{e}");
    assert!(e.to_string().contains("must NOT reach"), "{e}");
    let c = parse(&GOOD.replace(
        "[[calendars]]",
        "[exchange]\nscope_probe_mailbox = \"direktion@kommune.dk\"\n\n[[calendars]]",
    ))
    .unwrap();
    assert_eq!(
        c.exchange.scope_probe_mailbox.as_deref(),
        Some("direktion@kommune.dk")
    );
}

#[test]
fn a_good_file_parses() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.server.listen.port(), 3100);
    assert_eq!(c.calendars[0].time_zone, chrono_tz::Europe::Copenhagen);
    let (_, e) = c.element("ansoegning", "tid").unwrap();
    assert_eq!(e.notice_days, 2);
    assert!(matches!(c.mail, MailConfig::Off));
}

#[test]
fn errors_name_file_section_and_field() {
    let table = [
        (
            "first_hour = 8",
            "first_hour = 25",
            "element \"tid\" first_hour",
            "0–23",
        ),
        (
            "last_hour = 16",
            "last_hour = 8",
            "element \"tid\" last_hour",
            "greater than first_hour",
        ),
        (
            "notice_days = 2",
            "notice_days = 400",
            "notice_days",
            "0–365",
        ),
        (
            "notice_days = 2",
            "notice_days = 2\nreminder_hours = 200",
            "element \"tid\" reminder_hours",
            "to 168",
        ),
        (
            "name = \"tid\"",
            "name = \"Tid!\"",
            "element \"Tid!\" name",
            "[a-z0-9_-]",
        ),
        (
            "calendar = \"Borgerservice\"\nfirst",
            "calendar = \"Nope\"\nfirst",
            "calendar",
            "no calendar named",
        ),
        (
            "BOOKET_TEST_SECRET_CFG",
            "BOOKET_TEST_UNSET_VAR",
            "client_secret",
            "not set",
        ),
        (
            "listen = \"127.0.0.1:3100\"",
            "listen = \"nowhere\"",
            "[server] listen",
            "not an address",
        ),
        (
            "listen = \"127.0.0.1:3100\"",
            "listen = \"127.0.0.1:3100\"\nallowed_origins = [\"*\"]",
            "[server] allowed_origins",
            "any web site",
        ),
        (
            "listen = \"127.0.0.1:3100\"",
            "listen = \"127.0.0.1:3100\"\nallowed_origins = [\"https://x.dk/path\"]",
            "[server] allowed_origins",
            "not an origin",
        ),
    ];
    for (from, to, place, msg) in table {
        assert!(GOOD.contains(from), "{from}");
        let e = parse(&GOOD.replacen(from, to, 1)).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("booket.toml:"), "{text}");
        assert!(e.key.is_some() && e.line.is_some(), "{text}");
        assert!(text.contains(place), "{text} should name {place}");
        assert!(text.contains(msg), "{text} should say {msg}");
    }
}

#[test]
fn type_errors_and_missing_fields_name_their_key_path_and_line() {
    let e = parse(&GOOD.replace("listen = \"127.0.0.1:3100\"", "listen = 42")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("server.listen"), "{e}");
    assert_eq!(e.line, Some(3), "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with("booket.toml:3: server.listen: invalid type: integer `42`"),
        "{text}"
    );

    // A second [[calendars]] entry without its outlook_calendar.
    let second = "\n[[calendars]]\nname = \"Anden\"\nowner = \"b@kommune.dk\"\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = { env = \"BOOKET_TEST_SECRET_CFG\" }\n";
    let text = GOOD.replacen("\n[[forms]]", &format!("{second}\n[[forms]]"), 1);
    let e = parse(&text).unwrap_err();
    assert_eq!(
        e.key.as_deref(),
        Some("calendars[1].outlook_calendar"),
        "{e}"
    );
    let line = text.lines().position(|l| l == "name = \"Anden\"").unwrap();
    assert!(
        e.line.is_some_and(|l| l == line || l == line + 1),
        "line {:?} for the entry at {line}: {e}",
        e.line
    );
    assert!(e.to_string().contains("is required"), "{e}");

    // Errors found by validation carry the key path and line too.
    let e = parse(&GOOD.replace("last_hour = 16", "last_hour = 8")).unwrap_err();
    assert_eq!(
        e.key.as_deref(),
        Some("forms[0].elements[0].last_hour"),
        "{e}"
    );
    let line = GOOD.lines().position(|l| l == "last_hour = 16").unwrap() + 1;
    assert_eq!(e.line, Some(line), "{e}");
    let e = parse(&GOOD.replace(
        "client_id = \"c\"",
        "client_id = \"c\"\ntime_zone = \"Mars/Olympus\"",
    ))
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("calendars[0].time_zone"), "{e}");
    assert!(e.line.is_some(), "{e}");
}

#[test]
fn the_token_scope_is_the_graph_resource_not_the_address_called() {
    let scope = |extra: &str| {
        parse(&GOOD.replacen(
            "[[calendars]]",
            &format!("[exchange]\n{extra}\n\n[[calendars]]"),
            1,
        ))
        .map(|c| c.exchange.graph_scope)
    };
    assert_eq!(scope("").unwrap(), "https://graph.microsoft.com/.default");
    // Through a gateway or egress proxy with its own address.
    assert_eq!(
        scope("graph_base_url = \"https://graph-gw.kommune.dk/v1.0\"").unwrap(),
        "https://graph.microsoft.com/.default"
    );
    // National clouds, by their Graph host or, behind a gateway, their login host.
    assert_eq!(
        scope("graph_base_url = \"https://graph.microsoft.us/v1.0\"").unwrap(),
        "https://graph.microsoft.us/.default"
    );
    assert_eq!(
        scope("graph_base_url = \"https://dod-graph.microsoft.us/v1.0\"").unwrap(),
        "https://dod-graph.microsoft.us/.default"
    );
    assert_eq!(
        scope("graph_base_url = \"https://gw.example/v1.0\"\nlogin_base_url = \"https://login.chinacloudapi.cn\"").unwrap(),
        "https://microsoftgraph.chinacloudapi.cn/.default"
    );
    // Said outright, it wins.
    assert_eq!(
        scope("graph_base_url = \"https://gw.example/v1.0\"\ngraph_scope = \"https://graph.microsoft.us/.default\"").unwrap(),
        "https://graph.microsoft.us/.default"
    );
    let e = scope("graph_scope = \"https://graph.microsoft.com\"").unwrap_err();
    assert!(e.to_string().contains("[exchange] graph_scope"), "{e}");
    assert_eq!(e.key.as_deref(), Some("exchange.graph_scope"));
}

#[test]
fn slot_keys_are_long_and_plain_http_goes_only_to_loopback_addresses() {
    let with = |server: &str, exchange: &str| {
        parse(
            &GOOD
                .replacen(
                    "listen = \"127.0.0.1:3100\"",
                    &format!("listen = \"127.0.0.1:3100\"\n{server}"),
                    1,
                )
                .replacen(
                    "[[calendars]]",
                    &format!("[exchange]\n{exchange}\n\n[[calendars]]"),
                    1,
                ),
        )
    };
    std::env::set_var("BOOKET_TEST_SHORT_KEY", "short");
    std::env::set_var("BOOKET_TEST_LONG_KEY", "k".repeat(32));
    let e = with("slot_key = { env = \"BOOKET_TEST_SHORT_KEY\" }", "").unwrap_err();
    assert!(e.to_string().contains("at least 32 bytes"), "{e}");
    let e = with(
        "slot_key = { env = \"BOOKET_TEST_LONG_KEY\" }\nprevious_slot_keys = [{ env = \"BOOKET_TEST_SHORT_KEY\" }]",
        "",
    )
    .unwrap_err();
    assert!(e.to_string().contains("previous_slot_keys"), "{e}");
    let c = with(
        "slot_key = { env = \"BOOKET_TEST_LONG_KEY\" }\nprevious_slot_keys = [{ env = \"BOOKET_TEST_LONG_KEY\" }]",
        "",
    )
    .unwrap();
    assert_eq!(c.server.previous_slot_keys.len(), 1);
    for ok in [
        "graph_base_url = \"http://127.0.0.1:3001/v1.0\"",
        "graph_base_url = \"http://[::1]:3001/v1.0\"",
        "login_base_url = \"http://127.1.2.3\"",
    ] {
        assert!(with("", ok).is_ok(), "{ok}");
    }
    for bad in [
        "graph_base_url = \"http://127.evil.example/v1.0\"",
        "graph_base_url = \"http://localhost:3001/v1.0\"",
        "login_base_url = \"http://login.microsoftonline.com\"",
        "graph_base_url = \"http://10.0.0.5/v1.0\"",
    ] {
        let e = with("", bad).unwrap_err();
        assert!(e.to_string().contains("must use https"), "{bad}: {e}");
    }
}

#[test]
fn unknown_fields_and_syntax_errors_are_reported_with_a_line() {
    let e = parse(&GOOD.replace("notice_days = 2", "notice_dayz = 2")).unwrap_err();
    assert!(e.to_string().contains("notice_dayz"), "{e}");
    assert!(e.line.is_some(), "{e}");
    let e = parse("[server\nlisten = 1").unwrap_err();
    assert_eq!(e.line, Some(1), "{e}");
}

#[test]
fn secrets_never_print() {
    let c = parse(GOOD).unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("s3cret"), "{dbg}");
}

/// A second calendar reached through EWS (`extra` goes into its table).
fn with_ews(extra: &str) -> Result<Config, ConfigError> {
    std::env::set_var("BOOKET_TEST_EWS_PASSWORD", "pa55word");
    parse(&format!(
        "{GOOD}\n[[calendars]]\nname = \"Jobcenter\"\noutlook_calendar = \"Jobcenter\"\nowner = \"jobcenter@kommune.dk\"\n{extra}\n"
    ))
}

const EWS: &str = r#"api = "ews"
ews_url = "https://mail.kommune.dk/EWS/Exchange.asmx"
auth = "basic"
username = "svc-booket"
domain = "KOMMUNE"
password = { env = "BOOKET_TEST_EWS_PASSWORD" }"#;

#[test]
fn a_calendar_may_use_ews_beside_graph() {
    let c = with_ews(EWS).unwrap();
    assert!(matches!(c.calendars[0].access, CalendarAccess::Graph(_)));
    let CalendarAccess::Ews(a) = &c.calendars[1].access else {
        panic!("the second calendar uses EWS");
    };
    assert_eq!(a.url, "https://mail.kommune.dk/EWS/Exchange.asmx");
    assert_eq!(
        (a.auth, a.access),
        (EwsAuth::Basic, EwsAccess::Impersonation)
    );
    assert_eq!(a.domain.as_deref(), Some("KOMMUNE"));
    assert_eq!(a.request_limit, 64 * 1024 * 1024);
    assert!(c.calendars[1].credentials().is_none());
    // The password never shows in debug output.
    assert!(!format!("{a:?}").contains("pa55word"));
    // "on-premise" (the original product's name) is the same choice.
    let c = with_ews(&EWS.replace("api = \"ews\"", "api = \"on-premise\"")).unwrap();
    assert!(matches!(c.calendars[1].access, CalendarAccess::Ews(_)));
}

#[test]
fn ews_settings_are_checked_field_by_field() {
    let cases = [
        // (change to the EWS table, the field named, words of the message)
        (
            EWS.replace(
                "ews_url = \"https://mail.kommune.dk/EWS/Exchange.asmx\"\n",
                "",
            ),
            "ews_url",
            "required",
        ),
        (
            EWS.replace("https://mail", "http://mail"),
            "ews_url",
            "https",
        ),
        (
            EWS.replace("username = \"svc-booket\"\n", ""),
            "username",
            "required",
        ),
        (
            EWS.replace("password = { env = \"BOOKET_TEST_EWS_PASSWORD\" }", ""),
            "password",
            "by reference",
        ),
        (
            format!("{EWS}\news_ca_file = \"/nonexistent/ca.pem\""),
            "ews_ca_file",
            "cannot read",
        ),
        (
            format!("{EWS}\ntenant_id = \"t\""),
            "tenant_id",
            "api = \"graph\"",
        ),
        (
            format!("{EWS}\nclient_secret = {{ env = \"X\" }}"),
            "client_secret",
            "api = \"graph\"",
        ),
        (
            format!("{EWS}\news_request_limit_mb = 0"),
            "ews_request_limit_mb",
            "1–2048",
        ),
    ];
    for (table, field, words) in cases {
        let e = with_ews(&table).unwrap_err().to_string();
        assert!(e.contains("[[calendars]] \"Jobcenter\""), "{e}");
        assert!(e.contains(field) && e.contains(words), "{field}: {e}");
    }
    // Kerberos (Negotiate) is not built: named with its line.
    let e = with_ews(&EWS.replace("auth = \"basic\"", "auth = \"kerberos\""))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("calendars[1].auth") && e.contains("`ntlm` or `basic`"),
        "{e}"
    );
    // EWS settings on a Graph calendar are named too.
    let e = parse(&GOOD.replace("tenant_id = \"t\"", "tenant_id = \"t\"\nusername = \"x\""))
        .unwrap_err()
        .to_string();
    assert!(e.contains("username") && e.contains("api = \"ews\""), "{e}");
    // NTLM is the default; the organisation's own root CA is read from ews_ca_file.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, TEST_CA).unwrap();
    let c = with_ews(&format!(
        "{}\news_ca_file = \"{}\"",
        EWS.replace("auth = \"basic\"\n", ""),
        ca.display()
    ))
    .unwrap();
    let CalendarAccess::Ews(a) = &c.calendars[1].access else {
        panic!("the second calendar uses EWS");
    };
    assert_eq!((a.auth, a.extra_roots.len()), (EwsAuth::Ntlm, 1));
    // A file with no certificate, or one that is not a certificate, is named.
    for (text, words) in [
        ("not pem", "holds no certificate"),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "is not a certificate",
        ),
    ] {
        std::fs::write(&ca, text).unwrap();
        let e = with_ews(&format!("{EWS}\news_ca_file = \"{}\"", ca.display()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ews_ca_file") && e.contains(words), "{e}");
    }
    // Plain HTTP is for a simulator on this machine only.
    let c = with_ews(&EWS.replace("https://mail.kommune.dk", "http://127.0.0.1:4111")).unwrap();
    assert!(
        matches!(&c.calendars[1].access, CalendarAccess::Ews(a) if a.url.starts_with("http://127.0.0.1"))
    );
}

#[test]
fn mail_may_go_through_an_ews_calendars_service_account() {
    let mail = "[mail]\nprotocol = \"ews\"\ncredentials_from_calendar = \"Jobcenter\"\nsender = \"noreply@kommune.dk\"\nuser = \"jobcenter@kommune.dk\"\n";
    let c = with_ews(&format!("{EWS}\n{mail}")).unwrap();
    assert!(matches!(&c.mail, MailConfig::Ews { user, .. } if user == "jobcenter@kommune.dk"));
    assert_eq!(
        c.mail.sending(),
        Some(("noreply@kommune.dk", "jobcenter@kommune.dk"))
    );
    // A Graph calendar's app cannot send through EWS.
    let e = with_ews(&format!(
        "{EWS}\n{}",
        mail.replace("\"Jobcenter\"", "\"Borgerservice\"")
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("credentials_from_calendar") && e.contains("uses Graph"),
        "{e}"
    );
    let e = with_ews(&format!(
        "{EWS}\n{}",
        mail.replace("user = \"jobcenter@kommune.dk\"\n", "")
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("[mail] user") && e.contains("protocol = \"ews\""),
        "{e}"
    );
}

#[test]
fn mail_through_ews_may_have_a_service_account_of_its_own() {
    std::env::set_var("BOOKET_TEST_MAIL_PASSWORD", "ma1l");
    let own = "[mail]\nprotocol = \"ews\"\news_url = \"https://mail.kommune.dk/EWS/Exchange.asmx\"\nusername = \"svc-mail\"\ndomain = \"KOMMUNE\"\npassword = { env = \"BOOKET_TEST_MAIL_PASSWORD\" }\nsender = \"noreply@kommune.dk\"\nuser = \"noreply@kommune.dk\"\n";
    // Beside Graph calendars only: the mail needs no EWS calendar.
    let c = parse(&format!("{GOOD}\n{own}")).unwrap();
    let MailConfig::Ews { account, user, .. } = &c.mail else {
        panic!("mail through EWS");
    };
    assert_eq!(
        (account.username.as_str(), account.auth, user.as_str()),
        ("svc-mail", EwsAuth::Ntlm, "noreply@kommune.dk")
    );
    assert!(!format!("{account:?}").contains("ma1l"));
    // Each field is checked as on a calendar, and named under [mail].
    for (changed, field, words) in [
        (
            own.replace("https://mail", "http://mail"),
            "[mail] ews_url",
            "https",
        ),
        (
            own.replace("username = \"svc-mail\"\n", ""),
            "[mail] username",
            "required",
        ),
        (
            own.replace("password = { env = \"BOOKET_TEST_MAIL_PASSWORD\" }\n", ""),
            "[mail] password",
            "by reference",
        ),
        (
            format!("{own}tenant_id = \"t\"\n"),
            "[mail] tenant_id",
            "protocol = \"graph\"",
        ),
        (
            format!("{own}credentials_from_calendar = \"Borgerservice\"\n"),
            "[mail] credentials_from_calendar",
            "not both",
        ),
        (
            own.replace("protocol = \"ews\"", "protocol = \"graph\""),
            "[mail] ews_url",
            "protocol = \"ews\"",
        ),
    ] {
        let e = parse(&format!("{GOOD}\n{changed}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(field) && e.contains(words), "{field}: {e}");
    }
}

/// A root CA (EC P-256, self-signed, made with openssl for these tests).
const TEST_CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBkzCCATmgAwIBAgIUFOD09csLgPeHph7s2rrizSpD+rUwCgYIKoZIzj0EAwIw\nHzEdMBsGA1UEAwwUS29tbXVuZSBUZXN0IFJvb3QgQ0EwHhcNMjYxMTMwMTk0MzA5\nWhcNMzYxMTI3MTk0MzA5WjAfMR0wGwYDVQQDDBRLb21tdW5lIFRlc3QgUm9vdCBD\nQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABEytRyIGhxfbI6L5+kPNxeR7/q1d\nRQKhXPtyJ6Hy7sWtc2d1RYNYLlYu0zm3jOTzNYlnv0Tec64nuu5NE8gjOlmjUzBR\nMB0GA1UdDgQWBBRu+DlwXEGtEhgl7wvQzAr7FtA9FTAfBgNVHSMEGDAWgBRu+Dlw\nXEGtEhgl7wvQzAr7FtA9FTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gA\nMEUCIBwnF1n9moq0MShNxueiYWa2azL3FFFdfS/hsCcwFkLyAiEAndiK04fz+WYz\n0+8Bdygmj0XteZhV8uQtZjewT2raSoQ=\n-----END CERTIFICATE-----\n";

#[test]
fn the_store_is_optional_its_url_a_secret_and_its_lease_longer_than_two_writes() {
    assert!(
        parse(GOOD).unwrap().store.is_none(),
        "one instance by default"
    );
    std::env::set_var(
        "BOOKET_TEST_STORE_CFG",
        "redis://:hunter2-pass@10.0.0.5:6379/2",
    );
    let with = |section: &str| parse(&format!("{GOOD}\n[store]\n{section}\n"));
    let c = with("url = { env = \"BOOKET_TEST_STORE_CFG\" }").unwrap();
    let store = c.store.unwrap();
    assert_eq!(store.lease, std::time::Duration::from_secs(60));
    // Kept secret: not in the configuration's debug output.
    assert!(!format!("{store:?}").contains("hunter2"));
    // The default retry budget is 20 s: a lease must be at least 40 s.
    let short = with("url = { env = \"BOOKET_TEST_STORE_CFG\" }\nlease_seconds = 30")
        .unwrap_err()
        .to_string();
    assert!(
        short.contains("store.lease_seconds") && short.contains("20"),
        "{short}"
    );
    // Not written in the file, and a wrong scheme is named without the URL.
    assert!(with("url = \"redis://x\"").is_err());
    std::env::set_var(
        "BOOKET_TEST_STORE_CFG_BAD",
        "http://:hunter2-pass@10.0.0.5/",
    );
    let bad = with("url = { env = \"BOOKET_TEST_STORE_CFG_BAD\" }")
        .unwrap_err()
        .to_string();
    assert!(
        bad.contains("store.url") && bad.contains("redis://"),
        "{bad}"
    );
    assert!(!bad.contains("hunter2"), "{bad}");
}
