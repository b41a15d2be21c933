//! Sending Graph requests (the transport): at most N in flight per app (beyond that a
//! queue that serves writes before reads, `gate.rs`), 429/503/504 retried by the one policy of `retry.rs` (`Retry-After`
//! honoured, within a total budget), one token refresh on 401, pages followed. The calls
//! themselves are in `calendar.rs`, `attachments.rs` and `mail.rs`.
//!
//! (About 575 lines, the error-mapping, Retry-After and queue-deadline tests included.)

use super::auth::{parse_token, token_form, AppCredentials, TokenCache};
use super::error::GraphError;
use super::wire::Page;
use crate::exchange::gate::{Class, Gate, Permit};
use crate::exchange::parse_retry_after;
use crate::exchange::retry::{retrying, Failure, MAX_ATTEMPTS};
use reqwest::header::{HeaderValue, AUTHORIZATION, IF_MATCH, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Settings of the client (from `[exchange]`).
#[derive(Debug, Clone)]
pub struct GraphOptions {
    /// e.g. `https://graph.microsoft.com/v1.0`
    pub graph_base_url: String,
    /// e.g. `https://login.microsoftonline.com`
    pub login_base_url: String,
    /// The resource tokens are asked for, e.g. `https://graph.microsoft.com/.default`
    /// (`[exchange] graph_scope`; not derived from `graph_base_url`, which may be a gateway).
    pub scope: String,
    pub max_concurrency: usize,
    pub retry_budget: Duration,
}

pub struct GraphClient {
    pub(super) http: reqwest::Client,
    /// When it is and how to wait (injected in tests).
    pub(super) timer: Arc<dyn crate::exchange::timer::Timer>,
    pub(super) opts: GraphOptions,
    scope: String,
    tokens: TokenCache,
    gates: Mutex<HashMap<String, Gate>>,
    /// The instances sharing each app's places in flight.
    share: crate::exchange::gate::Share,
    metrics: Option<crate::metrics::Metrics>,
}

/// One request before sending. `url` is absolute.
pub(super) struct Req {
    pub(super) method: Method,
    pub(super) url: String,
    pub(super) if_match: Option<String>,
    pub(super) json: Option<serde_json::Value>,
    /// Safe to resend after a transport error (reads; writes guarded by If-Match are not,
    /// since a lost success would come back as a conflict).
    pub(super) replayable: bool,
}

impl GraphClient {
    pub fn new(opts: GraphOptions) -> Result<Self, GraphError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("booket/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GraphError::Transport {
                what: "the HTTP client",
                message: e.to_string(),
            })?;
        Ok(GraphClient {
            http,
            timer: Arc::new(crate::exchange::timer::TokioTimer),
            scope: opts.scope.clone(),
            opts,
            tokens: TokenCache::default(),
            gates: Mutex::new(HashMap::new()),
            share: crate::exchange::gate::Share::alone(),
            metrics: None,
        })
    }

    /// Shares each app's places in flight with the instances `share` counts.
    pub fn with_share(mut self, share: crate::exchange::gate::Share) -> Self {
        self.share = share;
        self
    }

    /// Uses `timer` for the time and for every wait (retries, back-off, token renewal).
    pub fn with_timer(mut self, timer: Arc<dyn crate::exchange::timer::Timer>) -> Self {
        self.timer = timer;
        self
    }

    /// Counts Graph requests, throttles and retries in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn observe(&self, status: u16, retried: bool) {
        if let Some(m) = &self.metrics {
            m.graph_calls
                .with_label_values(&[&status.to_string()])
                .inc();
            if status == 429 {
                m.graph_throttled.inc();
            }
            if retried {
                m.graph_retries.inc();
            }
        }
    }

    /// A place among the app's requests in flight, waited for no longer than what is left
    /// of the retry budget counted from `started`: in a crowd no request queues without
    /// bound, and one that gives up has sent nothing.
    pub(super) async fn place(
        &self,
        client_id: &str,
        class: Class,
        started: tokio::time::Instant,
    ) -> Result<Permit, Failure<GraphError>> {
        let gate = self.gate(client_id);
        if let Some(permit) = gate.try_acquire() {
            return Ok(permit);
        }
        let left = self
            .opts
            .retry_budget
            .saturating_sub(self.timer.now().saturating_duration_since(started));
        tokio::select! {
            biased;
            permit = gate.acquire(class) => Ok(permit),
            () = self.timer.sleep(left) => Err(Failure::Final(GraphError::Queued)),
        }
    }

    pub(super) fn gate(&self, client_id: &str) -> Gate {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates
            .entry(client_id.to_owned())
            .or_insert_with(|| {
                Gate::shared(
                    &format!("graph:{client_id}"),
                    self.opts.max_concurrency,
                    self.share.clone(),
                )
            })
            .clone()
    }

    /// A valid token for the app, fetched at most once at a time.
    pub async fn token(&self, creds: &AppCredentials) -> Result<SecretString, GraphError> {
        let slot = self.tokens.slot(creds);
        let mut current = slot.lock().await;
        if let Some(t) = current.as_ref() {
            if self.timer.now() < t.refresh_at {
                return Ok(t.value.clone());
            }
        }
        match self.fetch_token(creds).await {
            Ok(t) => {
                let v = t.value.clone();
                *current = Some(t);
                Ok(v)
            }
            // Renewal failed for a passing reason: keep using the old token while it lives.
            Err(e) if e.is_transient() => match current.as_ref() {
                Some(t) if self.timer.now() < t.expires_at => Ok(t.value.clone()),
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn invalidate_token(&self, creds: &AppCredentials, used: &SecretString) {
        let slot = self.tokens.slot(creds);
        let mut current = slot.lock().await;
        if current
            .as_ref()
            .is_some_and(|t| t.value.expose_secret() == used.expose_secret())
        {
            *current = None;
        }
    }

    async fn fetch_token(&self, creds: &AppCredentials) -> Result<super::auth::Token, GraphError> {
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.opts.login_base_url,
            encode_segment(&creds.tenant_id)
        );
        let url = &url;
        retrying(&self.timer, self.opts.retry_budget, 3, move || async move {
            // A fresh form each try: a client assertion is single-use.
            let form = token_form(creds, &self.scope, url).map_err(Failure::Final)?;
            let again = |error| Failure::Again {
                error,
                retry_after: None,
            };
            let r = self
                .http
                .post(url)
                .form(&form)
                .send()
                .await
                .map_err(|e| again(transport("the token endpoint", &e)))?;
            let status = r.status().as_u16();
            let retry_after = parse_retry_after(r.headers().get(RETRY_AFTER), SystemTime::now());
            let body = r
                .bytes()
                .await
                .map_err(|e| again(transport("the token endpoint", &e)))?;
            parse_token(status, &body, self.timer.now()).map_err(|error| {
                if error.is_transient() {
                    Failure::Again { error, retry_after }
                } else {
                    Failure::Final(error)
                }
            })
        })
        .await
    }

    /// Sends a request with the app's token, under its concurrency gate, with the retry
    /// policy (`retry.rs`); a 401 renews the token once.
    pub(super) async fn send(
        &self,
        creds: &AppCredentials,
        req: Req,
    ) -> Result<bytes::Bytes, GraphError> {
        let refreshed = &AtomicBool::new(false);
        let tries = &AtomicU32::new(0);
        let req = &req;
        let started = self.timer.now();
        retrying(
            &self.timer,
            self.opts.retry_budget,
            MAX_ATTEMPTS,
            move || async move {
                let retried = tries.fetch_add(1, Ordering::Relaxed) > 0;
                let token = self.token(creds).await.map_err(Failure::Final)?;
                let outcome = {
                    let class = if req.method == Method::GET {
                        Class::Read
                    } else {
                        Class::Write
                    };
                    let _permit = self.place(&creds.client_id, class, started).await?;
                    let mut b = self
                        .http
                        .request(req.method.clone(), &req.url)
                        .header(AUTHORIZATION, format!("Bearer {}", token.expose_secret()))
                        .header("Prefer", "IdType=\"ImmutableId\", outlook.timezone=\"UTC\"");
                    if let Some(m) = &req.if_match {
                        if let Ok(v) = HeaderValue::from_str(m) {
                            b = b.header(IF_MATCH, v);
                        }
                    }
                    if let Some(j) = &req.json {
                        b = b.json(j);
                    }
                    match b.send().await {
                        Ok(r) => {
                            let status = r.status();
                            let headers = r.headers().clone();
                            r.bytes().await.map(|body| (status, headers, body))
                        }
                        Err(e) => Err(e),
                    }
                };
                self.observe(
                    outcome.as_ref().map(|(s, _, _)| s.as_u16()).unwrap_or(0),
                    retried,
                );
                match outcome {
                    Err(e) => {
                        let error = transport("Microsoft Graph", &e);
                        if req.replayable {
                            tracing::warn!("Graph transport error: {e}");
                            Err(Failure::Again {
                                error,
                                retry_after: None,
                            })
                        } else {
                            Err(Failure::Final(error))
                        }
                    }
                    Ok((status, _, body)) if status.is_success() => Ok(body),
                    Ok((StatusCode::UNAUTHORIZED, _, body))
                        if !refreshed.swap(true, Ordering::Relaxed) =>
                    {
                        self.invalidate_token(creds, &token).await;
                        Err(Failure::Again {
                            error: map_error(StatusCode::UNAUTHORIZED, &body),
                            retry_after: Some(Duration::ZERO),
                        })
                    }
                    Ok((status, headers, _)) if matches!(status.as_u16(), 429 | 503 | 504) => {
                        let retry_after =
                            parse_retry_after(headers.get(RETRY_AFTER), SystemTime::now());
                        tracing::debug!(
                            status = status.as_u16(),
                            ?retry_after,
                            "Graph asked us to wait"
                        );
                        let error = if status == StatusCode::TOO_MANY_REQUESTS {
                            GraphError::Throttled { retry_after }
                        } else {
                            GraphError::Unavailable {
                                status: status.as_u16(),
                            }
                        };
                        Err(Failure::Again { error, retry_after })
                    }
                    Ok((status, _, body)) => Err(Failure::Final(map_error(status, &body))),
                }
            },
        )
        .await
    }

    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        creds: &AppCredentials,
        url: String,
    ) -> Result<T, GraphError> {
        let body = self
            .send(
                creds,
                Req {
                    method: Method::GET,
                    url,
                    if_match: None,
                    json: None,
                    replayable: true,
                },
            )
            .await?;
        serde_json::from_slice(&body).map_err(|e| GraphError::Decode(e.to_string()))
    }

    /// Follows `@odata.nextLink` to the end. Links must stay on the Graph host, so a token
    /// is never sent elsewhere.
    pub(super) async fn get_all<T: DeserializeOwned>(
        &self,
        creds: &AppCredentials,
        first: String,
    ) -> Result<Vec<T>, GraphError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next {
            pages += 1;
            if pages > 1000 {
                return Err(GraphError::Decode("more than 1000 pages".into()));
            }
            let page: Page<T> = self.get_json(creds, url).await?;
            out.extend(page.value);
            next = match page.next_link {
                Some(link) if same_origin(&link, &self.opts.graph_base_url) => Some(link),
                Some(link) => {
                    return Err(GraphError::Decode(format!(
                        "nextLink to another host: {link}"
                    )))
                }
                None => None,
            };
        }
        Ok(out)
    }

    pub(super) fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> String {
        let mut u = format!("{}/", self.opts.graph_base_url);
        u.push_str(
            &segments
                .iter()
                .map(|s| encode_segment(s))
                .collect::<Vec<_>>()
                .join("/"),
        );
        if !query.is_empty() {
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                    )
                })
                .collect();
            u.push('?');
            u.push_str(&q.join("&"));
        }
        u
    }
}

pub(super) fn transport(what: &'static str, e: &reqwest::Error) -> GraphError {
    // Only the kind of failure: reqwest's text names the URL, which may hold ids.
    let message = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "response body broken"
    } else {
        "request failed"
    };
    GraphError::Transport {
        what,
        message: message.into(),
    }
}

fn encode_segment(s: &str) -> String {
    // Path-segment encoding: everything but unreserved characters.
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn same_origin(link: &str, base: &str) -> bool {
    match (url::Url::parse(link), url::Url::parse(base)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// Graph error body `{"error":{"code":...}}` to a typed error.
pub(super) fn map_error(status: StatusCode, body: &[u8]) -> GraphError {
    #[derive(serde::Deserialize)]
    struct Outer {
        error: Inner,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        #[serde(default)]
        code: String,
    }
    let code = serde_json::from_slice::<Outer>(body)
        .map(|o| o.error.code)
        .unwrap_or_default();
    match status.as_u16() {
        401 => GraphError::Unauthorized { code },
        403 => GraphError::Forbidden { code },
        404 => GraphError::NotFound { code },
        409 | 412 => GraphError::Conflict {
            status: status.as_u16(),
            code,
        },
        s if s >= 500 => GraphError::Unavailable { status: s },
        s => GraphError::Rejected { status: s, code },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a crowd a request waits for a place among the app's requests in flight no longer
    /// than the retry budget, and then gives up having sent nothing.
    #[tokio::test]
    async fn a_request_queued_past_the_budget_gives_up_without_sending() {
        use crate::exchange::timer::Timer;
        let timer = Arc::new(crate::exchange::timer::RecordingTimer::default());
        let c = GraphClient::new(GraphOptions {
            // Nothing listens here: a request that were sent would fail differently.
            graph_base_url: "http://127.0.0.1:9/v1.0".into(),
            login_base_url: "http://127.0.0.1:9".into(),
            scope: "https://graph.microsoft.com/.default".into(),
            max_concurrency: 1,
            retry_budget: Duration::from_secs(5),
        })
        .unwrap()
        .with_timer(timer.clone());
        let creds = AppCredentials {
            tenant_id: "t".into(),
            client_id: "app".into(),
            credential: "s".into(),
        };
        // The only place is taken, and a token is at hand.
        let _busy = c.gate("app").try_acquire().unwrap();
        let later = timer.now() + Duration::from_secs(3600);
        *c.tokens.slot(&creds).lock().await = Some(super::super::auth::Token {
            value: SecretString::from("tok"),
            refresh_at: later,
            expires_at: later,
        });
        let err = c
            .send(
                &creds,
                Req {
                    method: Method::GET,
                    url: c.url(&["users", "x", "calendars"], &[]),
                    if_match: None,
                    json: None,
                    replayable: true,
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, GraphError::Queued), "{err}");
        assert!(err.is_transient());
        assert_eq!(timer.take_waits(), vec![Duration::from_secs(5)]);
    }

    #[test]
    fn errors_map_by_status_and_code() {
        let body = br#"{"error":{"code":"ErrorIrresolvableConflict","message":"x"}}"#;
        assert!(matches!(
            map_error(StatusCode::PRECONDITION_FAILED, body),
            GraphError::Conflict { status: 412, ref code } if code == "ErrorIrresolvableConflict"
        ));
        assert!(matches!(
            map_error(StatusCode::NOT_FOUND, b"not json"),
            GraphError::NotFound { .. }
        ));
        assert!(matches!(
            map_error(StatusCode::BAD_GATEWAY, b""),
            GraphError::Unavailable { status: 502 }
        ));
    }

    #[test]
    fn segments_are_encoded_and_next_links_stay_home() {
        assert_eq!(encode_segment("a/b?c"), "a%2Fb%3Fc");
        assert_eq!(encode_segment("AAMk=="), "AAMk%3D%3D");
        assert!(same_origin(
            "https://graph.microsoft.com/v1.0/x?$skip=10",
            "https://graph.microsoft.com/v1.0"
        ));
        assert!(!same_origin(
            "https://evil.example/v1.0/x",
            "https://graph.microsoft.com/v1.0"
        ));
    }
}
