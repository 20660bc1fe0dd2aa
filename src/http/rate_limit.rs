//! Per-user rate limiting: a token bucket per authenticated user, else per client
//! address. Buckets live in this node's memory; with several app nodes each node
//! enforces the limit on its own share of the traffic.

use crate::auth::Principal;
use crate::error::AppError;
use crate::http::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(per_minute: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_sec: per_minute as f64 / 60.0,
            burst: burst.max(1) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token; on refusal returns the seconds until one is available.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        if self.per_sec <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            // Forget idle keys rather than grow without bound.
            map.retain(|_, b| now.duration_since(b.at).as_secs() < 600);
        }
        let b = map.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        b.tokens =
            (b.tokens + now.duration_since(b.at).as_secs_f64() * self.per_sec).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / self.per_sec).ceil().max(1.0) as u64)
        }
    }
}

pub async fn enforce(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/health" || path == "/livez" || path.starts_with("/static/") {
        return next.run(req).await;
    }
    let key = match req.extensions().get::<Principal>() {
        Some(p) => format!("user:{}", p.user_id),
        None => match req.extensions().get::<ConnectInfo<SocketAddr>>() {
            Some(ci) => format!("ip:{}", ci.0.ip()),
            None => "ip:unknown".into(),
        },
    };
    match state.rate_limiter.check(&key) {
        Ok(()) => next.run(req).await,
        Err(secs) => AppError::TooManyRequests {
            retry_after_secs: secs,
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses_with_wait() {
        let rl = RateLimiter::new(60, 3);
        for _ in 0..3 {
            assert!(rl.check("a").is_ok());
        }
        assert_eq!(rl.check("a"), Err(1));
        assert!(rl.check("b").is_ok(), "keys are independent");
        assert!(RateLimiter::new(0, 1).check("x").is_ok(), "0 disables");
    }
}
