//! `booket check` against the simulator: every failure it can name, and the all-clear.

mod support;

use server::check::{self, Lang, Report};
use server::config::{Config, MailConfig};
use server::sim::seed;
use support::{Env, Options};

async fn report(env: &Env, lang: Lang, tweak: impl FnOnce(&mut Config)) -> Report {
    let mut config = env.config.clone();
    support::mail_on(&mut config);
    tweak(&mut config);
    check::run(&config, lang, env.now).await
}

fn failed(r: &Report) -> Vec<String> {
    r.sections
        .iter()
        .flat_map(|s| &s.lines)
        .filter(|l| !l.ok())
        .map(|l| format!("{} → {}", l.text, l.hint.clone().unwrap_or_default()))
        .collect()
}

fn warned(r: &Report) -> Vec<String> {
    r.sections
        .iter()
        .flat_map(|s| &s.lines)
        .filter(|l| l.status == check::Status::Warn)
        .map(|l| format!("{} → {}", l.text, l.hint.clone().unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn a_good_setup_passes_every_check() {
    let env = Env::start().await;
    let r = report(&env, Lang::Da, |_| {}).await;
    assert!(r.all_ok(), "{}", r.render());
    assert!(warned(&r).is_empty(), "{}", r.render());
    let text = r.render();
    for want in [
        "Token hentet",
        "kan nås",
        "fundet (præcis én)",
        "Kalendervisning læst",
        "Mail.Send er givet",
        "der sendes ingen mail",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    // No mail was sent to find that out.
    assert!(env.sim.outbox().is_empty());
}

#[tokio::test]
async fn each_token_mistake_is_named_with_its_fix() {
    let env = Env::start().await;
    // (what to break, AADSTS code, words of the explanation)
    type Break = Box<dyn FnOnce(&mut Config)>;
    let cases: Vec<(Break, &str, &str)> = vec![
        (
            Box::new(|c| c.calendars[0].graph_app_mut().credential = seed::DEMO_SECRET_ID.into()),
            "AADSTS7000215",
            "\"Secret ID\"",
        ),
        (
            Box::new(|c| c.calendars[0].graph_app_mut().credential = "wrong".into()),
            "AADSTS7000215",
            "Value",
        ),
        (
            Box::new(|c| {
                c.calendars[0].graph_app_mut().client_id =
                    "00000000-0000-0000-0000-000000000001".into()
            }),
            "AADSTS700016",
            "client_id",
        ),
        (
            Box::new(|c| {
                c.calendars[0].graph_app_mut().tenant_id = "contoso.onmicrosoft.com".into()
            }),
            "AADSTS90002",
            "tenant",
        ),
        (
            Box::new(|c| c.exchange.graph_scope = "https://graph.microsoft.us/.default".into()),
            "AADSTS70011",
            "graph_scope",
        ),
    ];
    for (tweak, code, words) in cases {
        let r = report(&env, Lang::Da, tweak).await;
        assert!(!r.all_ok());
        let f = failed(&r);
        assert!(f[0].contains(code) && f[0].contains(words), "{f:?}");
    }
    env.sim.set_secrets_expired(true);
    let r = report(&env, Lang::Da, |_| {}).await;
    let f = failed(&r);
    assert!(
        f[0].contains("AADSTS7000222") && f[0].contains("udløbet"),
        "{f:?}"
    );
}

#[tokio::test]
async fn mailbox_calendar_and_permission_problems_are_explained() {
    let env = Env::start().await;
    env.sim.block_mailboxes(&[seed::DEMO_OWNER]);
    let f = failed(&report(&env, Lang::Da, |_| {}).await);
    assert!(
        f[0].contains("application access policy")
            && f[0].contains("ErrorAccessDenied")
            && f[0].contains("Test-ApplicationAccessPolicy"),
        "{f:?}"
    );
    env.sim.block_mailboxes(&[]);

    let f = failed(
        &report(&env, Lang::Da, |c| {
            c.calendars[0].owner = "ingen@demo.booket.dk".into()
        })
        .await,
    );
    assert!(
        f[0].contains("findes ikke") && f[0].contains("UPN"),
        "{f:?}"
    );

    let f = failed(
        &report(&env, Lang::Da, |c| {
            c.calendars[0].outlook_calendar = server::mailbox::CalendarName::new("Borgerservise")
        })
        .await,
    );
    assert!(
        f[0].contains("\"Borgerservise\" findes ikke")
            && f[0].contains("Kalender, Borgerservice, Privat"),
        "{f:?}"
    );

    env.sim.add_calendar(seed::DEMO_OWNER, "Borgerservice");
    let f = failed(&report(&env, Lang::Da, |_| {}).await);
    assert!(
        f[0].contains("passer på 2 kalendere") && f[0].contains("Omdøb"),
        "{f:?}"
    );
    let env = Env::start().await;

    // Graph unreachable beyond the retry budget: said plainly, with what to check.
    env.sim.set_faults(server::sim::model::Faults {
        fail_next: vec![503; 12],
        ..Default::default()
    });
    let f = failed(&report(&env, Lang::Da, |_| {}).await);
    assert!(
        f[0].contains("Postkassen: Graph unavailable (503)") && f[0].contains("netværket"),
        "{f:?}"
    );
    env.sim.set_faults(server::sim::model::Faults::default());

    env.sim.set_roles(&["Calendars.ReadWrite"]);
    let f = failed(&report(&env, Lang::Da, |_| {}).await);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].contains("Mail.Send mangler"), "{f:?}");

    env.sim.set_roles(&["Calendars.Read", "Mail.Send"]);
    let f = failed(&report(&env, Lang::Da, |_| {}).await);
    assert!(f[0].contains("Calendars.ReadWrite mangler"), "{f:?}");
}

#[tokio::test]
async fn the_report_speaks_english_too_and_the_exit_code_follows_it() {
    let env = Env::start_with(Options::default(), |_| {}).await;
    let r = report(&env, Lang::En, |c| {
        c.calendars[0].graph_app_mut().credential = seed::DEMO_SECRET_ID.into()
    })
    .await;
    let text = r.render();
    assert!(
        text.contains("the client secret is wrong") && text.contains("Copy the secret's \"Value\""),
        "{text}"
    );
    assert!(!r.all_ok());
}

#[test]
fn an_invalid_file_is_one_failed_line_naming_the_field() {
    let e = Config::parse(
        "[server]\nlisten = \"x\"\n",
        "booket.toml",
        std::path::Path::new("."),
    )
    .unwrap_err();
    let r = check::invalid_config(Lang::En, &e);
    assert!(!r.all_ok());
    assert!(
        r.render()
            .contains("booket.toml:2: [server] listen (server.listen): `x` is not an address"),
        "{}",
        r.render()
    );
}

#[test]
fn token_roles_are_read_from_the_jwt_payload() {
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(r#"{"roles":["Mail.Send","Calendars.ReadWrite"]}"#);
    assert_eq!(
        check::token_roles(&format!("eyJ0eXAiOiJKV1QifQ.{payload}.sig")),
        Some(vec![
            "Mail.Send".to_string(),
            "Calendars.ReadWrite".to_string()
        ])
    );
    assert_eq!(check::token_roles("opaque"), None);
}

#[tokio::test]
async fn a_calendar_view_that_fails_opaque_tokens_and_mail_off_are_reported() {
    let env = Env::start().await;
    env.sim.set_faults(server::sim::model::Faults {
        calendar_view_status: Some(500),
        ..Default::default()
    });
    let f = failed(&report(&env, Lang::Da, |_| {}).await);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].starts_with("Kalendervisning:") && f[0].contains("netværket"),
        "{f:?}"
    );

    env.sim.set_faults(server::sim::model::Faults {
        opaque_tokens: true,
        ..Default::default()
    });
    // Access tokens are opaque to clients: not reading one is "cannot tell", never a
    // failure, and says how to verify each permission by hand — in both languages.
    for (lang, words, how) in [
        (Lang::En, "Cannot tell whether", "Granted for"),
        (Lang::Da, "Kan ikke afgøre om", "Granted for"),
    ] {
        let r = report(&env, lang, |_| {}).await;
        assert!(r.all_ok(), "{}", r.render());
        let w = warned(&r);
        assert_eq!(w.len(), 2, "{w:?}");
        for (line, permission) in w.iter().zip(["Calendars.ReadWrite", "Mail.Send"]) {
            assert!(
                line.contains(words) && line.contains(permission) && line.contains(how),
                "{w:?}"
            );
        }
        assert!(r.render().contains("  ! "), "{}", r.render());
    }

    env.sim.set_faults(server::sim::model::Faults::default());
    let r = report(&env, Lang::Da, |c| c.mail = MailConfig::Off).await;
    assert!(r.all_ok());
    assert!(
        r.render().contains("Slået fra (protocol = \"off\")"),
        "{}",
        r.render()
    );
}

/// A setting given under its older name works, and the check says to rename it.
#[tokio::test]
async fn a_setting_under_its_older_name_is_warned_about() {
    let env = Env::start().await;
    let r = report(&env, Lang::En, |c| {
        c.deprecated = vec![("max_graph_reads_per_minute", "max_reads_per_minute")];
    })
    .await;
    assert!(r.all_ok(), "{}", r.render());
    let w = warned(&r);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("max_graph_reads_per_minute is an older name of max_reads_per_minute"),
        "{w:?}"
    );
}

#[tokio::test]
async fn a_reverse_proxy_without_trusted_proxies_is_warned_about() {
    let env = Env::start().await;
    // https in front, Booket on loopback: the usual reverse-proxy set-up.
    let behind_proxy = |c: &mut Config| {
        c.server.public_url = "https://booking.kommune.dk".into();
        c.server.listen = "127.0.0.1:3000".parse().unwrap();
    };
    let r = report(&env, Lang::En, behind_proxy).await;
    assert!(r.all_ok(), "{}", r.render());
    let w = warned(&r);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("trusted_proxies is empty") && w[0].contains("X-Forwarded-For"),
        "{w:?}"
    );
    let r = report(&env, Lang::Da, |c| {
        behind_proxy(c);
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    assert!(warned(&r).is_empty(), "{}", r.render());
    assert!(
        r.render()
            .contains("✓ Borgerens adresse læses af X-Forwarded-For fra 1 betroede proxyer"),
        "{}",
        r.render()
    );
}

#[tokio::test]
async fn least_privilege_is_proven_by_a_refusal_and_a_tenant_wide_grant_fails() {
    let env = Env::start().await;
    // The demo tenant limits the app to the booking mailbox: the probe is refused.
    let r = report(&env, Lang::En, |_| {}).await;
    let text = r.render();
    assert!(
        text.contains(&format!(
            "is refused in {} (403 ErrorAccessDenied)",
            seed::DEMO_OUTSIDE
        )),
        "{text}"
    );
    // One line per app: the calendars and mail share one here.
    assert_eq!(text.matches("is refused in").count(), 1, "{text}");

    // A tenant-wide grant: the probe mailbox can be read.
    env.sim.set_app_scope(None);
    let r = report(&env, Lang::En, |_| {}).await;
    assert!(!r.all_ok());
    let failures = failed(&r);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].contains("the permission is tenant-wide"),
        "{failures:?}"
    );
    assert!(
        failures[0].contains("RBAC for Applications"),
        "{failures:?}"
    );
    let r = report(&env, Lang::Da, |_| {}).await;
    assert!(
        failed(&r)[0].contains("gælder hele tenant'en"),
        "{}",
        r.render()
    );

    // Not configured: not proven, so not passed.
    env.sim.set_app_scope(Some(&[seed::DEMO_OWNER]));
    let r = report(&env, Lang::En, |c| c.exchange.scope_probe_mailbox = None).await;
    let failures = failed(&r);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].contains("scope_probe_mailbox is not set"),
        "{failures:?}"
    );

    // A probe that does not exist cannot tell either way: a warning with what to do.
    let r = report(&env, Lang::En, |c| {
        c.exchange.scope_probe_mailbox = Some("nobody@demo.booket.dk".into())
    })
    .await;
    assert!(r.all_ok(), "{}", r.render());
    assert!(warned(&r)[0].contains("does not exist"), "{:?}", warned(&r));
}

#[tokio::test]
async fn unsigned_receipts_fail_the_check() {
    let env = Env::start().await;
    let r = report(&env, Lang::En, |_| {}).await;
    assert!(
        r.render().contains("Receipts are signed (ES256, key id "),
        "{}",
        r.render()
    );
    let r = report(&env, Lang::En, |c| c.receipts.signing_key = None).await;
    let failures = failed(&r);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].contains("Receipts are not signed"),
        "{failures:?}"
    );
}

#[tokio::test]
async fn the_shared_store_is_reported_reachable_without_persistence_or_not_at_all() {
    let env = Env::start().await;
    let one = report(&env, Lang::En, |_| {}).await;
    let line = |r: &Report| {
        r.sections
            .iter()
            .find(|s| s.title == "Shared store:")
            .map(|s| s.lines.iter().map(|l| l.text.clone()).collect::<Vec<_>>())
            .expect("a store section")
    };
    assert!(line(&one)[0].contains("one instance"), "{:?}", line(&one));

    let store = support::store::RedisServer::start().await;
    let store_config = |url: String| server::config::StoreConfig {
        url: url.into(),
        lease: std::time::Duration::from_secs(60),
    };
    // Another instance alive on it (a server with the store set).
    let url = store.url();
    let _other = Env::start_with(Options::default(), |c| c.store = Some(store_config(url))).await;
    let url = store.url();
    let shared = report(&env, Lang::En, |c| c.store = Some(store_config(url))).await;
    let lines = line(&shared);
    assert!(lines[0].contains("The store answers (Redis 7"), "{lines:?}");
    assert!(lines[0].contains("1 instance(s) alive"), "{lines:?}");
    assert!(lines[1].contains("Without persistence"), "{lines:?}");
    assert!(failed(&shared).iter().all(|f| !f.contains("store")));

    drop(store);
    let url = "redis+unix:///nonexistent/booket.sock".to_owned();
    let down = report(&env, Lang::En, |c| c.store = Some(store_config(url))).await;
    assert!(
        failed(&down)
            .iter()
            .any(|f| f.contains("cannot be reached")),
        "{:?}",
        failed(&down)
    );
}
