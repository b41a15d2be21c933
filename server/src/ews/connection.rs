//! EWS's HTTP: connections Booket opens and keeps itself, because NTLM authenticates a
//! connection, not a request. Each session is one HTTP/1.1 keep-alive connection that logged
//! on once (negotiate → challenge → authenticate, the last one carrying the first real
//! request) and is then used for one request at a time; idle sessions wait in a small pool
//! (at most as many as the mailbox's requests in flight). A session the server has
//! forgotten answers 401: it is dropped and the request goes again on a fresh logon (a 401 is
//! answered before EWS does anything, so even a write is safe to send again); a request that
//! could not be handed to an idle connection (closed meanwhile) goes on a new one. Basic
//! sends its header on every request over the same kind of pooled connections.
//!
//! Over TLS the server's certificate is checked against the web's roots plus
//! `ews_ca_file`, and its `tls-server-end-point` binding goes into the NTLM logon
//! (Extended Protection). No redirects are followed; connecting has 5 s, an answer 60 s to
//! begin and 60 s more to arrive, and may be at most 32 MB.
//!
//! (About 580 lines: logon, pooling, retries and TLS are one connection's life, with tests.)

use super::ntlm;
use crate::config::{EwsAccount, EwsAuth};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use secrecy::ExposeSecret;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const ANSWER_LIMIT: usize = 32 * 1024 * 1024;

/// What a request's body goes out as: one buffer (every ordinary request), or a file's
/// base64 streamed between the envelope's text a chunk at a time (CreateAttachment), so a
/// large file is never in memory whole — neither its bytes nor its base64 nor the SOAP
/// around it. A body is made anew for each attempt (a logon may have to be redone).
pub enum RequestBody {
    Whole(Bytes),
    Streamed {
        head: Bytes,
        file: Arc<dyn crate::mailbox::AttachmentBody + Send>,
        tail: Bytes,
    },
}

/// Raw bytes read per streamed chunk: a multiple of 3, so the chunks' base64 put together
/// is the whole file's (padding only at its end).
const STREAM_CHUNK: usize = 3 * 64 * 1024;

type Body = BoxBody<Bytes, std::io::Error>;

impl RequestBody {
    /// The body's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            RequestBody::Whole(b) => b.len(),
            RequestBody::Streamed { head, file, tail } => {
                head.len() + file.size().div_ceil(3) * 4 + tail.len()
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn body(&self) -> Body {
        use base64::Engine;
        use futures::StreamExt;
        use hyper::body::Frame;
        match self {
            RequestBody::Whole(b) => Full::new(b.clone()).map_err(|never| match never {}).boxed(),
            RequestBody::Streamed { head, file, tail } => {
                let size = file.size();
                let file = file.clone();
                // Read off the async workers, one chunk ahead of the connection at most.
                let chunks = futures::stream::unfold(0usize, move |offset| {
                    let file = file.clone();
                    async move {
                        if offset >= size {
                            return None;
                        }
                        let len = STREAM_CHUNK.min(size - offset);
                        let read = tokio::task::spawn_blocking(move || file.read(offset, len))
                            .await
                            .map_err(std::io::Error::other)
                            .and_then(|r| r);
                        Some(match read {
                            Ok(bytes) => (
                                Ok(Bytes::from(
                                    base64::engine::general_purpose::STANDARD.encode(bytes),
                                )),
                                offset + len,
                            ),
                            // Stops after the error.
                            Err(e) => (Err(e), usize::MAX),
                        })
                    }
                });
                let parts = futures::stream::once(futures::future::ready(Ok(head.clone())))
                    .chain(chunks)
                    .chain(futures::stream::once(futures::future::ready(Ok(
                        tail.clone()
                    ))))
                    .map(|r| r.map(Frame::data));
                BodyExt::boxed(StreamBody::new(parts))
            }
        }
    }
}

/// An HTTP answer from EWS.
pub struct Reply {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Connecting, TLS or the exchange itself failed (the text says why).
    #[error("{0}")]
    Failed(String),
    /// The failure happened before the request left: it was not carried out.
    #[error("{0}")]
    NotSent(String),
    /// 401 to a logon of this kind (`offered`: the schemes the server named).
    #[error("logon refused")]
    Refused { offered: Vec<String> },
}

/// The service account's logon. The NTLM password stays a secret until the moment an
/// authenticate message is computed (`ntlmclient::Credentials` would print it in its
/// `Debug`).
enum Logon {
    Basic(HeaderValue),
    Ntlm {
        username: String,
        domain: Option<String>,
        password: secrecy::SecretString,
    },
}

impl std::fmt::Debug for Logon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Logon::Basic(_) => f.write_str("Basic([redacted])"),
            Logon::Ntlm {
                username, domain, ..
            } => f
                .debug_struct("Ntlm")
                .field("username", username)
                .field("domain", domain)
                .field("password", &"[redacted]")
                .finish(),
        }
    }
}

/// One connection, logged on (NTLM) or not needing it (Basic).
struct Session {
    send: SendRequest<Body>,
}

/// The connections to one EWS endpoint as one service account.
pub struct Connections {
    uri: hyper::Uri,
    host: String,
    port: u16,
    authority: String,
    tls: Option<tokio_rustls::TlsConnector>,
    logon: Logon,
    idle: Mutex<Vec<Session>>,
    keep: usize,
    logons: AtomicU64,
    /// Counts logons for `/metrics`, when set.
    logon_metric: Option<prometheus::IntCounter>,
}

impl Connections {
    /// `keep`: how many idle sessions to keep (the mailbox's requests in flight).
    pub fn new(account: &EwsAccount, keep: usize) -> Result<Self, String> {
        let url = url::Url::parse(&account.url).map_err(|e| e.to_string())?;
        let host = url.host_str().ok_or("ews_url has no host")?.to_owned();
        let https = url.scheme() == "https";
        let port = url.port_or_known_default().unwrap_or(443);
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let uri = path
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| e.to_string())?;
        let tls = https
            .then(|| tls_connector(&account.extra_roots))
            .transpose()?;
        let logon = match account.auth {
            EwsAuth::Basic => {
                use base64::Engine;
                let user = match &account.domain {
                    Some(d) => format!("{d}\\{}", account.username),
                    None => account.username.clone(),
                };
                let password = account.password.expose_secret();
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                let mut value = HeaderValue::from_str(&format!("Basic {token}"))
                    .map_err(|_| "the user name or password cannot travel in a header")?;
                value.set_sensitive(true);
                Logon::Basic(value)
            }
            EwsAuth::Ntlm => Logon::Ntlm {
                username: account.username.clone(),
                domain: account.domain.clone(),
                password: account.password.clone(),
            },
        };
        Ok(Connections {
            uri,
            host,
            port,
            authority,
            tls,
            logon,
            idle: Mutex::new(Vec::new()),
            keep: keep.max(1),
            logons: AtomicU64::new(0),
            logon_metric: None,
        })
    }

    /// Counts every logon in `counter` too.
    pub fn count_logons(&mut self, counter: prometheus::IntCounter) {
        self.logon_metric = Some(counter);
    }

    /// How many logons (new authenticated connections) this account has made.
    pub fn logons(&self) -> u64 {
        self.logons.load(Ordering::Relaxed)
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// POSTs one SOAP request; the answer whatever its status, except a refused logon.
    pub async fn post(&self, anchor: &str, body: &RequestBody) -> Result<Reply, TransportError> {
        let mut relogged = false;
        loop {
            // After a forgotten logon, a new connection (the idle ones may be forgotten too).
            let idle = if relogged { None } else { self.take_idle() };
            let reused = idle.is_some();
            let (mut session, auth) = match idle {
                Some(s) => (s, self.basic()),
                None => self.open().await?,
            };
            let mut req = Request::post(self.uri.clone())
                .header(hyper::header::HOST, &self.authority)
                .header(hyper::header::CONTENT_TYPE, "text/xml; charset=utf-8")
                .header(
                    hyper::header::USER_AGENT,
                    concat!("booket/", env!("CARGO_PKG_VERSION")),
                )
                .header("X-AnchorMailbox", anchor)
                .header(hyper::header::CONTENT_LENGTH, body.len())
                .body(body.body())
                .map_err(|e| TransportError::NotSent(e.to_string()))?;
            if let Some(auth) = auth {
                req.headers_mut().insert(AUTHORIZATION, auth);
            }
            let sent = tokio::time::timeout(REQUEST_TIMEOUT, session.send.try_send_request(req));
            let response = match sent.await {
                Err(_) => return Err(TransportError::Failed("no answer within 60 s".into())),
                Ok(Ok(r)) => r,
                // Handed to a connection that had closed meanwhile: never sent; again on
                // a new one.
                Ok(Err(mut e)) => {
                    if reused && e.take_message().is_some() {
                        continue;
                    }
                    return Err(TransportError::Failed(with_causes(e.error())));
                }
            };
            let status = response.status();
            let offered = offered(response.headers());
            let retry_after = crate::exchange::parse_retry_after(
                response.headers().get(hyper::header::RETRY_AFTER),
                std::time::SystemTime::now(),
            );
            let keep_alive = !response
                .headers()
                .get(hyper::header::CONNECTION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
            let read = Limited::new(response.into_body(), ANSWER_LIMIT).collect();
            let body = match tokio::time::timeout(REQUEST_TIMEOUT, read).await {
                Ok(Ok(b)) => b.to_bytes(),
                Ok(Err(e)) => {
                    return Err(TransportError::Failed(format!("reading the answer: {e}")))
                }
                Err(_) => return Err(TransportError::Failed("no answer within 60 s".into())),
            };
            if status == StatusCode::UNAUTHORIZED {
                // An NTLM session the server has forgotten (it restarted, or its logon
                // lapsed): log on again once. A 401 is given before EWS does anything.
                if reused && !relogged && matches!(self.logon, Logon::Ntlm { .. }) {
                    relogged = true;
                    continue;
                }
                return Err(TransportError::Refused { offered });
            }
            if keep_alive {
                self.put_back(session);
            }
            return Ok(Reply {
                status,
                retry_after,
                body,
            });
        }
    }

    fn basic(&self) -> Option<HeaderValue> {
        match &self.logon {
            Logon::Basic(h) => Some(h.clone()),
            Logon::Ntlm { .. } => None,
        }
    }

    fn take_idle(&self) -> Option<Session> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(s) = idle.pop() {
            if !s.send.is_closed() {
                return Some(s);
            }
        }
        None
    }

    fn put_back(&self, session: Session) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.keep {
            idle.push(session);
        }
    }

    /// A new connection, logged on: with NTLM the negotiate/challenge exchange is done and
    /// the returned header (authenticate) goes with the first request; Basic's header goes
    /// with every request.
    async fn open(&self) -> Result<(Session, Option<HeaderValue>), TransportError> {
        let (mut send, binding) = self.connect().await?;
        let (username, domain, password) = match &self.logon {
            Logon::Basic(h) => return Ok((Session { send }, Some(h.clone()))),
            Logon::Ntlm {
                username,
                domain,
                password,
            } => (username, domain, password),
        };
        let hello = Request::post(self.uri.clone())
            .header(hyper::header::HOST, &self.authority)
            .header(hyper::header::CONTENT_LENGTH, "0")
            .header(AUTHORIZATION, ntlm::negotiate())
            .body(RequestBody::Whole(Bytes::new()).body())
            .map_err(|e| TransportError::NotSent(e.to_string()))?;
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, send.send_request(hello))
            .await
            .map_err(|_| {
                TransportError::NotSent("no answer to the NTLM negotiation within 60 s".into())
            })?
            .map_err(|e| TransportError::NotSent(with_causes(&e)))?;
        let status = answer.status();
        let headers = answer.headers().clone();
        // Read (and drop) the 401's body so that the connection can carry the next request.
        let _ = Limited::new(answer.into_body(), 64 * 1024).collect().await;
        if status != StatusCode::UNAUTHORIZED {
            // Not an answer to the logon (503 while Exchange restarts, say): nothing was
            // carried out, and the caller may try again.
            return Err(TransportError::NotSent(format!(
                "EWS answered HTTP {} to the NTLM negotiation",
                status.as_u16()
            )));
        }
        let values = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let Some(challenge) = ntlm::challenge(values) else {
            return Err(TransportError::Refused {
                offered: offered(&headers),
            });
        };
        // The password in the clear only for this computation.
        let creds = ntlm::credentials(username, domain.as_deref(), password.expose_secret());
        let header = ntlm::authenticate(
            &challenge,
            &creds,
            binding,
            &self.host,
            ntlm::ntlm_time(chrono::Utc::now()),
        )
        .ok_or_else(|| TransportError::Failed("the server's NTLM challenge is too large".into()))?;
        self.logons.fetch_add(1, Ordering::Relaxed);
        if let Some(c) = &self.logon_metric {
            c.inc();
        }
        let header =
            HeaderValue::from_str(&header).map_err(|e| TransportError::NotSent(e.to_string()))?;
        Ok((Session { send }, Some(header)))
    }

    /// A TCP (and TLS) connection with hyper's HTTP/1.1 on it, and the channel binding of
    /// the certificate it was made to.
    async fn connect(&self) -> Result<(SendRequest<Body>, Option<[u8; 16]>), TransportError> {
        let failed = |e: &dyn std::error::Error| TransportError::NotSent(with_causes(e));
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect((self.host.trim_matches(['[', ']']), self.port)),
        )
        .await
        .map_err(|_| {
            TransportError::NotSent(format!("no connection to {} within 5 s", self.authority))
        })?
        .map_err(|e| failed(&e))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok((handshake(tcp).await?, None)),
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(
                    self.host.trim_matches(['[', ']']).to_owned(),
                )
                .map_err(|e| failed(&e))?;
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(name, tcp))
                    .await
                    .map_err(|_| TransportError::NotSent("no TLS handshake within 5 s".into()))?
                    .map_err(|e| failed(&e))?;
                let binding = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| ntlm::channel_binding(c.as_ref()));
                Ok((handshake(stream).await?, binding))
            }
        }
    }
}

/// HTTP/1.1 on `io`, its connection driven in the background until either side closes.
async fn handshake<T>(io: T) -> Result<SendRequest<Body>, TransportError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| TransportError::NotSent(with_causes(&e)))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

/// The schemes a 401 names (`NTLM`, `Negotiate`, `Basic`), without their tokens.
fn offered(headers: &hyper::HeaderMap) -> Vec<String> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// TLS with the web's roots (as reqwest has them) and the organisation's own.
fn tls_connector(extra_roots: &[Vec<u8>]) -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in extra_roots {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| format!("ews_ca_file: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// An error with its causes ("…: invalid peer certificate: UnknownIssuer").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("authority", &self.authority)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::{Logon, RequestBody};

    #[tokio::test]
    async fn a_streamed_body_is_the_whole_envelope_a_chunk_at_a_time() {
        use base64::Engine;
        use http_body_util::BodyExt;
        for size in [
            0,
            1,
            2,
            3,
            super::STREAM_CHUNK - 1,
            super::STREAM_CHUNK,
            1_000_001,
        ] {
            let file: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            let body = RequestBody::Streamed {
                head: "<head>".into(),
                file: std::sync::Arc::new(file.clone()),
                tail: "</tail>".into(),
            };
            let mut frames = 0;
            let mut sent = Vec::new();
            let mut stream = body.body();
            while let Some(frame) = stream.frame().await {
                frames += 1;
                sent.extend_from_slice(&frame.unwrap().into_data().unwrap());
            }
            let whole = format!(
                "<head>{}</tail>",
                base64::engine::general_purpose::STANDARD.encode(&file)
            );
            assert_eq!(sent, whole.as_bytes(), "size {size}");
            assert_eq!(body.len(), whole.len(), "size {size}");
            // Head, one frame per chunk of the file, tail: never the file in one piece.
            assert_eq!(
                frames,
                2 + size.div_ceil(super::STREAM_CHUNK),
                "size {size}"
            );
        }
    }

    #[test]
    fn the_ntlm_logon_never_shows_its_password() {
        let logon = Logon::Ntlm {
            username: "svc-booket".into(),
            domain: Some("DEMO".into()),
            password: "Sekret-Ord-123".into(),
        };
        let shown = format!("{logon:?} {logon:#?}");
        assert!(
            shown.contains("svc-booket") && shown.contains("[redacted]"),
            "{shown}"
        );
        assert!(!shown.contains("Sekret-Ord-123"), "{shown}");
    }
}
