//! Faults that need real processes: the server killed mid-booking, and the simulator
//! restarted mid-booking. Both run the `booket` binary as a child process.

use base64::Engine;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process that is killed when dropped, with every line it printed.
struct Proc(Child, std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        // What it printed (its logs) goes where scripts/no-secrets.sh looks for secrets.
        let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/test-logs"));
        if std::fs::create_dir_all(dir).is_ok() {
            let lines = self.1.lock().map(|l| l.join("\n")).unwrap_or_default();
            let _ = std::fs::write(dir.join(format!("process-{}.log", self.0.id())), lines);
        }
    }
}

/// Starts `booket <args>` and returns it with the first address it prints after `marker`.
fn start(args: &[&str], envs: &[(&str, &str)], marker: &str) -> (Proc, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_booket"));
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env("NO_COLOR", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("booket starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let marker = marker.to_owned();
    let printed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = printed.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            keep.lock().unwrap().push(line.clone());
            if let Some(rest) = line.split(&marker).nth(1) {
                let addr: String = rest
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '/')
                    .collect();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("booket printed its address");
    (Proc(child, printed), addr)
}

/// One receipt key for every server of a test run.
static RECEIPT_KEY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use secrecy::ExposeSecret;
    server::receipts::generate_key_pem()
        .expose_secret()
        .to_owned()
});

fn start_sim(port: u16) -> (Proc, String) {
    let listen = format!("127.0.0.1:{port}");
    start(
        &["sim", "--listen", &listen],
        &[],
        "graph_base_url = \"http://",
    )
}

fn write_config(dir: &std::path::Path, sim: &str, server_extra: &str) -> std::path::PathBuf {
    let path = dir.join("booket.toml");
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
slot_key = {{ env = "BOOKET_TEST_SLOT_KEY" }}
rate_limit_per_minute = 1000
read_rate_limit_per_minute = 100000
{server_extra}

[receipts]
signing_key = {{ env = "BOOKET_TEST_RECEIPT_KEY" }}

[exchange]
graph_base_url = "http://{sim}/v1.0"
login_base_url = "http://{sim}"
hold_seconds = 5
hold_sweep_seconds = 1
retry_budget_seconds = 2

[[calendars]]
name = "Borgerservice"
outlook_calendar = "Borgerservice"
owner = "{owner}"
tenant_id = "{tenant}"
client_id = "{client}"
client_secret = {{ env = "BOOKET_TEST_SECRET" }}

[[forms]]
id = "demo"
title = "Ansøgning"

[[forms.elements]]
name = "tid"
calendar = "Borgerservice"
attach_documents = true
first_hour = 8
last_hour = 16
notice_days = 0
"#,
        owner = server::sim::seed::DEMO_OWNER,
        tenant = server::sim::seed::DEMO_TENANT,
        client = server::sim::seed::DEMO_CLIENT_ID,
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn start_server(config: &std::path::Path) -> (Proc, String) {
    start(
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--assets",
            "/nonexistent",
        ],
        &[
            ("BOOKET_TEST_SECRET", server::sim::seed::DEMO_SECRET),
            (
                "BOOKET_TEST_SLOT_KEY",
                "process-test-slot-key-0123456789abcdef",
            ),
            ("BOOKET_LOG", "info"),
            ("BOOKET_TEST_RECEIPT_KEY", RECEIPT_KEY.as_str()),
        ],
        "Booket serving on http://",
    )
}

/// A simulator process and a config file for servers against it (in a fresh directory).
struct Setup {
    http: reqwest::Client,
    sim_proc: Option<Proc>,
    sim: String,
    dir: std::path::PathBuf,
    config: std::path::PathBuf,
}

impl Setup {
    fn new(name: &str) -> Setup {
        Self::with(name, "")
    }

    /// With more lines for the `[server]` section.
    fn with(name: &str, server_extra: &str) -> Setup {
        let (sim_proc, sim) = start_sim(0);
        let dir = std::env::temp_dir().join(format!("booket-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = write_config(&dir, &sim, server_extra);
        Setup {
            http: reqwest::Client::new(),
            sim_proc: Some(sim_proc),
            sim,
            dir,
            config,
        }
    }

    /// Kills the simulator (`kill -9`).
    fn kill_sim(&mut self) {
        self.sim_proc.take();
    }

    async fn faults(&self, faults: serde_json::Value) {
        self.http
            .post(format!("http://{}/_sim/faults", self.sim))
            .json(&faults)
            .send()
            .await
            .unwrap();
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn event_id_of(slot_id: &str) -> String {
    let part = slot_id.split('.').next().unwrap();
    String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

async fn sim_event(http: &reqwest::Client, sim: &str, id: &str) -> serde_json::Value {
    let state: serde_json::Value = http
        .get(format!("http://{sim}/_sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for t in state["tenants"].as_array().unwrap() {
        for u in t["users"].as_array().unwrap() {
            for c in u["calendars"].as_array().unwrap() {
                for e in c["events"].as_array().unwrap() {
                    if e["id"] == id {
                        return e.clone();
                    }
                }
            }
        }
    }
    panic!("no event {id}");
}

/// A free slot a week or more ahead (the simulator seeds from today).
async fn free_slot(http: &reqwest::Client, server: &str) -> String {
    let next = (chrono::Utc::now() + chrono::TimeDelta::days(7))
        .format("%Y-%m-%d")
        .to_string();
    let week: serde_json::Value = http
        .post(format!("http://{server}/api/week"))
        .form(&[
            ("form", "demo"),
            ("element", "tid"),
            ("week", next.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    week["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == "free")
        .expect("a free slot")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn booking(slot: &str, key: &str, files: &[&str]) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new()
        .text("form", "demo")
        .text("element", "tid")
        .text("slot_id", slot.to_owned())
        .text("idempotency_key", key.to_owned());
    for name in files {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(format!("%PDF-1.4 content of {name}").into_bytes())
                .file_name(name.to_string()),
        );
    }
    form
}

async fn wait_for(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Kills the server in the middle of a booking with documents — stopped by the simulator
/// after `writes` Graph writes — restarts it, and checks that the sweep frees the slot
/// without the abandoned citizen's files, and that the next citizen gets only their own.
/// `recorded` files were recorded in the hold before the kill.
async fn a_server_killed_mid_booking(
    name: &str,
    drop_content_id: bool,
    writes: u32,
    recorded: usize,
) {
    let setup = Setup::new(name);
    let (http, sim, config) = (setup.http.clone(), setup.sim.clone(), setup.config.clone());
    let (server_proc, server) = start_server(&config);
    let slot = free_slot(&http, &server).await;
    let event_id = event_id_of(&slot);

    // Claim (1), first file (2), its record (3), second file (4), its record (5), and then
    // the write that would book it: the simulator stops the booking after `writes`.
    setup
        .faults(serde_json::json!({
            "stall_after_writes": writes,
            "drop_content_id": drop_content_id,
        }))
        .await;
    let url = format!("http://{server}/api/book_form");
    let request = tokio::spawn({
        let http = http.clone();
        let slot = slot.clone();
        async move {
            http.post(url)
                .multipart(booking(&slot, "first", &["a.pdf", "b.pdf"]))
                .send()
                .await
        }
    });
    wait_for(
        "the booking to stall",
        Duration::from_secs(20),
        async || {
            let state: serde_json::Value = http
                .get(format!("http://{sim}/_sim/state"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            state["faults"]["stall_after_writes"] == 0
        },
    )
    .await;
    drop(server_proc);
    let answer = request.await.unwrap();
    assert!(
        answer.is_err() || !answer.unwrap().status().is_success(),
        "the citizen is not told it was booked"
    );
    let event = sim_event(&http, &sim, &event_id).await;
    assert!(
        event["subject"]
            .as_str()
            .unwrap()
            .ends_with(" - Reserveret"),
        "{event}"
    );
    let left: Vec<serde_json::Value> = event["attachments"].as_array().unwrap().clone();
    assert!(!left.is_empty(), "{event}");
    if drop_content_id {
        assert!(left.iter().all(|a| a["content_id"] == ""), "{event}");
    }
    // What the hold record says about the files.
    let record = event["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p[0].as_str().unwrap().ends_with("Name BooketHold"))
        .map(|p| p[1].as_str().unwrap().to_owned())
        .unwrap();
    let ids = record
        .split(';')
        .nth(4)
        .map_or(0, |l| l.split(',').filter(|id| !id.is_empty()).count());
    assert_eq!(ids, recorded, "{record}");

    // A new server sweeps the lapsed hold (5 s) and the files that came with it.
    setup.faults(serde_json::json!({})).await;
    let (_server2, server2) = start_server(&config);
    wait_for("the sweep", Duration::from_secs(20), async || {
        let e = sim_event(&http, &sim, &event_id).await;
        !e["subject"].as_str().unwrap().contains(" - ")
            && e["attachments"].as_array().unwrap().is_empty()
    })
    .await;

    // Another citizen books it and gets only their own file.
    let res = http
        .post(format!("http://{server2}/api/book_form"))
        .multipart(booking(&slot, "second", &["mine.pdf"]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let event = sim_event(&http, &sim, &event_id).await;
    assert_eq!(
        event["subject"]
            .as_str()
            .unwrap()
            .matches(" - Booket")
            .count(),
        1
    );
    let names: Vec<&str> = event["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["mine.pdf"]);
    // Every query the servers sent was one Graph accepts.
    let state: serde_json::Value = http
        .get(format!("http://{sim}/_sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["stats"]["rejected_queries"], 0, "{}", state["stats"]);
}

/// The second file is on the event but its id is not recorded yet: its `contentId` tag
/// finds it (the sweep lists attachments with the query Graph accepts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_booking_leaves_no_orphaned_hold_and_no_foreign_files() {
    a_server_killed_mid_booking("kill", false, 4, 1).await;
}

/// Files whose `contentId` the tenant dropped are found by the ids recorded in the hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_without_their_content_id_are_removed_by_their_recorded_ids() {
    a_server_killed_mid_booking("kill-noid", true, 5, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulator_restarted_mid_booking_is_reported_and_the_retry_books_once() {
    let mut setup = Setup::new("simrestart");
    let (http, sim) = (setup.http.clone(), setup.sim.clone());
    let port: u16 = sim.rsplit(':').next().unwrap().parse().unwrap();
    let (_server, server) = start_server(&setup.config);
    let slot = free_slot(&http, &server).await;
    let event_id = event_id_of(&slot);

    setup.faults(serde_json::json!({"latency_ms": 800})).await;
    let before = sim_state(&http, &sim).await["stats"]["graph_requests"]
        .as_u64()
        .unwrap();
    let url = format!("http://{server}/api/book");
    let request = tokio::spawn({
        let http = http.clone();
        let slot = slot.clone();
        async move {
            http.post(url)
                .form(&[
                    ("form", "demo"),
                    ("element", "tid"),
                    ("slot_id", slot.as_str()),
                    ("idempotency_key", "k"),
                ])
                .send()
                .await
                .unwrap()
        }
    });
    // Graph goes away while the booking is under way (its requests reach a simulator that
    // holds each for 800 ms; the sweep's may too), and stays away until the server has
    // given up (its retry budget is 2 s); then it comes back.
    wait_for(
        "requests to reach Graph",
        Duration::from_secs(20),
        async || {
            sim_state(&http, &sim).await["stats"]["graph_requests"]
                .as_u64()
                .unwrap()
                > before
        },
    )
    .await;
    setup.kill_sim();
    let res = request.await.unwrap();
    let (_sim2, _) = start_sim(port);
    // Told the truth: not booked, try again.
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"error": "unavailable"})
    );
    assert!(!sim_event(&http, &sim, &event_id).await["subject"]
        .as_str()
        .unwrap()
        .contains(" - "));
    // The retry (same key) books it, once.
    let res = http
        .post(format!("http://{server}/api/book"))
        .form(&[
            ("form", "demo"),
            ("element", "tid"),
            ("slot_id", slot.as_str()),
            ("idempotency_key", "k"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let subject = sim_event(&http, &sim, &event_id).await["subject"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(subject.matches(" - Booket").count(), 1, "{subject}");
}

/// The server's peak resident memory (VmHWM), in bytes.
fn peak_rss(proc: &Proc) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", proc.0.id())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// 40 citizens (each their own address behind the proxy) send a 30 MB file at once for a
/// real slot; the files are streamed to disk within the limits, so the server's memory
/// stays bounded whatever they send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_large_uploads_at_once_keep_memory_bounded() {
    let setup = Setup::with("uploads", "trusted_proxies = [\"127.0.0.1\"]");
    let http = setup.http.clone();
    let (server_proc, server) = start_server(&setup.config);
    let slot = free_slot(&http, &server).await;
    let before = peak_rss(&server_proc);
    // A PDF of 30 MB (over the 25 MB a file may have): one buffer, shared by every client.
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.resize(30 * 1024 * 1024, b'0');
    let pdf = bytes::Bytes::from(pdf);
    let mut tasks = Vec::new();
    for i in 0..40u8 {
        let (http, server, slot, pdf) = (http.clone(), server.clone(), slot.clone(), pdf.clone());
        tasks.push(tokio::spawn(async move {
            let form = booking(&slot, &format!("k{i}"), &[]).part(
                "file",
                reqwest::multipart::Part::stream(pdf).file_name("stor.pdf"),
            );
            http.post(format!("http://{server}/api/book_form"))
                .header("x-forwarded-for", format!("198.51.100.{i}"))
                .multipart(form)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string())
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    // Each was refused as too large once 25 MB had arrived (413), or cut off.
    assert_eq!(statuses.len(), 40);
    assert!(
        statuses.iter().all(|s| !matches!(s, Ok(200))),
        "a 30 MB file is over the limit: {statuses:?}"
    );
    assert!(
        statuses.iter().any(|s| matches!(s, Ok(413))),
        "{statuses:?}"
    );
    // And a 20 MB file within the limits is booked: read back from its temporary file a
    // chunk at a time into the upload session.
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.resize(20 * 1024 * 1024, b'1');
    let form = booking(&slot, "ok", &[]).part(
        "file",
        reqwest::multipart::Part::bytes(pdf).file_name("stor.pdf"),
    );
    let res = http
        .post(format!("http://{server}/api/book_form"))
        .header("x-forwarded-for", "198.51.100.200")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "{}", res.text().await.unwrap());
    let event = sim_event(&http, &setup.sim, &event_id_of(&slot)).await;
    assert_eq!(event["attachments"][0]["size"], 20 * 1024 * 1024);
    let peak = peak_rss(&server_proc);
    assert!(
        peak < 150 * 1024 * 1024,
        "peak RSS {} MB (before {} MB)",
        peak >> 20,
        before >> 20
    );
    eprintln!(
        "uploads: peak RSS {} MB (before {} MB)",
        peak >> 20,
        before >> 20
    );
}

/// A client that starts a file and then stops sending is cut off after the body time-out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_is_cut_off() {
    let setup = Setup::with("stall", "body_timeout_seconds = 1");
    let http = setup.http.clone();
    let (_server_proc, server) = start_server(&setup.config);
    let slot = free_slot(&http, &server).await;
    // The first bytes of a file, and then nothing: the body never ends.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
    tx.send(Ok(bytes::Bytes::from_static(b"%PDF-1.7\n")))
        .await
        .unwrap();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let body = reqwest::Body::wrap_stream(stream);
    let form = booking(&slot, "slow", &[]).part(
        "file",
        reqwest::multipart::Part::stream(body).file_name("langsom.pdf"),
    );
    // (The bound only keeps a broken server from hanging the test run.)
    let res = tokio::time::timeout(
        Duration::from_secs(60),
        http.post(format!("http://{server}/api/book_form"))
            .multipart(form)
            .send(),
    )
    .await
    .expect("the server never cut the stalled upload off");
    // Cut off by the server: an error status, or the connection closed.
    assert!(
        res.as_ref().map_or(true, |r| !r.status().is_success()),
        "{res:?}"
    );
    drop(tx);
    // Nothing was written to the calendar.
    let event = sim_event(&http, &setup.sim, &event_id_of(&slot)).await;
    assert!(
        !event["subject"].as_str().unwrap().contains(" - "),
        "{event}"
    );
}

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
    let logs = server_proc.1.lock().unwrap().join("\n");
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

async fn sim_state(http: &reqwest::Client, sim: &str) -> serde_json::Value {
    http.get(format!("http://{sim}/_sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
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

/// 8 citizens at once book on the EWS calendar, each with a 25 MB file: EWS takes a file in
/// one request, base64-encoded, and Booket streams it there from the temporary file a chunk
/// at a time, so the server's memory stays bounded (it would hold each file four or five
/// times over as strings: about a gigabyte).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_large_ews_bookings_at_once_keep_memory_bounded() {
    let setup = Setup::with("ews-uploads", "trusted_proxies = [\"127.0.0.1\"]");
    let password = setup.dir.join("ews-password");
    std::fs::write(&password, server::sim::seed::DEMO_EWS_PASSWORD).unwrap();
    let mut config = std::fs::read_to_string(&setup.config).unwrap();
    config.push_str(&format!(
        r#"
[[calendars]]
name = "Jobcenter"
outlook_calendar = "{calendar}"
owner = "{owner}"
api = "ews"
ews_url = "http://{sim}/EWS/Exchange.asmx"
username = "{user}"
domain = "{domain}"
password = {{ file = "{password}" }}
access = "impersonation"

[[forms]]
id = "jobcenter"
title = "Jobcenter"

[[forms.elements]]
name = "tid"
calendar = "Jobcenter"
attach_documents = true
first_hour = 8
last_hour = 16
notice_days = 0
"#,
        calendar = server::sim::seed::DEMO_EWS_CALENDAR,
        owner = server::sim::seed::DEMO_EWS_OWNER,
        sim = setup.sim,
        user = server::sim::seed::DEMO_EWS_USER,
        domain = server::sim::seed::DEMO_EWS_DOMAIN,
        password = password.display(),
    ));
    std::fs::write(&setup.config, config).unwrap();
    let http = setup.http.clone();
    let (server_proc, server) = start_server(&setup.config);
    // Eight free slots of the EWS calendar (the next weeks).
    let mut slots = Vec::new();
    for weeks in 1..4 {
        let week = (chrono::Utc::now() + chrono::TimeDelta::days(7 * weeks))
            .format("%Y-%m-%d")
            .to_string();
        let answer: serde_json::Value = http
            .post(format!("http://{server}/api/week"))
            .form(&[("form", "jobcenter"), ("element", "tid"), ("week", &week)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for s in answer["slots"].as_array().unwrap() {
            if s["state"] == "free" && slots.len() < 8 {
                slots.push(s["id"].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(slots.len(), 8);
    let before = peak_rss(&server_proc);
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.resize(25 * 1024 * 1024, b'2');
    let pdf = bytes::Bytes::from(pdf);
    let mut tasks = Vec::new();
    for (i, slot) in slots.iter().enumerate() {
        let (http, server, slot, pdf) = (http.clone(), server.clone(), slot.clone(), pdf.clone());
        tasks.push(tokio::spawn(async move {
            let form = reqwest::multipart::Form::new()
                .text("form", "jobcenter")
                .text("element", "tid")
                .text("slot_id", slot)
                .text("idempotency_key", format!("k-ews-{i}"))
                .part(
                    "file",
                    reqwest::multipart::Part::stream(pdf).file_name("stor.pdf"),
                );
            let res = http
                .post(format!("http://{server}/api/book_form"))
                .header("x-forwarded-for", format!("198.51.100.{i}"))
                .multipart(form)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    for slot in &slots {
        let event = sim_event(&http, &setup.sim, &event_id_of(slot)).await;
        assert_eq!(event["attachments"][0]["size"], 25 * 1024 * 1024, "{event}");
    }
    let peak = peak_rss(&server_proc);
    eprintln!(
        "ews uploads: peak RSS {} MB (before {} MB)",
        peak >> 20,
        before >> 20
    );
    assert!(
        peak < 150 * 1024 * 1024,
        "peak RSS {} MB (before {} MB)",
        peak >> 20,
        before >> 20
    );
}
