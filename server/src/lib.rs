//! Booket's server: configuration, the Exchange clients (Graph and EWS), the booking core
//! behind the server functions, `booket check`, and (with the `sim` feature) the demo.

pub mod booking;
pub mod check;
pub mod config;
#[cfg(feature = "sim")]
pub mod demo;
pub mod der;
pub mod ews;
pub mod exchange;
pub mod graph;
pub mod mail;
pub mod mailbox;
pub mod metrics;
pub mod receipts;
pub mod signing;
pub mod store;
/// The Exchange simulator (crate `booket-sim`), with the `sim` feature (the default).
#[cfg(feature = "sim")]
pub use booket_sim as sim;
pub mod summary;
pub mod web;

use booking::{Booket, Clock, SlotSigner};
use config::Config;
use graph::{GraphClient, GraphOptions};
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A server ready to serve: its listener, router and backend.
pub struct Server {
    pub listener: tokio::net::TcpListener,
    /// The private listener: `/metrics`, `/healthz`, `/readyz` (`private_listen`).
    pub private_listener: Option<tokio::net::TcpListener>,
    header_timeout: std::time::Duration,
    shutdown_grace: std::time::Duration,
    /// Open connections at most; past it a new one is refused at once (503).
    max_connections: usize,
    connections_open: prometheus::IntGauge,
    connections_refused: prometheus::IntCounter,
    pub router: web::PublicService,
    pub booket: Arc<Booket>,
}

/// What `booket demo` adds to a server: the simulator it books in (its pages, the designer
/// preview's drafts, a random slot key). Without the `sim` feature there is no demo, and
/// this type has no values.
#[cfg(feature = "sim")]
pub type Demo = sim::Simulator;
#[cfg(not(feature = "sim"))]
pub enum Demo {}

impl Server {
    /// Builds the backend and router from a validated configuration and binds the listener
    /// (`listen` overrides the configured address, e.g. port 0 in tests).
    pub async fn build(
        config: Config,
        listen: Option<SocketAddr>,
        assets: PathBuf,
        clock: Clock,
        demo: Option<Demo>,
    ) -> anyhow::Result<Server> {
        app::api::register_server_fns();
        let mut config = config;
        let listener =
            tokio::net::TcpListener::bind(listen.unwrap_or(config.server.listen)).await?;
        if !config.server.public_url_configured {
            // Without a public URL, Booket's own origin is the address it listens on.
            config.server.public_url = format!("http://{}", listener.local_addr()?);
        }
        let config = Arc::new(config);
        let metrics = metrics::Metrics::default();
        // Several instances share one store, and Exchange's limits among them.
        let store = match &config.store {
            Some(s) => {
                store::Store::shared(s.url.expose_secret(), s.lease, config.exchange.retry_budget)?
            }
            None => store::Store::in_process(),
        };
        let share = match store.shared_handle() {
            Some(shared) => {
                exchange::gate::Share::across(shared.instances(), Arc::new(InFlightAcross(shared)))
            }
            None => exchange::gate::Share::alone(),
        };
        let graph = Arc::new(
            GraphClient::new(GraphOptions {
                graph_base_url: config.exchange.graph_base_url.clone(),
                login_base_url: config.exchange.login_base_url.clone(),
                scope: config.exchange.graph_scope.clone(),
                max_concurrency: config.exchange.max_concurrency,
                retry_budget: config.exchange.retry_budget,
            })?
            .with_metrics(metrics.clone())
            .with_share(share.clone()),
        );
        let signer = match &config.server.slot_key {
            Some(k) => {
                let previous: Vec<&[u8]> = config
                    .server
                    .previous_slot_keys
                    .iter()
                    .map(|k| k.expose_secret().as_bytes())
                    .collect();
                SlotSigner::rotated(k.expose_secret().as_bytes(), &previous)
            }
            // The demo signs with a random key; a real server must be given one, or ids
            // would change at every restart and differ between instances.
            None if demo.is_some() => SlotSigner::random(),
            None => anyhow::bail!(
                "[server] slot_key: is required for booket serve (at least 32 bytes, the same \
                 on every instance), e.g. slot_key = {{ env = \"BOOKET_SLOT_KEY\" }}"
            ),
        };
        let mailboxes = booking::Mailboxes {
            calendars: config
                .calendars
                .iter()
                .map(|cal| {
                    let mailbox: Arc<dyn mailbox::Mailbox> = match &cal.access {
                        config::CalendarAccess::Graph(app) => Arc::new(graph::GraphMailbox::new(
                            graph.clone(),
                            app.clone(),
                            &cal.owner,
                            config.exchange.if_match_honoured,
                        )),
                        config::CalendarAccess::Ews(account) => {
                            let client = ews::EwsClient::new(
                                account.clone(),
                                config.exchange.max_concurrency,
                                config.exchange.retry_budget,
                            )?
                            .with_metrics(metrics.clone())
                            .with_share(share.clone());
                            Arc::new(ews::EwsMailbox::new(Arc::new(client), &cal.owner))
                        }
                    };
                    Ok((cal.name.clone(), mailbox))
                })
                .collect::<anyhow::Result<_>>()?,
            mail: match (&config.mail, config.mail.credentials()) {
                (config::MailConfig::Graph { user, .. }, Some(creds)) => Some(Arc::new(
                    graph::GraphMailbox::new(graph.clone(), creds, user, true),
                )),
                (config::MailConfig::Ews { account, user, .. }, _) => {
                    let client = ews::EwsClient::new(
                        account.clone(),
                        config.exchange.max_concurrency,
                        config.exchange.retry_budget,
                    )?
                    .with_metrics(metrics.clone())
                    .with_share(share.clone());
                    Some(Arc::new(ews::EwsMailbox::new(Arc::new(client), user)))
                }
                _ => None,
            },
        };
        let mut booket = Booket::new((&*config).into(), mailboxes, signer, clock, metrics.clone());
        match &config.receipts.signing_key {
            Some(key) => {
                booket = booket.with_receipt_signer(receipts::ReceiptSigner::new(
                    key,
                    &config.receipts.previous_keys,
                    &config.server.public_url,
                    config.receipts.lifetime,
                )?);
            }
            // Unsigned receipts would let a citizen type a booking into the hidden input.
            None if demo.is_none() => anyhow::bail!(
                "[receipts] signing_key: is required for booket serve (a P-256 key in PKCS#8 \
                 PEM, e.g. `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`), \
                 e.g. signing_key = {{ file = \"/run/credentials/booket.service/receipt-key\" }}"
            ),
            None => {}
        }
        // The demo's designer preview serves draft elements.
        #[cfg(feature = "sim")]
        let drafts = demo
            .as_ref()
            .map(|_| Arc::new(demo::drafts::Drafts::default()));
        #[cfg(feature = "sim")]
        if let Some(d) = &drafts {
            booket = booket.with_element_source(d.clone());
        }
        booket = booket.with_store(store);
        let booket = Arc::new(booket);
        booket.clone().spawn_listener();
        if !config.exchange.hold_sweep.is_zero() {
            booket.clone().spawn_sweeper(config.exchange.hold_sweep);
        }
        let (connections_open, connections_refused) = (
            metrics.connections_open.clone(),
            metrics.connections_refused.clone(),
        );
        let state = web::AppState::new(booket.clone(), config.clone(), metrics);
        #[cfg(feature = "sim")]
        let pages = demo.zip(drafts).map(|(sim, drafts)| {
            demo::DemoPages {
                sim,
                config: config.clone(),
                booket: booket.clone(),
                drafts,
                assets: assets.clone(),
            }
            .router()
        });
        #[cfg(not(feature = "sim"))]
        let pages = demo.map(|never| match never {});
        let router = web::router(state, assets, pages);
        let private_listener = match config.server.private_listen {
            Some(addr) => Some(tokio::net::TcpListener::bind(addr).await?),
            None => None,
        };
        Ok(Server {
            private_listener,
            listener,
            header_timeout: config.server.header_timeout,
            shutdown_grace: config.server.shutdown_grace,
            max_connections: config.server.max_connections,
            connections_open,
            connections_refused,
            router,
            booket,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the process ends or `shutdown` resolves.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use hyper_util::rt::{TokioIo, TokioTimer};
        let draining = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Some(listener) = self.private_listener {
            let router = web::private_router(self.booket.clone(), draining.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!("the private listener stopped: {e}");
                }
            });
        }
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(v) => v,
                    Err(e) => {
                        // Out of file descriptors and the like: pass, and try again.
                        tracing::warn!("accepting a connection failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            // Every connection holds a socket, a task and its buffers until it closes: past
            // `max_connections` a new one is told so at once and closed, and counted.
            let open = self.connections_open.clone();
            if open.get() >= self.max_connections as i64 {
                self.connections_refused.inc();
                tokio::spawn(refuse_connection(stream));
                continue;
            }
            open.inc();
            let _ = stream.set_nodelay(true);
            // The peer address feeds the per-client budgets, as axum's ConnectInfo.
            let service = tower::ServiceBuilder::new()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    req.map(axum::body::Body::new)
                })
                .service(self.router.clone());
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                // A client that does not finish its headers in time is cut off (slowloris).
                .header_read_timeout(self.header_timeout)
                // One copy of the stack per connection, not per request (web/connection.rs).
                .serve_connection(
                    TokioIo::new(stream),
                    web::connection::PerConnection::new(service),
                );
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!("connection ended: {e}");
                }
                open.dec();
            });
        }
        // No new connections (the port is closed at once), /readyz says so, idle keep-alive
        // connections close, and requests under way — a booking between two of its writes —
        // may finish within the grace period. Past it the process ends anyway; a booking cut
        // off there is left as any interrupted one (its hold lapses, its files are swept).
        draining.store(true, std::sync::atomic::Ordering::SeqCst);
        drop(self.listener);
        tracing::info!(grace = ?self.shutdown_grace, "shutting down: finishing requests under way");
        match tokio::time::timeout(self.shutdown_grace, graceful.shutdown()).await {
            Ok(()) => {
                tracing::info!("shut down cleanly");
                Ok(())
            }
            Err(_) => {
                tracing::warn!("requests were still under way when the grace period ended");
                Err(std::io::Error::other(
                    "shutdown grace period ended with requests under way",
                ))
            }
        }
    }
}

/// The answer to a connection over `max_connections`: 503 with `Retry-After`, in the
/// widget's error shape, then closed. Written without reading the request (whatever the
/// client sends is dropped with the socket); a client too slow to take it is not waited
/// for.
async fn refuse_connection(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    const BODY: &str = r#"{"error":"unavailable"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\ncache-control: no-store\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let write = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), write).await;
}

/// Exchange's places in flight, counted in the shared store for every instance.
struct InFlightAcross(Arc<store::Shared>);

#[async_trait::async_trait]
impl exchange::gate::Across for InFlightAcross {
    async fn take(&self, name: &str, places: usize) -> Result<Option<exchange::gate::Ticket>, ()> {
        match self.0.clone().take_in_flight(name, places).await {
            Ok(place) => Ok(place.map(exchange::gate::Ticket::new)),
            Err(e) => {
                tracing::debug!("places in flight not counted across instances: {e}");
                Err(())
            }
        }
    }
}
