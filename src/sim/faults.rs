//! Switchable faults, applied in front of every simulated vendor: what a real API does
//! on a bad day, on demand. Set them with `POST /_sim/faults` or `Sim::set_faults`.

use super::{lock, Sim};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// The next N requests answer 429 with `Retry-After: throttle_retry_after_secs`.
    pub throttle_next: u32,
    pub throttle_retry_after_secs: u64,
    /// Share of requests (0..1) answered with a 500/502/503.
    pub error_rate: f64,
    /// Share of requests delayed by `slow_ms` before they are answered.
    pub slow_rate: f64,
    pub slow_ms: u64,
    /// Share of requests whose connection is cut in the middle of the body.
    pub reset_rate: f64,
    /// Share of requests answered 200 with the JSON body cut in half.
    pub truncate_rate: f64,
    /// One-shot: every bearer token issued so far stops working (401), as on expiry.
    pub expire_tokens: bool,
    /// Requests whose path contains one of these always answer 500 (a listing that
    /// keeps failing).
    pub fail_paths: Vec<String>,
}

enum Roll {
    Throttle(u64),
    Error(StatusCode),
    Reset,
    Truncate,
    Pass,
}

fn roll(sim: &Sim, path: &str) -> (Roll, Option<Duration>) {
    let mut f = lock(&sim.faults);
    let mut rng = lock(&sim.rng);
    let slow = (f.slow_rate > 0.0 && rng.gen_bool(f.slow_rate.min(1.0)))
        .then(|| Duration::from_millis(f.slow_ms));
    let r = if f.throttle_next > 0 {
        f.throttle_next -= 1;
        Roll::Throttle(f.throttle_retry_after_secs.max(1))
    } else if f.fail_paths.iter().any(|p| path.contains(p.as_str())) {
        Roll::Error(StatusCode::INTERNAL_SERVER_ERROR)
    } else if f.error_rate > 0.0 && rng.gen_bool(f.error_rate.min(1.0)) {
        let codes = [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::BAD_GATEWAY,
            StatusCode::SERVICE_UNAVAILABLE,
        ];
        Roll::Error(codes[rng.gen_range(0..codes.len())])
    } else if f.reset_rate > 0.0 && rng.gen_bool(f.reset_rate.min(1.0)) {
        Roll::Reset
    } else if f.truncate_rate > 0.0 && rng.gen_bool(f.truncate_rate.min(1.0)) {
        Roll::Truncate
    } else {
        Roll::Pass
    };
    (r, slow)
}

/// Middleware in front of each vendor router.
pub async fn inject(State(sim): State<Arc<Sim>>, req: Request, next: Next) -> Response {
    let (r, slow) = roll(&sim, req.uri().path());
    if let Some(d) = slow {
        tokio::time::sleep(d).await;
    }
    if !matches!(r, Roll::Pass) {
        sim.stats.faults_injected.fetch_add(1, Ordering::Relaxed);
    }
    match r {
        Roll::Pass => next.run(req).await,
        Roll::Throttle(secs) => {
            sim.stats.throttled.fetch_add(1, Ordering::Relaxed);
            let mut resp = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(serde_json::json!({"message": "You have exceeded the limit of requests per minute"})),
            )
                .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            resp
        }
        Roll::Error(code) => (
            code,
            axum::Json(serde_json::json!({"message": "simulated server error"})),
        )
            .into_response(),
        Roll::Reset => {
            let resp = next.run(req).await;
            let (parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            // A body stream that fails after half the bytes: hyper aborts the
            // connection, which the client sees as a reset mid-response.
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated connection reset",
                )),
            ];
            let mut parts = parts;
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from_stream(futures_util::stream::iter(chunks)))
        }
        Roll::Truncate => {
            let resp = next.run(req).await;
            let (mut parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2)))
        }
    }
}
