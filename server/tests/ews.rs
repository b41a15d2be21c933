//! The EWS backend through the real server against the simulator's EWS endpoint: the demo's
//! "Jobcenter" calendar (form `jobcenter`) lives in an on-premises mailbox reached by a
//! service account with impersonation. What only EWS does: holding and booking by
//! ChangeKey without a Graph request, attendee updates only when asked, a stale ChangeKey, a
//! truncated CalendarView, the request size limit, and `booket check`'s logon, rights and
//! TLS lines. What both backends must do alike is in `backends.rs`.
//!
//! (About 680 lines: each EWS-only behaviour with its own set-up, TLS certificates included.)

mod support;

use server::config::CalendarAccess;
use server::sim::model::Faults;
use server::sim::seed;
use support::Answer;
use support::*;

const WEEK: &str = "2026-12-02";

fn ews_event(env: &Env, id: &str) -> server::sim::model::Event {
    env.sim
        .calendar_events(seed::DEMO_EWS_CALENDAR)
        .into_iter()
        .find(|e| e.id == id)
        .expect("an event of the EWS calendar")
}

fn hold_of(e: &server::sim::model::Event) -> Option<String> {
    e.properties
        .iter()
        .find(|(id, _)| id.contains("BooketHold"))
        .map(|(_, v)| v.clone())
}

#[tokio::test]
async fn a_time_on_the_ews_calendar_is_held_and_booked_by_change_key() {
    let env = Env::start().await;
    let Answer(status, week) = env.week("jobcenter", WEEK).await;
    assert_eq!(status, 200, "{week}");
    // The same slots as the Graph calendar: same seed, other mailbox.
    let graph_week = env.week_ok("demo", WEEK).await;
    assert_eq!(
        slots_in_state(&week, "free").len(),
        slots_in_state(&graph_week, "free").len()
    );
    assert!(!slots_in_state(&week, "booked").is_empty());
    let slot = free_ids(&week).remove(0);
    let id = event_id_of(&slot);
    let before = ews_event(&env, &id);
    let graph_before = env.sim.stats().graph_requests;

    let Answer(status, held) = env.reserve("jobcenter", &slot, "", "").await;
    assert_eq!(status, 200, "{held}");
    let after = ews_event(&env, &id);
    assert!(
        after.subject.ends_with(" - Reserveret"),
        "{}",
        after.subject
    );
    assert!(hold_of(&after).is_some());
    assert_ne!(after.change_key, before.change_key);

    let token = held["token"].as_str().unwrap();
    let Answer(status, receipt) = env.book_held("jobcenter", &slot, "k-ews-1", token).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["calendar"], seed::DEMO_EWS_CALENDAR);
    let booked = ews_event(&env, &id);
    assert!(booked.subject.ends_with(" - Booket"), "{}", booked.subject);
    // Through EWS only: not one Graph request for this calendar.
    assert_eq!(env.sim.stats().graph_requests, graph_before);
    assert!(env.sim.stats().ews_updates >= 2);
    // Another citizen is told "taken".
    let Answer(status, body) = env.reserve("jobcenter", &slot, "", "").await;
    assert_eq!((status, body), (409, serde_json::json!({"error": "taken"})));
}

/// EWS can leave attendees alone (`SendToNone`); Graph cannot (its limitation stays tested
/// in `graph.rs`). The seed puts a colleague on every third slot of a day.
#[tokio::test]
async fn attendees_hear_of_a_booking_on_ews_only_when_the_element_says_so() {
    for notify in [false, true] {
        let env = Env::start_with(Default::default(), |c| {
            for f in &mut c.forms {
                for el in &mut f.elements {
                    el.notify_attendees = notify;
                }
            }
        })
        .await;
        let week = env.week_ok("jobcenter", WEEK).await;
        let with_attendee = free_ids(&week)
            .into_iter()
            .find(|s| !ews_event(&env, &event_id_of(s)).attendees.is_empty())
            .expect("a free slot with an attendee");
        let Answer(status, body) = env.book("jobcenter", &with_attendee, "k-notify").await;
        assert_eq!(status, 200, "{body}");
        let updates = env.sim.meeting_updates();
        if notify {
            assert!(
                !updates.is_empty(),
                "SendToAllAndSaveCopy mails the attendees"
            );
        } else {
            assert!(updates.is_empty(), "SendToNone mails no one: {updates:?}");
        }
    }
}

#[tokio::test]
async fn a_stale_change_key_after_a_staff_edit_is_read_again_and_a_lost_race_is_taken() {
    let env = Env::start().await;
    let week = env.week_ok("jobcenter", WEEK).await;
    let free = free_ids(&week);
    let (a, b) = (free[0].clone(), free[1].clone());
    // Staff book b in Outlook: the kept week still says free; the write path's own read
    // of the item refuses it.
    assert!(env
        .sim
        .staff_set_subject(&event_id_of(&b), "Samtale - Booket"));
    let Answer(status, body) = env.reserve("jobcenter", &b, "", "").await;
    assert_eq!((status, body), (409, serde_json::json!({"error": "taken"})));
    // Two instances race for a: one holds it, the other is told "taken".
    let other = env.second_instance().await;
    let (r1, r2) = tokio::join!(
        env.reserve("jobcenter", &a, "", ""),
        other.reserve("jobcenter", &a, "", "")
    );
    let mut statuses = [r1.0, r2.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{r1:?} {r2:?}");
}

#[tokio::test]
async fn a_truncated_calendar_view_is_split_until_nothing_is_left_out() {
    let whole = {
        let env = Env::start().await;
        let week = env.week_ok("jobcenter", WEEK).await;
        (
            week["slots"].as_array().unwrap().len(),
            env.sim.stats().ews_find_items,
        )
    };
    let env = Env::start().await;
    // The server answers at most 7 items per FindItem (IncludesLastItemInRange="false").
    env.sim.set_faults(Faults {
        ews_view_cap: Some(7),
        ..Faults::default()
    });
    let Answer(status, week) = env.week("jobcenter", WEEK).await;
    assert_eq!(status, 200, "{week}");
    assert_eq!(week["slots"].as_array().unwrap().len(), whole.0);
    assert!(env.sim.stats().ews_find_items > whole.1 + 4);
}

#[tokio::test]
async fn logon_and_rights_failures_are_named_by_booket_check() {
    use server::check::{self, Lang};
    use server::config::{EwsAccess, EwsAuth};
    let env = Env::start().await;
    fn ews(c: &mut server::config::Config) -> &mut server::config::EwsAccount {
        match &mut c.calendars[1].access {
            CalendarAccess::Ews(a) => a,
            CalendarAccess::Graph(_) => panic!("the demo's second calendar is EWS"),
        }
    }
    let mut config = env.config.clone();
    let report = check::run(&config, Lang::En, env.now).await;
    let text = report.render();
    assert!(
        text.contains("is logged on and reaches jobcenter@demo.booket.dk by impersonation"),
        "{text}"
    );
    assert!(
        text.contains("The calendar \"Jobcenter\" is found once"),
        "{text}"
    );
    assert!(text.contains("This week can be read"), "{text}");
    assert!(
        text.contains("EWS answers over plain HTTP on this machine (a simulator)"),
        "{text}"
    );
    assert!(
        text.contains(
            "Exchange version 15.2.1748.10 (Exchange Server 2019 or Subscription Edition)"
        ),
        "{text}"
    );
    let da = check::run(&config, Lang::Da, env.now).await.render();
    for words in [
        "er logget på og når jobcenter@demo.booket.dk med impersonation",
        "Kalenderen \"Jobcenter\" er fundet én gang",
        "Denne uge kan læses",
        "almindelig HTTP på denne maskine",
        "Exchange-version 15.2.1748.10 (Exchange Server 2019 eller Subscription Edition)",
    ] {
        assert!(da.contains(words), "{words}: {da}");
    }

    // NTLM (the default) over plain HTTP: said, since Exchange would refuse it.
    assert!(
        text.contains("Logon: NTLMv2 without channel binding (plain HTTP"),
        "{text}"
    );
    assert!(da.contains("Logon: NTLMv2 uden kanalbinding"), "{da}");

    // A wrong password: the NTLM proof does not verify.
    ews(&mut config).password = "wrong".to_owned().into();
    says(
        &env,
        &config,
        Lang::En,
        &[
            "EWS refused the service account's NTLM logon (401)",
            "SSL offloading",
        ],
    )
    .await;
    says(
        &env,
        &config,
        Lang::Da,
        &["lad TLS gå igennem til Exchange"],
    )
    .await;
    // Windows authentication switched off on the virtual directory: NTLM is not offered.
    let mut config = env.config.clone();
    env.sim.set_faults(Faults {
        ews_ntlm_off: true,
        ..Default::default()
    });
    says(
        &env,
        &config,
        Lang::En,
        &[
            "EWS does not accept NTLM logons (401; it offers Basic)",
            "-WindowsAuthentication $true",
        ],
    )
    .await;
    says(
        &env,
        &config,
        Lang::Da,
        &["Windows-godkendelse er slået fra"],
    )
    .await;
    // … so Basic, which logs on (each request carries it).
    ews(&mut config).auth = EwsAuth::Basic;
    says(
        &env,
        &config,
        Lang::En,
        &["Logon: Basic", "This week can be read"],
    )
    .await;
    // Basic switched off (as recommended): not offered; a wrong Basic password: refused.
    env.sim.set_faults(Faults {
        ews_basic_off: true,
        ..Default::default()
    });
    says(
        &env,
        &config,
        Lang::En,
        &[
            "EWS does not accept Basic logons (401; it offers Negotiate, NTLM)",
            "use auth = \"ntlm\"",
        ],
    )
    .await;
    says(&env, &config, Lang::Da, &["brug auth = \"ntlm\""]).await;
    env.sim.set_faults(Faults::default());
    ews(&mut config).password = "wrong".to_owned().into();
    says(
        &env,
        &config,
        Lang::En,
        &[
            "EWS refused the service account's Basic logon (401)",
            "Basic authentication is enabled",
        ],
    )
    .await;
    says(&env, &config, Lang::Da, &["Basic-godkendelse er slået til"]).await;

    // Delegate access without Full Access to the mailbox, and impersonation without the role.
    let mut config = env.config.clone();
    ews(&mut config).access = EwsAccess::Delegate;
    env.sim.set_service_account_rights(false, &[]);
    says(
        &env,
        &config,
        Lang::En,
        &["ErrorAccessDenied", "Add-MailboxPermission"],
    )
    .await;
    let text = check::run(&env.config, Lang::En, env.now).await.render();
    assert!(text.contains("ErrorImpersonateUserDenied"), "{text}");
    assert!(text.contains("ApplicationImpersonation"), "{text}");
    // Full Access is enough for delegate access.
    env.sim
        .set_service_account_rights(false, &[seed::DEMO_EWS_OWNER]);
    says(
        &env,
        &config,
        Lang::En,
        &["as a delegate (Full Access)", "This week can be read"],
    )
    .await;
}

/// A file larger than one EWS request carries is refused before anything is written.
#[tokio::test]
async fn a_file_over_the_ews_request_limit_is_refused_before_any_write() {
    let env = Env::start_with(Default::default(), |c| {
        for f in &mut c.forms {
            for el in &mut f.elements {
                el.attach_documents = true;
            }
        }
        if let CalendarAccess::Ews(a) = &mut c.calendars[1].access {
            // A server configured for 1 MB requests: about 760 KB of file.
            a.request_limit = 1024 * 1024;
        }
    })
    .await;
    let week = env.week_ok("jobcenter", WEEK).await;
    let slot = free_ids(&week).remove(0);
    let updates = env.sim.stats().ews_updates;
    let big = [b"%PDF-1.7\n".as_slice(), &vec![7u8; 900 * 1024]].concat();
    let Answer(status, body) = env
        .book_form("jobcenter", &slot, "k-ews-big", "", &[("stor.pdf", big)])
        .await;
    assert_eq!(
        (status, body["error"].as_str(), body["problem"].as_str()),
        (413, Some("files"), Some("too_large")),
        "{body}"
    );
    assert_eq!(env.sim.stats().ews_updates, updates, "nothing written");
    assert!(!ews_event(&env, &event_id_of(&slot)).subject.contains(" - "));
}

/// An EWS endpoint whose certificate this server does not trust (a self-signed one, served
/// by `openssl s_server`): the check says so and how to fix it.
#[tokio::test]
async fn an_untrusted_certificate_is_named_by_booket_check() {
    use server::check::{self, Lang};
    let env = Env::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed (scripts/setup.sh)");
    assert!(made.status.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            &port.to_string(),
            "-key",
        ])
        .arg(&key)
        .arg("-cert")
        .arg(&cert)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Until it listens (it starts in milliseconds); a server that never does fails here,
    // not later as a misleading TLS finding.
    let mut listening = false;
    for _ in 0..500 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            listening = true;
            break;
        }
        if let Ok(Some(exit)) = server.try_wait() {
            panic!("openssl s_server ended before it listened: {exit}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(listening, "openssl s_server never listened on {port}");
    let mut config = env.config.clone();
    if let CalendarAccess::Ews(a) = &mut config.calendars[1].access {
        a.url = format!("https://127.0.0.1:{port}/EWS/Exchange.asmx");
    }
    let en = check::run(&config, Lang::En, env.now).await.render();
    let da = check::run(&config, Lang::Da, env.now).await.render();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        en.contains("The server's TLS certificate is not accepted"),
        "{en}"
    );
    assert!(
        da.contains("Serverens TLS-certifikat godtages ikke"),
        "{da}"
    );
}

/// With every calendar on EWS there is no Graph app to restrict: the least-privilege
/// section says so instead of failing, and mail through EWS is checked by logging on.
#[tokio::test]
async fn an_ews_only_configuration_is_checked_without_a_graph_app() {
    use server::check::{self, Lang};
    let env = Env::start().await;
    let mut config = env.config.clone();
    server::demo::all_on_ews(&mut config);
    config
        .calendars
        .retain(|c| matches!(c.access, CalendarAccess::Ews(_)));
    config.exchange.scope_probe_mailbox = None;
    let en = check::run(&config, Lang::En, env.now).await.render();
    assert!(
        en.contains("No Graph app to restrict: every calendar is reached through EWS"),
        "{en}"
    );
    assert!(en.contains("Mail (EWS):"), "{en}");
    assert!(
        en.contains("The service account reaches jobcenter@demo.booket.dk (no mail is sent)"),
        "{en}"
    );
    let da = check::run(&config, Lang::Da, env.now).await.render();
    assert!(da.contains("Ingen Graph-app at begrænse"), "{da}");
    assert!(
        da.contains("Tjenestekontoen når jobcenter@demo.booket.dk (der sendes ingen mail)"),
        "{da}"
    );
    // A service account that may not act for the sending mailbox is named.
    env.sim.set_service_account_rights(false, &[]);
    let en = check::run(&config, Lang::En, env.now).await.render();
    assert!(en.contains("credentials_from_calendar"), "{en}");
}

/// The demo calendar's EWS account (the second calendar).
fn ews_account(config: &server::config::Config) -> server::config::EwsAccount {
    match &config.calendars[1].access {
        CalendarAccess::Ews(a) => a.clone(),
        CalendarAccess::Graph(_) => panic!("the demo's second calendar is EWS"),
    }
}

/// NTLM authenticates a connection: one logon serves every request on it, concurrent
/// requests each get a logged-on connection of their own (never one that has not logged
/// on), and a server that forgot the logon (401) gets a new one without the caller noticing.
#[tokio::test]
async fn ntlm_logs_on_once_per_connection_and_again_when_the_server_forgets() {
    use server::ews::{EwsClient, EwsMailbox};
    use server::mailbox::Mailbox;
    let env = Env::start().await;
    let client = std::sync::Arc::new(
        EwsClient::new(
            ews_account(&env.config),
            4,
            std::time::Duration::from_secs(10),
        )
        .unwrap(),
    );
    let mailbox = EwsMailbox::new(client.clone(), seed::DEMO_EWS_OWNER);
    let week = |d: u32| {
        let from = env.now + chrono::TimeDelta::days(i64::from(d));
        (from, from + chrono::TimeDelta::days(7))
    };
    let calendar = server::mailbox::CalendarName::new(seed::DEMO_EWS_CALENDAR);
    let calendar = &calendar;
    let before = env.sim.stats();
    mailbox.sign_in().await.unwrap();
    mailbox.resolve_calendar(calendar).await.unwrap();
    for d in 0..5 {
        let (from, to) = week(d);
        mailbox.events(calendar, from, to).await.unwrap();
    }
    let after = env.sim.stats();
    assert_eq!(client.logons(), 1, "one connection carried every request");
    assert_eq!(after.ews_logons - before.ews_logons, 1);
    assert_eq!(
        after.ews_unauthorized - before.ews_unauthorized,
        1,
        "the (second) negotiation's 401 only"
    );

    // Eight reads at once through four places: at most four connections, each logged on.
    let reads = (0..8).map(|d| {
        let (from, to) = week(d);
        let mailbox = &mailbox;
        async move { mailbox.events(calendar, from, to).await }
    });
    for r in futures::future::join_all(reads).await {
        r.unwrap();
    }
    let concurrent = env.sim.stats();
    let logons = concurrent.ews_logons - before.ews_logons;
    assert!((1..=4).contains(&logons), "{logons} logons");
    assert_eq!(
        concurrent.ews_unauthorized - before.ews_unauthorized,
        logons,
        "no request went on a connection that had not logged on"
    );

    // The server forgets (a restart, an expired logon): one 401, a new logon, the answer.
    let forgot = env
        .http
        .post(format!("{}/_sim/ews/forget-logons", env.sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(forgot.status().as_u16(), 204);
    let (from, to) = week(0);
    let events = mailbox.events(calendar, from, to).await.unwrap();
    assert!(!events.is_empty());
    let forgotten = env.sim.stats();
    assert_eq!(forgotten.ews_logons - concurrent.ews_logons, 1);
    assert_eq!(
        forgotten.ews_unauthorized - concurrent.ews_unauthorized,
        2,
        "the forgotten connection's 401 and the new negotiation's"
    );
    assert_eq!(client.logons(), logons + 1);

    // A negotiation that meets a 503 (IIS answers it before any logon): nothing was carried
    // out, so it is waited out (the wait recorded, not waited) and tried again.
    let timer = std::sync::Arc::new(server::exchange::timer::RecordingTimer::default());
    let timed = std::sync::Arc::new(
        EwsClient::new(
            ews_account(&env.config),
            1,
            std::time::Duration::from_secs(10),
        )
        .unwrap()
        .with_timer(timer.clone()),
    );
    env.sim.set_faults(Faults {
        fail_next: vec![503],
        ..Default::default()
    });
    let before = env.sim.stats();
    EwsMailbox::new(timed.clone(), seed::DEMO_EWS_OWNER)
        .sign_in()
        .await
        .unwrap();
    assert_eq!(timer.take_waits().len(), 1, "one wait after the 503");
    // The 503, the negotiation, the logon carrying the request.
    assert_eq!(env.sim.stats().ews_requests - before.ews_requests, 3);
    assert_eq!(timed.logons(), 1);
}

/// Extended Protection ("Require"): over TLS the NTLM logon carries the channel binding of
/// the certificate Booket was shown, which the server checks; over plain HTTP there is none
/// and the logon is refused. The organisation's own CA is trusted through `ews_ca_file`.
#[tokio::test]
async fn extended_protection_binds_the_ntlm_logon_to_the_tls_certificate() {
    use server::check::{self, Lang};
    let env = Env::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(
        path("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .current_dir(dir.path())
            .args(args)
            .output()
            .expect("openssl is installed (scripts/setup.sh)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"],
            &ec[..],
            &[
                "-days",
                "1",
                "-subj",
                "/CN=Kommune Root CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"],
            &ec[..],
            &[
                "-subj",
                "/CN=localhost",
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
            ],
        ]
        .concat(),
    );
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.pem",
    ]);
    let exchange = server::sim::Simulator::demo(env.now, Default::default());
    exchange
        .spawn_tls(
            "127.0.0.1:0".parse().unwrap(),
            &std::fs::read(path("leaf.pem")).unwrap(),
            &std::fs::read(path("leaf.key")).unwrap(),
        )
        .await
        .unwrap();
    exchange.set_faults(Faults {
        ews_channel_binding: true,
        ..Default::default()
    });
    let ca = pem::parse(std::fs::read(path("ca.pem")).unwrap()).unwrap();
    let mut config = env.config.clone();
    if let CalendarAccess::Ews(a) = &mut config.calendars[1].access {
        a.url = format!("{}/EWS/Exchange.asmx", exchange.base_url());
        a.extra_roots = vec![ca.contents().to_vec()];
    }
    let text = check::run(&config, Lang::En, env.now).await.render();
    assert!(
        text.contains("EWS answers over TLS with a certificate this server trusts"),
        "{text}"
    );
    assert!(
        text.contains(
            "Logon: NTLMv2 with Extended Protection's channel binding to the server's certificate"
        ),
        "{text}"
    );
    assert!(text.contains("This week can be read"), "{text}");
    assert!(exchange.stats().ews_logons >= 1);
    let da = check::run(&config, Lang::Da, env.now).await.render();
    assert!(
        da.contains("NTLMv2 med Extended Protections kanalbinding"),
        "{da}"
    );

    // Without the organisation's CA the certificate is not trusted, and nothing is sent.
    let logons = exchange.stats().ews_logons;
    if let CalendarAccess::Ews(a) = &mut config.calendars[1].access {
        a.extra_roots.clear();
    }
    says(&env, &config, Lang::En, &["given as ews_ca_file (PEM)"]).await;
    assert_eq!(exchange.stats().ews_logons, logons);

    // Plain HTTP to a server that requires the binding: refused, and why it may be.
    env.sim.set_faults(Faults {
        ews_channel_binding: true,
        ..Default::default()
    });
    let text = check::run(&env.config, Lang::En, env.now).await.render();
    assert!(
        text.contains("NTLM logon (401): the password, or Extended Protection, which refuses NTLM without TLS"),
        "{text}"
    );
}

/// `booket check` with `config`, in `lang`: its report says each of `wants`.
async fn says(
    env: &Env,
    config: &server::config::Config,
    lang: server::check::Lang,
    wants: &[&str],
) {
    let text = server::check::run(config, lang, env.now).await.render();
    for want in wants {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
}
