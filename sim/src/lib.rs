//! The Exchange simulator: a real HTTP server that behaves like the parts of Microsoft
//! Graph, the Entra token endpoint and EWS that Booket uses, as Microsoft documents them
//! (each behaviour with its source in docs/contributors/testing.md, "What the simulators
//! answer, and on whose word"). It backs the demo, the integration tests and the
//! Playwright suite; the production client code talks to it unchanged.
//!
//! Test control lives under `/_sim/` (state, faults, staff edits); it has no auth, so the
//! simulator binds to loopback only.
//!
//! (About 525 lines: the handle tests drive the simulator by, one method per control, and
//! its one accept loop for plain and TLS connections.)

mod calendars;
mod common;
mod entra;
mod events;
mod ews;
mod files;
mod graph;
mod mail;
pub mod model;
pub mod ntlm;
mod odata;
pub mod seed;
#[cfg(test)]
mod tests;
mod wire;

use axum::extract::{Path, State as AxState};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use model::{Faults, SimOptions, State, Tenant};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// A running (or ready to run) simulator; cheap to clone.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    opts: SimOptions,
    base_url: OnceLock<String>,
}

impl Simulator {
    pub fn new(tenants: Vec<Tenant>, opts: SimOptions) -> Self {
        Simulator {
            inner: Arc::new(Inner {
                state: Mutex::new(State::new(tenants)),
                opts,
                base_url: OnceLock::new(),
            }),
        }
    }

    /// The demo tenant seeded relative to `now`.
    pub fn demo(now: DateTime<Utc>, opts: SimOptions) -> Self {
        Self::new(vec![seed::demo_tenant(now)], opts)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn options(&self) -> &SimOptions {
        &self.inner.opts
    }

    /// `http://127.0.0.1:port` once serving.
    pub fn base_url(&self) -> String {
        self.inner.base_url.get().cloned().unwrap_or_default()
    }

    /// Graph root for the client configuration.
    pub fn graph_base_url(&self) -> String {
        format!("{}/v1.0", self.base_url())
    }

    /// Login root for the client configuration.
    pub fn login_base_url(&self) -> String {
        self.base_url()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// A snapshot of everything, as `/_sim/state` shows it.
    pub fn snapshot(&self) -> serde_json::Value {
        let s = self.lock();
        serde_json::json!({
            "tenants": s.tenants,
                        "meeting_updates": s.meeting_updates,
            "outbox": s.outbox,
            "stats": s.stats,
            "faults": s.faults,
        })
    }

    /// Events of one calendar by name (first match), for the demo's simulator view.
    pub fn calendar_events(&self, calendar: &str) -> Vec<model::Event> {
        let s = self.lock();
        s.tenants
            .iter()
            .flat_map(|t| &t.users)
            .flat_map(|u| &u.calendars)
            .find(|c| c.name == calendar)
            .map(|c| c.events.clone())
            .unwrap_or_default()
    }

    pub fn meeting_updates(&self) -> Vec<model::MeetingUpdate> {
        self.lock().meeting_updates.clone()
    }

    pub fn outbox(&self) -> Vec<model::SentMail> {
        self.lock().outbox.clone()
    }

    /// The bytes of an attachment (for tests that check what arrived).
    pub fn attachment_bytes(&self, event_id: &str, name: &str) -> Option<Vec<u8>> {
        let mut s = self.lock();
        let (_, e) = s.event_mut(event_id)?;
        e.attachments
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.bytes.clone())
    }

    pub fn stats(&self) -> model::Stats {
        self.lock().stats.clone()
    }

    /// Changes an event's subject as staff would in Outlook (new change key, no auth).
    pub fn staff_set_subject(&self, event_id: &str, subject: &str) -> bool {
        let mut s = self.lock();
        let ck = s.next_change_key();
        match s.event_mut(event_id) {
            Some((_, e)) => {
                e.subject = subject.into();
                e.change_key = ck;
                true
            }
            None => false,
        }
    }

    /// Changes an event as staff (or an earlier Booket) left it, without a request: a new
    /// change key. False when there is no such event.
    pub fn edit_event(&self, event_id: &str, edit: impl FnOnce(&mut model::Event)) -> bool {
        let mut s = self.lock();
        let ck = s.next_change_key();
        match s.event_mut(event_id) {
            Some((_, e)) => {
                edit(e);
                e.change_key = ck;
                true
            }
            None => false,
        }
    }

    /// Marks every issued token as expired (Graph then answers 401).
    pub fn expire_tokens(&self) {
        let now = tokio::time::Instant::now();
        for t in self.lock().tokens.values_mut() {
            t.expires_at = now;
        }
    }

    /// Sets the application permissions (token `roles`) of every app.
    pub fn set_roles(&self, roles: &[&str]) {
        for t in &mut self.lock().tenants {
            for a in &mut t.apps {
                a.roles = roles.iter().map(|r| r.to_string()).collect();
            }
        }
    }

    /// Adds an empty calendar to a mailbox (e.g. a second one with the same name).
    pub fn add_calendar(&self, upn: &str, name: &str) {
        let mut s = self.lock();
        s.counter += 1;
        let id = format!("AAMkADCa{:08}", s.counter);
        if let Some(mb) = s
            .tenants
            .iter_mut()
            .flat_map(|t| t.users.iter_mut())
            .find(|u| u.upn.eq_ignore_ascii_case(upn))
        {
            mb.calendars.push(model::Calendar {
                id,
                name: name.into(),
                events: vec![],
            });
        }
    }

    /// Staff delete a calendar and make it again under the same name with the same
    /// appointments (an import): a new folder id, new item ids, the old ones gone.
    /// False when no calendar has that name.
    pub fn recreate_calendar(&self, name: &str) -> bool {
        let mut s = self.lock();
        s.counter += 1;
        let n = s.counter;
        let Some(cal) = s.calendar_named_mut(name) else {
            return false;
        };
        cal.id = format!("AAMkADCa{n:08}");
        let renamed: Vec<(String, String)> = cal
            .events
            .iter()
            .map(|e| (e.id.clone(), format!("{}R{n}", e.id)))
            .collect();
        for e in &mut cal.events {
            e.id = format!("{}R{n}", e.id);
            if let Some(master) = &e.series_master_id {
                e.series_master_id = renamed
                    .iter()
                    .find(|(old, _)| old == master)
                    .map(|(_, new)| new.clone());
            }
        }
        true
    }

    /// Makes every single appointment of a calendar an occurrence of one recurring series
    /// (as if staff had created them as a daily series); false when no calendar has that
    /// name.
    pub fn make_series(&self, name: &str) -> bool {
        let mut s = self.lock();
        let Some(cal) = s.calendar_named_mut(name) else {
            return false;
        };
        let master = format!("{}Series", cal.id);
        for e in cal
            .events
            .iter_mut()
            .filter(|e| e.event_type == "singleInstance")
        {
            e.event_type = "occurrence".into();
            e.series_master_id = Some(master.clone());
        }
        true
    }

    /// Gives the apps every mailbox (`None`) or limits them to these, as Exchange Online
    /// RBAC for Applications or an application access policy does.
    pub fn set_app_scope(&self, scope: Option<&[&str]>) {
        for t in &mut self.lock().tenants {
            t.app_scope = scope.map(|s| s.iter().map(|m| m.to_string()).collect());
        }
    }

    /// Keeps the apps out of these mailboxes, as an application access policy does.
    pub fn block_mailboxes(&self, mailboxes: &[&str]) {
        self.lock().blocked_mailboxes = mailboxes.iter().map(|m| m.to_string()).collect();
    }

    /// Registers a certificate (PEM) on every app, as uploading it under "Certificates &
    /// secrets" does.
    pub fn register_certificate(&self, pem: &str) {
        for t in &mut self.lock().tenants {
            for a in &mut t.apps {
                a.certificates.push(pem.to_owned());
            }
        }
    }

    /// Marks the registered certificates as outside their validity window (AADSTS1000502).
    pub fn set_certificates_expired(&self, expired: bool) {
        for t in &mut self.lock().tenants {
            for a in &mut t.apps {
                a.certificates_expired = expired;
            }
        }
    }

    /// Sets the EWS service accounts' rights: the ApplicationImpersonation role, and the
    /// mailboxes they have Full Access to (delegate access).
    pub fn set_service_account_rights(&self, impersonation: bool, full_access: &[&str]) {
        for t in &mut self.lock().tenants {
            for a in &mut t.service_accounts {
                a.impersonation = impersonation;
                a.full_access = full_access.iter().map(|m| m.to_string()).collect();
            }
        }
    }

    /// Marks the secrets of all apps as expired (AADSTS7000222) or valid again.
    pub fn set_secrets_expired(&self, expired: bool) {
        for t in &mut self.lock().tenants {
            for a in &mut t.apps {
                a.secret_expired = expired;
            }
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(entra::token))
            .nest("/v1.0", graph::routes(self.clone()))
            .route("/upload/{session}", axum::routing::put(files::upload_chunk))
            // EWS carries attachments inside the request: up to its 64 MB limit, and more
            // so that a larger request reaches the simulated limit's 413.
            .route(
                "/EWS/Exchange.asmx",
                post(ews::endpoint).layer(axum::extract::DefaultBodyLimit::max(
                    ews::REQUEST_LIMIT + 1024 * 1024,
                )),
            )
            .route("/_sim/state", get(control_state))
            .route("/_sim/faults", post(control_faults))
            .route("/_sim/events/{id}", patch(control_event))
            .route("/_sim/tokens/expire", post(control_expire_tokens))
            .route("/_sim/secrets/expired", post(control_secrets_expired))
            .route("/_sim/roles", post(control_roles))
            .route("/_sim/access-policy", post(control_access_policy))
            .route("/_sim/ews/forget-logons", post(control_forget_logons))
            .with_state(self.clone())
            // A 3 MB attachment is 4 MB of base64; upload chunks are up to 4 MB.
            .layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024))
    }

    /// Binds `addr` (use port 0 for any) and serves in the background.
    pub async fn spawn(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let _ = self.inner.base_url.set(format!("http://{local}"));
        tokio::spawn(self.clone().accept(listener, None));
        Ok(local)
    }

    /// As `spawn`, over TLS with `cert_pem` (the chain, leaf first) and `key_pem`; the base
    /// URL names `localhost`, which the certificate must too. For Extended Protection.
    pub async fn spawn_tls(
        &self,
        addr: SocketAddr,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> std::io::Result<SocketAddr> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let invalid = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(&e))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| invalid(&e))?;
        let binding = chain.first().map(|c| ntlm::channel_binding(c.as_ref()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(&e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| invalid(&e))?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let _ = self
            .inner
            .base_url
            .set(format!("https://localhost:{}", local.port()));
        let tls = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        tokio::spawn(self.clone().accept(listener, Some((tls, binding))));
        Ok(local)
    }

    /// Serves each connection with its own number (and, over TLS, its certificate's channel
    /// binding) on every request, so that EWS's NTLM can belong to the connection; its
    /// NTLM state goes when it closes.
    async fn accept(
        self,
        listener: tokio::net::TcpListener,
        tls: Option<(tokio_rustls::TlsAcceptor, Option<[u8; 16]>)>,
    ) {
        use hyper_util::rt::TokioIo;
        use tower::ServiceExt;
        let router = self.router();
        let mut next = 0u64;
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // (Out of descriptors, say: do not spin.)
                    tracing::warn!("simulator: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            next += 1;
            let (id, router, sim, tls) = (next, router.clone(), self.clone(), tls.clone());
            tokio::spawn(async move {
                let serve = |io, binding| {
                    let conn = ntlm::Conn { id, binding };
                    let service = hyper::service::service_fn(
                        move |mut req: axum::http::Request<hyper::body::Incoming>| {
                            req.extensions_mut().insert(conn);
                            router.clone().oneshot(req)
                        },
                    );
                    hyper::server::conn::http1::Builder::new().serve_connection(io, service)
                };
                let _ = match tls {
                    None => serve(TokioIo::new(Box::new(stream) as Box<dyn Io>), None).await,
                    Some((acceptor, binding)) => match acceptor.accept(stream).await {
                        Ok(s) => serve(TokioIo::new(Box::new(s) as Box<dyn Io>), binding).await,
                        Err(_) => return,
                    },
                };
                sim.lock().ews_logons.remove(&id);
            });
        }
    }

    /// One NTLM step on connection `conn` as the EWS endpoint takes it (`token` is the
    /// base64 after "NTLM "). For tests of a client's logon.
    pub fn ntlm_step(&self, conn: ntlm::Conn, token: &str) -> ntlm::Step {
        match ntlm::step(&mut self.lock(), conn, token) {
            Ok(_) => ntlm::Step::LoggedOn,
            Err(Some(answer)) => match answer.headers().get("www-authenticate") {
                Some(h) => ntlm::Step::Challenge(h.to_str().unwrap_or_default().to_owned()),
                None => ntlm::Step::Refused,
            },
            Err(None) => ntlm::Step::Refused,
        }
    }

    /// Forgets every NTLM logon, as a restarted server would: the next request on an
    /// authenticated connection is answered 401.
    pub fn forget_ews_logons(&self) {
        self.lock().ews_logons.clear();
    }
}

/// A connection's byte stream, plain or TLS.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

async fn control_state(AxState(sim): AxState<Simulator>) -> Json<serde_json::Value> {
    Json(sim.snapshot())
}

async fn control_faults(
    AxState(sim): AxState<Simulator>,
    Json(f): Json<Faults>,
) -> impl IntoResponse {
    sim.set_faults(f);
    axum::http::StatusCode::NO_CONTENT
}

#[derive(serde::Deserialize)]
struct SubjectBody {
    subject: String,
}

async fn control_event(
    AxState(sim): AxState<Simulator>,
    Path(id): Path<String>,
    Json(b): Json<SubjectBody>,
) -> Response {
    if sim.staff_set_subject(&id, &b.subject) {
        axum::http::StatusCode::NO_CONTENT.into_response()
    } else {
        axum::http::StatusCode::NOT_FOUND.into_response()
    }
}

async fn control_expire_tokens(AxState(sim): AxState<Simulator>) -> impl IntoResponse {
    sim.expire_tokens();
    axum::http::StatusCode::NO_CONTENT
}

async fn control_forget_logons(AxState(sim): AxState<Simulator>) -> impl IntoResponse {
    sim.forget_ews_logons();
    axum::http::StatusCode::NO_CONTENT
}

#[derive(serde::Deserialize)]
struct ExpiredBody {
    expired: bool,
}

async fn control_secrets_expired(
    AxState(sim): AxState<Simulator>,
    Json(b): Json<ExpiredBody>,
) -> impl IntoResponse {
    sim.set_secrets_expired(b.expired);
    axum::http::StatusCode::NO_CONTENT
}

async fn control_roles(
    AxState(sim): AxState<Simulator>,
    Json(roles): Json<Vec<String>>,
) -> impl IntoResponse {
    let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    sim.set_roles(&roles);
    axum::http::StatusCode::NO_CONTENT
}

#[derive(serde::Deserialize)]
struct PolicyBody {
    #[serde(default)]
    blocked: Vec<String>,
    /// `"tenant-wide"`, or the mailboxes the apps are limited to.
    #[serde(default)]
    scope: Option<serde_json::Value>,
}

async fn control_access_policy(
    AxState(sim): AxState<Simulator>,
    Json(b): Json<PolicyBody>,
) -> impl IntoResponse {
    let blocked: Vec<&str> = b.blocked.iter().map(String::as_str).collect();
    sim.block_mailboxes(&blocked);
    match &b.scope {
        Some(serde_json::Value::String(s)) if s == "tenant-wide" => sim.set_app_scope(None),
        Some(serde_json::Value::Array(list)) => {
            let list: Vec<&str> = list.iter().filter_map(|v| v.as_str()).collect();
            sim.set_app_scope(Some(&list));
        }
        _ => {}
    }
    axum::http::StatusCode::NO_CONTENT
}
