//! The process's life: health and readiness on the private listener, SIGTERM with a
//! booking under way, the grace period, and logs and metrics without personal data.

use super::*;

/// A citizen books with personal data no log line or metric may carry: their name, e-mail
/// address, a field's value and their files' names — also when a booking is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_metrics_carry_no_personal_data() {
    let setup = Setup::with(
        "personal",
        "metrics_token = { env = \"BOOKET_TEST_METRICS_TOKEN\" }",
    );
    std::env::set_var(
        "BOOKET_TEST_METRICS_TOKEN",
        "metrics-token-0123456789abcdef-0123456789",
    );
    let http = setup.http.clone();
    let (server_proc, server) = start_server(&setup.config);
    let (name, mail, secret, file) = (
        "Zyxwvu Qpersondata",
        "zyxwvu.qpersondata@example.dk",
        "CPR 010203-4455 zyxwvu-hemmelig",
        "zyxwvu-pas",
    );
    let field = |n: &str, l: &str, v: &str| {
        serde_json::json!({"name": n, "label": l, "value": v}).to_string()
    };
    let with_person = |slot: &str, key: &str, file_name: String, bytes: Vec<u8>| {
        booking(slot, key, &[])
            .text("field", field("name", "Navn", name))
            .text("field", field("email", "E-mail", mail))
            .text("field", field("note", "Besked", secret))
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(file_name),
            )
    };
    let slot = free_slot(&http, &server).await;
    // Refused (a program as a PDF), then booked.
    let res = http
        .post(format!("http://{server}/api/book_form"))
        .multipart(with_person(
            &slot,
            "a",
            format!("{file}.pdf"),
            b"MZ\x90\x00".to_vec(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 415);
    let res = http
        .post(format!("http://{server}/api/book_form"))
        .multipart(with_person(
            &slot,
            "b",
            format!("{file}.pdf"),
            b"%PDF-1.7\n".to_vec(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "{}", res.text().await.unwrap());
    let metrics = http
        .get(format!("http://{server}/metrics"))
        .bearer_auth("metrics-token-0123456789abcdef-0123456789")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("booket_bookings_total"), "{metrics}");
    // The server's lines reach the test through a pipe that another thread reads: the
    // booking's line may come a moment after its answer, so wait for it (bounded).
    let started = Instant::now();
    let logs = loop {
        let logs = server_proc.1.lock().unwrap().join("\n");
        if logs.contains("slot booked") || started.elapsed() > Duration::from_secs(10) {
            break logs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(logs.contains("slot booked"), "the log was read: {logs}");
    for personal in [name, "Zyxwvu", mail, "qpersondata", secret, "010203", file] {
        assert!(!logs.contains(personal), "{personal:?} in the log:\n{logs}");
        assert!(!metrics.contains(personal), "{personal:?} in the metrics");
    }
}

/// The address the server printed for its private listener.
fn private_addr(proc: &Proc) -> String {
    let marker = "private listener (healthz, readyz, metrics) on http://";
    let started = Instant::now();
    loop {
        if let Some(addr) = proc.1.lock().unwrap().iter().find_map(|l| {
            l.split(marker)
                .nth(1)
                .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
        }) {
            return addr;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no private listener printed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGTERM, as systemd, docker and Kubernetes do to stop a service.
fn terminate(proc: &Proc) {
    let status = Command::new("kill")
        .args(["-TERM", &proc.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the process to end on its own (a bound only against hanging forever).
async fn exit_status(proc: &mut Proc) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = proc.0.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server did not end after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_on_the_private_listener_only() {
    let setup = Setup::with("ready", "private_listen = \"127.0.0.1:0\"");
    let http = setup.http.clone();
    // The token endpoint is down as the server starts: alive, not ready.
    setup.faults(serde_json::json!({"token_down": true})).await;
    let (server_proc, server) = start_server(&setup.config);
    let private = private_addr(&server_proc);
    let get = |path: &str| http.get(format!("http://{private}{path}")).send();
    assert_eq!(get("/healthz").await.unwrap().status().as_u16(), 200);
    let res = get("/readyz").await.unwrap();
    assert_eq!(res.status().as_u16(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body["calendars"][0]["problem"], "sign-in unreachable",
        "{body}"
    );
    setup.faults(serde_json::json!({})).await;
    let res = get("/readyz").await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["ready"], true, "{body}");
    assert!(get("/metrics")
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains("booket_"));
    // None of it on the public listener.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let res = http
            .get(format!("http://{server}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 404, "{path}");
    }
}

/// Starts a booking with two files and waits until the simulator holds it between two
/// writes (the claim and the first file are written; the next write waits).
async fn stalled_booking(
    setup: &Setup,
    server: &str,
    key: &str,
) -> (
    String,
    tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) {
    let (http, sim) = (setup.http.clone(), setup.sim.clone());
    let slot = free_slot(&http, server).await;
    setup
        .faults(serde_json::json!({"stall_after_writes": 2}))
        .await;
    let request = tokio::spawn({
        let (http, slot, key) = (http.clone(), slot.clone(), key.to_owned());
        let url = format!("http://{server}/api/book_form");
        async move {
            http.post(url)
                .multipart(booking(&slot, &key, &["a.pdf", "b.pdf"]))
                .send()
                .await
        }
    });
    wait_for(
        "the booking to stall",
        Duration::from_secs(20),
        async || sim_state(&http, &sim).await["faults"]["stall_after_writes"] == 0,
    )
    .await;
    (slot, request)
}

/// SIGTERM while a booking with files is between two of its writes: the port closes at
/// once, /readyz says it is draining, the booking finishes whole, and the process ends 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_booking_under_way_finish() {
    let setup = Setup::with("sigterm", "private_listen = \"127.0.0.1:0\"");
    let (http, sim) = (setup.http.clone(), setup.sim.clone());
    let (mut server_proc, server) = start_server(&setup.config);
    let private = private_addr(&server_proc);
    let (slot, request) = stalled_booking(&setup, &server, "term").await;
    terminate(&server_proc);
    wait_for(
        "the public port to close",
        Duration::from_secs(20),
        async || tokio::net::TcpStream::connect(&server).await.is_err(),
    )
    .await;
    let ready = http
        .get(format!("http://{private}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    assert!(!request.is_finished(), "the booking is still under way");
    assert!(server_proc.0.try_wait().unwrap().is_none(), "still running");
    // The write goes through (slowly): the booking completes.
    setup
        .faults(serde_json::json!({"stall_resumes": true}))
        .await;
    let answer = request.await.unwrap().unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let receipt: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(receipt["state"], "booked");
    let event = sim_event(&http, &sim, &event_id_of(&slot)).await;
    assert!(
        event["subject"].as_str().unwrap().ends_with(" - Booket"),
        "{event}"
    );
    assert_eq!(event["attachments"].as_array().unwrap().len(), 2, "{event}");
    assert!(exit_status(&mut server_proc).await.success());
}

/// Past the grace period the process ends anyway, with a failure status, and what the
/// booking wrote is a hold that lapses — never " - Booket" without its files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_grace_period_the_process_ends_and_leaves_only_a_lapsing_hold() {
    let setup = Setup::with("grace", "shutdown_grace_seconds = 1");
    let (http, sim) = (setup.http.clone(), setup.sim.clone());
    let (mut server_proc, server) = start_server(&setup.config);
    let (slot, request) = stalled_booking(&setup, &server, "grace").await;
    terminate(&server_proc);
    let status = exit_status(&mut server_proc).await;
    assert!(
        !status.success(),
        "a cut-off shutdown is not reported as clean"
    );
    let answer = request.await.unwrap();
    assert!(answer.is_err() || !answer.unwrap().status().is_success());
    setup.faults(serde_json::json!({})).await;
    let event = sim_event(&http, &sim, &event_id_of(&slot)).await;
    let subject = event["subject"].as_str().unwrap();
    assert!(subject.ends_with(" - Reserveret"), "{event}");
    assert!(!subject.contains(" - Booket"), "{event}");
}
