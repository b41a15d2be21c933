//! The test harness every integration test uses: a fresh Exchange simulator and the real
//! Booket server on port 0, with the server clock pinned to the same "now" the simulator
//! was seeded from ([`Env`], [`Options`] to build its configuration); the server's answers
//! as [`Answer`]s, whose status a test must look at; and the slot helpers.
#![allow(dead_code)]

pub mod store;

use chrono::{DateTime, TimeZone, Utc};
use server::booking::Clock;
use server::config::Config;
use server::sim::model::{Event, SimOptions};
use server::sim::Simulator;
use std::sync::{Arc, Mutex};

/// Monday 30 November 2026, 11:00 in Copenhagen: a fixed "now" for every test.
pub fn monday_11() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap()
}

/// Friday 4 December 2026, 16:00 in Copenhagen: that week has nothing bookable left.
pub fn friday_16() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 15, 0, 0).unwrap()
}

/// A server function's answer: its HTTP status and its JSON body. A test looks at the status
/// of every answer it asks for (destructure it, or `ok()` / `refused(..)`).
#[must_use = "assert the answer's status"]
#[derive(Debug, Clone, PartialEq)]
pub struct Answer(pub u16, pub serde_json::Value);

impl Answer {
    /// A response's status and its body (JSON, or the text as a JSON string).
    pub async fn of(res: reqwest::Response) -> Answer {
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        Answer(
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// The body of an answer that must be 200.
    #[track_caller]
    pub fn ok(self) -> serde_json::Value {
        assert_eq!(self.0, 200, "{}", self.1);
        self.1
    }

    /// Asserts a refusal: this status and this `error`.
    #[track_caller]
    pub fn refused(&self, status: u16, error: &str) {
        assert_eq!(
            (self.0, self.1["error"].as_str()),
            (status, Some(error)),
            "{}",
            self.1
        );
    }
}

pub struct Env {
    pub sim: Simulator,
    pub base: String,
    pub http: reqwest::Client,
    pub now: DateTime<Utc>,
    pub config: Config,
    pub booket: Arc<server::booking::Booket>,
    /// Added to `now` by the server clock; see [`Env::advance`].
    offset: Arc<Mutex<chrono::TimeDelta>>,
    /// The private `/metrics` listener, when configured.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

pub struct Options {
    pub now: DateTime<Utc>,
    pub sim: SimOptions,
    /// Build the server as `booket serve` does (no demo pages), not as the demo.
    pub serve: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            now: monday_11(),
            sim: SimOptions::default(),
            serve: false,
        }
    }
}

/// Writes the in-process servers' logs (info and up) to `target/test-logs/inproc-<test
/// binary>.log`, which `scripts/no-secrets.sh` scans for secrets after the tests.
pub fn log_to_file() {
    static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/test-logs"));
        let _ = std::fs::create_dir_all(dir);
        let name = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "tests".into());
        let Ok(file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("inproc-{name}.log")))
        else {
            return;
        };
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_ansi(false)
            .with_writer(Mutex::new(file))
            .try_init();
    });
}

impl Env {
    pub async fn start() -> Env {
        Self::start_with(Options::default(), |_| {}).await
    }

    /// A simulator and a server whose clocks start at `now`; `tweak` as in [`Env::start_with`].
    pub async fn start_at(now: DateTime<Utc>, tweak: impl FnOnce(&mut Config)) -> Env {
        Self::start_with(
            Options {
                now,
                ..Options::default()
            },
            tweak,
        )
        .await
    }

    /// Starts a simulator and a server; `tweak` may change the server configuration.
    pub async fn start_with(opts: Options, tweak: impl FnOnce(&mut Config)) -> Env {
        let sim = Simulator::demo(opts.now, opts.sim);
        sim.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Self::server_for(sim, opts.now, opts.serve, tweak).await
    }

    /// Another server instance against the same simulator (same slot key, like two
    /// instances behind one load balancer).
    pub async fn second_instance(&self) -> Env {
        let config = self.config.clone();
        let env = Self::server_for(self.sim.clone(), self.now, false, move |c| *c = config).await;
        // Both instances read the same (test) clock.
        *env.offset.lock().unwrap() = *self.offset.lock().unwrap();
        env
    }

    /// Moves the server clock forward (holds lapse, notice limits move).
    pub fn advance(&self, by: chrono::TimeDelta) {
        *self.offset.lock().unwrap() += by;
    }

    async fn server_for(
        sim: Simulator,
        now: DateTime<Utc>,
        serve: bool,
        tweak: impl FnOnce(&mut Config),
    ) -> Env {
        let mut config = server::demo::demo_config(&sim, "127.0.0.1:0".parse().unwrap());
        config.server.slot_key = Some("test-slot-key-0123456789abcdef-0123".into());
        config.exchange.retry_budget = std::time::Duration::from_secs(5);
        // Tests run the sweep themselves.
        config.exchange.hold_sweep = std::time::Duration::ZERO;
        // Plain bookings unless a test asks for documents, a summary or mail.
        for form in &mut config.forms {
            for el in &mut form.elements {
                el.attach_documents = false;
                el.attach_summary = false;
            }
        }
        config.mail = server::config::MailConfig::Off;
        tweak(&mut config);
        log_to_file();
        let offset = Arc::new(Mutex::new(chrono::TimeDelta::zero()));
        let clock_offset = offset.clone();
        let clock: Clock = Arc::new(move || now + *clock_offset.lock().unwrap());
        let srv = server::Server::build(
            config.clone(),
            Some("127.0.0.1:0".parse().unwrap()),
            // The built widget (scripts/test.sh builds it before the tests).
            server::web::default_assets_dir(),
            clock,
            (!serve).then(|| sim.clone()),
        )
        .await
        .unwrap();
        let addr = srv.local_addr().unwrap();
        let metrics_addr = srv
            .private_listener
            .as_ref()
            .map(|l| l.local_addr().unwrap());
        let booket = srv.booket.clone();
        tokio::spawn(srv.run(std::future::pending()));
        Env {
            sim,
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            now,
            config,
            booket,
            offset,
            metrics_addr,
        }
    }

    /// Calls a server function with form-urlencoded arguments, as the widget does.
    pub async fn call(&self, name: &str, args: &[(&str, &str)]) -> Answer {
        let res = self
            .http
            .post(format!("{}/api/{name}", self.base))
            .header("accept", "application/json")
            .form(args)
            .send()
            .await
            .unwrap();
        Answer::of(res).await
    }

    /// A reservation of `slot` in `demo` sent with one extra header (an `Origin`, an
    /// `X-Forwarded-For`), as the raw response.
    pub async fn reserve_with(
        &self,
        header: Option<(&str, &str)>,
        slot: &str,
    ) -> reqwest::Response {
        let mut req = self.http.post(format!("{}/api/reserve", self.base)).form(&[
            ("form", "demo"),
            ("element", "tid"),
            ("slot_id", slot),
        ]);
        if let Some((name, value)) = header {
            req = req.header(name, value);
        }
        req.send().await.unwrap()
    }

    /// The text of `/metrics` (the test server shows it without a token).
    pub async fn metrics(&self) -> String {
        self.metrics_response().await.text().await.unwrap()
    }

    /// The value of the first series in `/metrics` whose line starts with `line_start`
    /// (0 when there is none).
    pub async fn metric(&self, line_start: &str) -> u64 {
        metric_value(&self.metrics().await, line_start)
    }

    /// A Graph client of its own on the simulator (four in flight, a 5 s retry budget).
    pub fn graph_client(&self) -> server::graph::GraphClient {
        server::graph::GraphClient::new(server::graph::GraphOptions {
            graph_base_url: self.sim.graph_base_url(),
            login_base_url: self.sim.login_base_url(),
            scope: server::config::default_graph_scope(
                &self.sim.graph_base_url(),
                &self.sim.login_base_url(),
            ),
            max_concurrency: 4,
            retry_budget: std::time::Duration::from_secs(5),
        })
        .unwrap()
    }

    /// Sends a multipart booking to `/api/book_form` as it is.
    pub async fn send_form(&self, form: reqwest::multipart::Form) -> reqwest::Response {
        self.http
            .post(format!("{}/api/book_form", self.base))
            .header("accept", "application/json")
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// `GET /metrics` as it answers (with or without a token configured).
    pub async fn metrics_response(&self) -> reqwest::Response {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
    }

    pub async fn week(&self, form: &str, week: &str) -> Answer {
        self.call(
            "week",
            &[("form", form), ("element", "tid"), ("week", week)],
        )
        .await
    }

    /// A server whose elements all attach the citizen's documents.
    pub async fn with_documents() -> Env {
        Env::start_with(Options::default(), attach_documents).await
    }

    /// Nothing was written to Exchange: no event changed, no file attached.
    #[track_caller]
    pub fn assert_nothing_written(&self) {
        let stats = self.sim.stats();
        assert_eq!(
            (
                stats.event_patches,
                stats.attachment_posts,
                stats.upload_sessions
            ),
            (0, 0, 0)
        );
    }

    /// Every answer of the simulator `ms` milliseconds late.
    pub fn slow(&self, ms: u64) {
        self.sim.set_faults(server::sim::model::Faults {
            latency_ms: ms,
            ..Default::default()
        });
    }

    /// A server behind a reverse proxy on this machine (the client is read from
    /// `X-Forwarded-For`), with `tweak` applied to its configuration.
    pub async fn behind_proxy(tweak: impl FnOnce(&mut Config)) -> Env {
        Env::start_with(Options::default(), |c| {
            c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            tweak(c)
        })
        .await
    }

    /// A new hold on `slot_id` in `form` (must succeed); its token.
    pub async fn hold_token(&self, form: &str, slot_id: &str) -> String {
        self.reserve_ok(form, slot_id, "", "").await["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The `n`th free slot of [`WEEK`] in `form`.
    pub async fn free_slot(&self, form: &str, n: usize) -> String {
        slot_id(&self.week_ok(form, WEEK).await, "free", n)
    }

    /// The ids of the free slots of [`WEEK`] in `form`, in order.
    pub async fn free_slots(&self, form: &str) -> Vec<String> {
        free_ids(&self.week_ok(form, WEEK).await)
    }

    /// A week answer that must be 200 (the tests that read a week to use it).
    pub async fn week_ok(&self, form: &str, week: &str) -> serde_json::Value {
        let Answer(status, body) = self.week(form, week).await;
        assert_eq!(status, 200, "week {week} of {form}: {body}");
        body
    }

    /// A week answer of `form`'s element as a citizen holding `hold` reads it (empty: as
    /// anyone reads it); must be 200.
    pub async fn week_held(&self, form: &str, week: &str, hold: &str) -> serde_json::Value {
        let args = [
            ("form", form),
            ("element", "tid"),
            ("week", week),
            ("hold", hold),
        ];
        let Answer(status, body) = self.call("week", &args).await;
        assert_eq!(status, 200, "week {week} of {form} with a hold: {body}");
        body
    }

    /// A reservation that must succeed; its hold.
    pub async fn reserve_ok(
        &self,
        form: &str,
        slot_id: &str,
        hold: &str,
        release: &str,
    ) -> serde_json::Value {
        let Answer(status, body) = self.reserve(form, slot_id, hold, release).await;
        assert_eq!(status, 200, "reserving {slot_id}: {body}");
        body
    }

    pub async fn reserve(&self, form: &str, slot_id: &str, hold: &str, release: &str) -> Answer {
        self.call(
            "reserve",
            &[
                ("form", form),
                ("element", "tid"),
                ("slot_id", slot_id),
                ("hold", hold),
                ("release_slot_id", release),
            ],
        )
        .await
    }

    pub async fn release(&self, form: &str, slot_id: &str, hold: &str) -> Answer {
        self.call(
            "release",
            &[
                ("form", form),
                ("element", "tid"),
                ("slot_id", slot_id),
                ("hold", hold),
            ],
        )
        .await
    }

    pub async fn book_held(&self, form: &str, slot_id: &str, key: &str, hold: &str) -> Answer {
        self.call(
            "book",
            &[
                ("form", form),
                ("element", "tid"),
                ("slot_id", slot_id),
                ("idempotency_key", key),
                ("hold", hold),
            ],
        )
        .await
    }

    /// A booking without a hold of the citizen's own (an empty `hold`, as the widget sends
    /// it when nothing was reserved).
    pub async fn book(&self, form: &str, slot_id: &str, key: &str) -> Answer {
        self.book_held(form, slot_id, key, "").await
    }

    pub fn events(&self) -> Vec<Event> {
        self.sim.calendar_events(server::sim::seed::DEMO_CALENDAR)
    }

    pub fn event(&self, id: &str) -> Event {
        self.events()
            .into_iter()
            .find(|e| e.id == id)
            .expect("event exists")
    }

    /// A multipart booking of `form` as the widget sends it (name, e-mail and a message
    /// field, and `files`).
    pub async fn book_form(
        &self,
        form_id: &str,
        slot_id: &str,
        key: &str,
        hold: &str,
        files: &[(&str, Vec<u8>)],
    ) -> Answer {
        let mut form = reqwest::multipart::Form::new()
            .text("form", form_id.to_owned())
            .text("element", "tid")
            .text("slot_id", slot_id.to_owned())
            .text("idempotency_key", key.to_owned())
            .text("hold", hold.to_owned())
            .text("field", field("name", "Navn", "Søren Ærø"))
            .text("field", field("email", "E-mail", "soren@example.dk"))
            .text(
                "field",
                field("message", "Besked", "Om min sag – <b>vigtigt</b>"),
            );
        for (name, bytes) in files {
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(bytes.clone())
                    .file_name(name.to_string())
                    .mime_str("application/pdf")
                    .unwrap(),
            );
        }
        Answer::of(self.send_form(form).await).await
    }

    /// A reservation by a signed-in citizen (`session`, see [`session`]) under a new token.
    pub async fn reserve_in_session(&self, slot: &str, session: &str) -> Answer {
        self.call(
            "reserve",
            &[
                ("form", "demo"),
                ("element", "tid"),
                ("slot_id", slot),
                ("session", session),
            ],
        )
        .await
    }

    pub fn sim_url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }
}

/// Confirmation mail through the demo app, as the calendar's mailbox (tests' servers have
/// mail off).
pub fn mail_on(config: &mut Config) {
    config.mail = server::config::MailConfig::Graph {
        tenant_id: server::sim::seed::DEMO_TENANT.into(),
        client_id: server::sim::seed::DEMO_CLIENT_ID.into(),
        credential: server::sim::seed::DEMO_SECRET.into(),
        sender: server::sim::seed::DEMO_OWNER.into(),
        user: server::sim::seed::DEMO_OWNER.into(),
    };
}

/// A request's status, sent as it is.
pub trait StatusOf {
    async fn status_code(self) -> u16;
}

impl StatusOf for reqwest::RequestBuilder {
    async fn status_code(self) -> u16 {
        self.send().await.unwrap().status().as_u16()
    }
}

/// Every element attaches the citizen's documents.
pub fn attach_documents(config: &mut Config) {
    for form in &mut config.forms {
        for el in &mut form.elements {
            el.attach_documents = true;
        }
    }
}

/// Slots of a week response with the given state.
pub fn slots_in_state(week: &serde_json::Value, state: &str) -> Vec<serde_json::Value> {
    week["slots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == state)
        .cloned()
        .collect()
}

/// The id of the `n`th slot in `state` of a week response.
#[track_caller]
pub fn slot_id(week: &serde_json::Value, state: &str, n: usize) -> String {
    slots_in_state(week, state)
        .get(n)
        .and_then(|s| s["id"].as_str())
        .unwrap_or_else(|| panic!("no slot {n} in state {state}"))
        .to_owned()
}

/// The ids of a week response's free slots, in order.
pub fn free_ids(week: &serde_json::Value) -> Vec<String> {
    slots_in_state(week, "free")
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The state of one slot in a week response.
pub fn state_of(week: &serde_json::Value, slot_id: &str) -> String {
    week["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == slot_id)
        .map(|s| s["state"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("{slot_id} is not in the week"))
}

/// The event id inside a slot id (its first dot-separated part, base64url).
pub fn event_id_of(slot_id: &str) -> String {
    use base64::Engine;
    let part = slot_id.split('.').next().unwrap();
    String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// One form field as the widget sends it.
pub fn field(name: &str, label: &str, value: &str) -> String {
    serde_json::json!({"name": name, "label": label, "value": value}).to_string()
}

/// The week both demo calendars are seeded alike in (from the pinned Monday).
pub const WEEK: &str = "2026-12-02";

/// One of the demo organisation's two backends: the Graph calendar "Borgerservice" (form
/// `demo`) and the EWS calendar "Jobcenter" (form `jobcenter`), seeded with the same slots.
#[derive(Clone, Copy, Debug)]
pub struct Backend {
    pub form: &'static str,
    pub calendar: &'static str,
}

pub const BACKENDS: [Backend; 2] = [
    Backend {
        form: "demo",
        calendar: server::sim::seed::DEMO_CALENDAR,
    },
    Backend {
        form: "jobcenter",
        calendar: server::sim::seed::DEMO_EWS_CALENDAR,
    },
];

impl Backend {
    /// The simulator's event behind a slot id.
    pub fn event(&self, env: &Env, slot_id: &str) -> Event {
        let id = event_id_of(slot_id);
        env.sim
            .calendar_events(self.calendar)
            .into_iter()
            .find(|e| e.id == id)
            .unwrap_or_else(|| panic!("{self:?}: no event {id}"))
    }

    /// [`WEEK`] as the holder of `hold` sees it (must be 200).
    pub async fn week(&self, env: &Env, hold: &str) -> serde_json::Value {
        let Answer(status, week) = env
            .call(
                "week",
                &[
                    ("form", self.form),
                    ("element", "tid"),
                    ("week", WEEK),
                    ("hold", hold),
                ],
            )
            .await;
        assert_eq!(status, 200, "{self:?}: {week}");
        week
    }
}

/// The forms' session key in tests that sign citizens in.
pub const SESSION_KEY: &str = "form-backend-session-key-0123456789abcdef";

/// A session token as the form's backend would sign it.
pub fn session(sub: &str, aud: &str, exp: chrono::DateTime<chrono::Utc>, key: &str) -> String {
    server::signing::ensure();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"sub": sub, "aud": aud, "exp": exp.timestamp(), "iat": exp.timestamp() - 600}),
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// Polls `done` every 10 ms until it holds (panics after 20 s: something is stuck).
pub async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("waited in vain for {what}");
}

/// The value of the first series in a `/metrics` text whose line starts with `line_start`
/// (0 when there is none).
pub fn metric_value(metrics: &str, line_start: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
