//! What needs real processes: the server killed mid-booking and the simulator restarted
//! mid-booking (`crashes.rs`), memory under large uploads (`memory.rs`), and the process's
//! life — health, SIGTERM, logs (`lifecycle.rs`). Each runs the `booket` binary as a child
//! process; the helpers to start and drive them are here.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod crashes;
mod lifecycle;
mod memory;
#[path = "../support/mod.rs"]
mod support;

/// A child process that is killed when dropped, with every line it printed.
pub struct Proc(Child, std::sync::Arc<std::sync::Mutex<Vec<String>>>);

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
pub fn start(args: &[&str], envs: &[(&str, &str)], marker: &str) -> (Proc, String) {
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

pub fn start_sim(port: u16) -> (Proc, String) {
    let listen = format!("127.0.0.1:{port}");
    start(
        &["sim", "--listen", &listen],
        &[],
        "graph_base_url = \"http://",
    )
}

pub fn write_config(dir: &std::path::Path, sim: &str, server_extra: &str) -> std::path::PathBuf {
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

{form}"#,
        form = form_toml("demo", "Ansøgning", "Borgerservice"),
        owner = server::sim::seed::DEMO_OWNER,
        tenant = server::sim::seed::DEMO_TENANT,
        client = server::sim::seed::DEMO_CLIENT_ID,
    );
    std::fs::write(&path, text).unwrap();
    path
}

pub fn start_server(config: &std::path::Path) -> (Proc, String) {
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
pub struct Setup {
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

pub use support::event_id_of;

pub async fn sim_event(http: &reqwest::Client, sim: &str, id: &str) -> serde_json::Value {
    let state = sim_state(http, sim).await;
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

/// A form with one element that books in `calendar` and attaches documents.
pub fn form_toml(id: &str, title: &str, calendar: &str) -> String {
    format!(
        r#"
[[forms]]
id = "{id}"
title = "{title}"

[[forms.elements]]
name = "tid"
calendar = "{calendar}"
attach_documents = true
first_hour = 8
last_hour = 16
notice_days = 0
"#
    )
}

/// A booking of `slot` in `demo` without files, posted to `url` (`…/api/book`).
pub async fn book(http: &reqwest::Client, url: &str, slot: &str, key: &str) -> reqwest::Response {
    http.post(url)
        .form(&[
            ("form", "demo"),
            ("element", "tid"),
            ("slot_id", slot),
            ("idempotency_key", key),
        ])
        .send()
        .await
        .unwrap()
}

/// The week of `day` in `form`, as the widget asks for it.
pub async fn week_of(
    http: &reqwest::Client,
    server: &str,
    form: &str,
    day: &str,
) -> serde_json::Value {
    http.post(format!("http://{server}/api/week"))
        .form(&[("form", form), ("element", "tid"), ("week", day)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A free slot a week or more ahead (the simulator seeds from today).
pub async fn free_slot(http: &reqwest::Client, server: &str) -> String {
    let next = (chrono::Utc::now() + chrono::TimeDelta::days(7))
        .format("%Y-%m-%d")
        .to_string();
    let week = week_of(http, server, "demo", &next).await;
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

pub fn booking(slot: &str, key: &str, files: &[&str]) -> reqwest::multipart::Form {
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

pub async fn wait_for(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

pub async fn sim_state(http: &reqwest::Client, sim: &str) -> serde_json::Value {
    http.get(format!("http://{sim}/_sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
