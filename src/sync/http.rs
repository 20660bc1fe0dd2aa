//! The one way vendor clients talk HTTP: every request spends from the vendor's
//! [`RateBudget`], is counted, and is retried when the failure is transient.
//!
//! Classification (see `vendor-apis.md`): 2xx is done; 429 (and vendor throttle bodies)
//! wait `Retry-After` and pause the whole budget; 5xx, timeouts, resets and bodies that
//! do not parse back off exponentially with full jitter; 401/403 and other 4xx are final
//! (Datto answers a persistent breach with a 403 IP block, which must never be
//! hammered). A call gives up after `max_attempts` or `max_elapsed`, whichever is first.

use super::budget::RateBudget;
use super::provider::ProviderError;
use super::Cancel;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Response, StatusCode};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest a single call may keep retrying.
    pub max_elapsed: Duration,
    /// A `Retry-After` beyond this is treated as "give up" rather than slept through.
    pub max_retry_after: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(300),
            max_retry_after: Duration::from_secs(900),
            timeout: Duration::from_secs(60),
        }
    }
}

/// Request counters of one client, reported in the job row and the CLI summary.
#[derive(Debug, Default)]
pub struct RequestStats {
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
    pub retries: AtomicU64,
}

impl RequestStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatsSnapshot {
    pub requests: u64,
    pub throttled: u64,
    pub retries: u64,
}

/// What one attempt came to, decided by the caller's interpreter.
#[derive(Debug)]
pub enum Attempt<T> {
    Done(T),
    /// The vendor throttled us; wait this long (or back off when unknown).
    Throttled(Option<Duration>),
    /// Worth another try after a back-off (5xx, malformed body…).
    Transient(String),
    Fatal(ProviderError),
}

#[derive(Clone, Debug)]
pub struct ApiClient {
    pub vendor: &'static str,
    pub http: reqwest::Client,
    pub budget: Arc<RateBudget>,
    pub policy: RetryPolicy,
    pub stats: Arc<RequestStats>,
    pub cancel: Cancel,
}

impl ApiClient {
    pub fn new(vendor: &'static str, budget: Arc<RateBudget>, policy: RetryPolicy) -> ApiClient {
        let http = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("hivematrix/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("reqwest client with rustls builds");
        ApiClient {
            vendor,
            http,
            budget,
            policy,
            stats: Arc::new(RequestStats::default()),
            cancel: Cancel::new(),
        }
    }

    /// Sends the request `build` makes (again on every retry), spending `cost` credits,
    /// and lets `interpret` judge the response.
    pub async fn execute<T, B, I, F>(
        &self,
        cost: u32,
        build: B,
        interpret: I,
    ) -> Result<T, ProviderError>
    where
        B: Fn(&reqwest::Client) -> RequestBuilder,
        I: Fn(Response) -> F,
        F: Future<Output = Attempt<T>>,
    {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.cancel.check()?;
            tokio::select! {
                _ = self.budget.acquire(cost) => {}
                _ = self.cancel.cancelled() => return Err(ProviderError::Cancelled),
            }
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let outcome = match build(&self.http).send().await {
                Ok(resp) => {
                    self.observe_headers(resp.headers());
                    interpret(resp).await
                }
                Err(e) => Attempt::Transient(transport_error(&e)),
            };
            let wait = match outcome {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fatal(e) => return Err(e),
                Attempt::Throttled(after) => {
                    self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    let d = after.unwrap_or_else(|| self.backoff(attempt));
                    if d > self.policy.max_retry_after {
                        return Err(self.gave_up(
                            attempt,
                            started,
                            format!("throttled for {} s", d.as_secs()),
                        ));
                    }
                    self.budget.pause_for(d);
                    (d, "throttled (429)".to_string())
                }
                Attempt::Transient(why) => (self.backoff(attempt), why),
            };
            let (delay, why) = wait;
            if attempt >= self.policy.max_attempts
                || started.elapsed() + delay > self.policy.max_elapsed
            {
                return Err(self.gave_up(attempt, started, why));
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(vendor = self.vendor, attempt, delay_ms = delay.as_millis() as u64, %why, "retrying");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.cancel.cancelled() => return Err(ProviderError::Cancelled),
            }
        }
    }

    fn gave_up(&self, attempts: u32, started: Instant, last: String) -> ProviderError {
        ProviderError::GaveUp {
            vendor: self.vendor,
            attempts,
            elapsed_secs: started.elapsed().as_secs(),
            last,
        }
    }

    /// Exponential back-off with full jitter: uniform in [0, min(max, base·2^n)].
    fn backoff(&self, attempt: u32) -> Duration {
        use rand::Rng;
        let cap = self
            .policy
            .base_backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.policy.max_backoff);
        let ms = rand::thread_rng().gen_range(0..=cap.as_millis().max(1) as u64);
        Duration::from_millis(ms)
    }

    fn observe_headers(&self, h: &HeaderMap) {
        let num = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u32>().ok())
        };
        self.budget
            .observe(num("x-ratelimit-total"), num("x-ratelimit-remaining"));
    }

    /// GET-style JSON call with the standard interpretation of statuses.
    pub async fn json<T, B>(&self, cost: u32, what: &str, build: B) -> Result<T, ProviderError>
    where
        T: serde::de::DeserializeOwned,
        B: Fn(&reqwest::Client) -> RequestBuilder,
    {
        self.execute(cost, build, |resp| standard_json(self.vendor, what, resp))
            .await
    }

    /// Like [`ApiClient::json`], but a 404 is `None` (the record is gone upstream).
    pub async fn json_opt<T, B>(
        &self,
        cost: u32,
        what: &str,
        build: B,
    ) -> Result<Option<T>, ProviderError>
    where
        T: serde::de::DeserializeOwned,
        B: Fn(&reqwest::Client) -> RequestBuilder,
    {
        self.execute(cost, build, |resp| async move {
            if resp.status() == StatusCode::NOT_FOUND {
                return Attempt::Done(None);
            }
            match standard_json(self.vendor, what, resp).await {
                Attempt::Done(v) => Attempt::Done(Some(v)),
                Attempt::Throttled(d) => Attempt::Throttled(d),
                Attempt::Transient(s) => Attempt::Transient(s),
                Attempt::Fatal(e) => Attempt::Fatal(e),
            }
        })
        .await
    }
}

/// The status rules every vendor shares; bodies must parse as `T`.
pub async fn standard_json<T: serde::de::DeserializeOwned>(
    vendor: &'static str,
    what: &str,
    resp: Response,
) -> Attempt<T> {
    let status = resp.status();
    if status.is_success() {
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Attempt::Transient(format!(
                    "reading the body failed: {}",
                    transport_error(&e)
                ))
            }
        };
        return match serde_json::from_slice::<T>(&bytes) {
            Ok(v) => Attempt::Done(v),
            // A truncated or garbled body is a transport fault more often than a schema
            // change; retrying tells them apart (a schema change fails every time).
            Err(e) => Attempt::Transient(format!("malformed JSON from {what}: {e}")),
        };
    }
    let retry_after = retry_after(resp.headers());
    let body = resp.text().await.unwrap_or_default();
    let detail = format!("HTTP {} {}", status.as_u16(), snippet(&body));
    match status {
        StatusCode::TOO_MANY_REQUESTS => Attempt::Throttled(retry_after),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            Attempt::Fatal(ProviderError::Auth { vendor, detail })
        }
        s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => Attempt::Transient(detail),
        _ => Attempt::Fatal(ProviderError::Rejected {
            vendor,
            what: what.to_string(),
            detail,
        }),
    }
}

/// `Retry-After` as seconds (the form every vendor here uses) or an HTTP date.
pub fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let secs = (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    Some(Duration::from_secs(secs.max(0) as u64))
}

fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        // The source chain names resets and truncated bodies; the URL is left out
        // because it may carry credentials in a query string.
        let mut s = String::from(if e.is_body() {
            "the body broke off"
        } else if e.is_decode() {
            "the body could not be decoded"
        } else {
            "the request failed"
        });
        let mut src = std::error::Error::source(e);
        while let Some(inner) = src {
            s.push_str(": ");
            s.push_str(&inner.to_string());
            src = inner.source();
        }
        s
    }
}

fn snippet(body: &str) -> String {
    body.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode as S;
    use axum::response::IntoResponse;
    use std::sync::atomic::AtomicUsize;

    /// A server answering the scripted statuses in order, then 200 `{"ok":true}`.
    async fn scripted(
        script: Vec<(u16, &'static str, Option<&'static str>)>,
    ) -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = axum::Router::new().route(
            "/x",
            axum::routing::get(move || {
                let h = h.clone();
                let script = script.clone();
                async move {
                    let n = h.fetch_add(1, Ordering::SeqCst);
                    match script.get(n) {
                        Some((code, body, retry)) => {
                            let mut r =
                                (S::from_u16(*code).unwrap(), body.to_string()).into_response();
                            if let Some(ra) = retry {
                                r.headers_mut().insert("retry-after", ra.parse().unwrap());
                            }
                            r.headers_mut()
                                .insert("x-ratelimit-total", "1000".parse().unwrap());
                            r
                        }
                        None => (S::OK, r#"{"ok":true}"#).into_response(),
                    }
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        (format!("http://{addr}/x"), hits)
    }

    fn client() -> ApiClient {
        let policy = RetryPolicy {
            base_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            max_attempts: 5,
            ..RetryPolicy::default()
        };
        ApiClient::new("test", Arc::new(RateBudget::per_minute(10_000)), policy)
    }

    #[derive(Debug, serde::Deserialize)]
    struct Ok_ {
        ok: bool,
    }

    #[tokio::test]
    async fn transient_failures_and_throttles_are_retried_until_done() {
        let (url, hits) = scripted(vec![
            (503, "down", None),
            (429, "slow down", Some("1")),
            (200, "{\"ok\": tr", None),
        ])
        .await;
        let c = client();
        let started = std::time::Instant::now();
        let v: Ok_ = c.json(1, "thing", |h| h.get(&url)).await.unwrap();
        assert!(v.ok);
        assert_eq!(hits.load(Ordering::SeqCst), 4);
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "Retry-After was honoured"
        );
        let s = c.stats.snapshot();
        assert_eq!((s.requests, s.throttled, s.retries), (4, 1, 3));
    }

    #[tokio::test]
    async fn auth_failures_are_final_and_persistent_errors_give_up() {
        let (url, hits) = scripted(vec![(401, "bad key", None), (200, "{}", None)]).await;
        let err = client()
            .json::<Ok_, _>(1, "thing", |h| h.get(&url))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Auth { .. }), "{err}");
        assert_eq!(hits.load(Ordering::SeqCst), 1, "no retry on 401");

        let (url, hits) = scripted(vec![(500, "x", None); 10]).await;
        let err = client()
            .json::<Ok_, _>(1, "thing", |h| h.get(&url))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ProviderError::GaveUp { attempts: 5, .. }),
            "{err}"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 5);

        let (url, _) = scripted(vec![(404, "gone", None)]).await;
        let v = client()
            .json_opt::<Ok_, _>(1, "thing", |h| h.get(&url))
            .await
            .unwrap();
        assert!(v.is_none());
    }

    #[tokio::test]
    async fn cancel_stops_a_waiting_call() {
        let (url, _) = scripted(vec![(429, "", Some("30"))]).await;
        let c = client();
        let cancel = c.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            cancel.cancel();
        });
        let err = c
            .json::<Ok_, _>(1, "thing", |h| h.get(&url))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Cancelled));
    }
}
