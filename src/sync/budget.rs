//! The request budget a vendor grants per time window, kept on our side so a sync runs
//! just under it: as fast as allowed, without 429 storms.
//!
//! Vendors count requests in a window (Freshservice per minute, account-wide; Datto 600
//! per sliding 60 s). We keep a log of what we sent in the last window and let a request
//! go only while `used + cost` stays within the limit less a small margin (requests
//! reach the server a little after we log them). The server's own view wins: its
//! `X-RateLimit-Remaining` tells us when someone else shares the account's budget, and a
//! 429's `Retry-After` pauses every request of this budget.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug)]
pub struct RateBudget {
    window: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    limit: u32,
    /// (sent at, credits) of the requests inside the current window, oldest first.
    log: VecDeque<(Instant, u32)>,
    paused_until: Option<Instant>,
}

impl State {
    fn prune(&mut self, now: Instant, window: Duration) {
        while let Some(&(at, _)) = self.log.front() {
            if now.duration_since(at) >= window {
                self.log.pop_front();
            } else {
                break;
            }
        }
    }

    fn used(&self) -> u32 {
        self.log.iter().map(|(_, c)| c).sum()
    }

    /// The limit less a 2 % margin (at least one request) for requests in flight.
    fn usable(&self) -> u32 {
        let margin = (self.limit / 50).max(1);
        self.limit.saturating_sub(margin).max(1)
    }
}

impl RateBudget {
    pub fn new(limit: u32, window: Duration) -> RateBudget {
        RateBudget {
            window,
            state: Mutex::new(State {
                limit: limit.max(1),
                log: VecDeque::new(),
                paused_until: None,
            }),
        }
    }

    pub fn per_minute(limit: u32) -> RateBudget {
        RateBudget::new(limit, Duration::from_secs(60))
    }

    pub fn limit(&self) -> u32 {
        self.lock().limit
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the log inconsistent (every
        // mutation is a single push or pop), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `cost` credits fit in the window, then spends them.
    pub async fn acquire(&self, cost: u32) {
        loop {
            let wait = {
                let mut s = self.lock();
                let now = Instant::now();
                s.prune(now, self.window);
                let cost = cost.min(s.usable());
                match s.paused_until {
                    Some(until) if until > now => until - now,
                    _ => {
                        if s.used() + cost <= s.usable() {
                            s.log.push_back((now, cost));
                            return;
                        }
                        // The oldest entry leaving the window frees its credits.
                        let oldest = s.log.front().map(|(at, _)| *at).unwrap_or(now);
                        (oldest + self.window).saturating_duration_since(now)
                    }
                }
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    /// Folds in what the server says of the budget after a response.
    pub fn observe(&self, total: Option<u32>, remaining: Option<u32>) {
        let mut s = self.lock();
        if let Some(t) = total.filter(|t| *t > 0) {
            // A smaller account budget than configured: obey the server.
            if t < s.limit {
                s.limit = t;
            }
        }
        if let Some(r) = remaining {
            let now = Instant::now();
            s.prune(now, self.window);
            let ours = s.usable().saturating_sub(s.used());
            if r < ours {
                // Someone else spends from the same account: book the difference.
                s.log.push_back((now, ours - r));
            }
        }
    }

    /// Stops every request of this budget for `d` (a 429's `Retry-After`).
    pub fn pause_for(&self, d: Duration) {
        let mut s = self.lock();
        let until = Instant::now() + d;
        if s.paused_until.is_none_or(|p| p < until) {
            s.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spends_up_to_the_limit_then_waits_for_the_window() {
        let b = RateBudget::new(100, Duration::from_secs(60));
        let start = Instant::now();
        for _ in 0..98 {
            b.acquire(1).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "98 of 100 go at once");
        b.acquire(1).await;
        assert!(start.elapsed() >= Duration::from_secs(60), "the 99th waits");
    }

    #[tokio::test(start_paused = true)]
    async fn sustained_rate_is_the_limit() {
        let b = RateBudget::new(60, Duration::from_secs(60));
        let start = Instant::now();
        for _ in 0..(59 * 5) {
            b.acquire(1).await;
        }
        // 59 usable per window: 5 windows' worth fits in just over 4 windows.
        let secs = start.elapsed().as_secs();
        assert!((240..=241).contains(&secs), "took {secs} s");
    }

    #[tokio::test(start_paused = true)]
    async fn server_remaining_and_retry_after_are_obeyed() {
        let b = RateBudget::new(100, Duration::from_secs(60));
        b.observe(Some(50), Some(10));
        assert_eq!(b.limit(), 50);
        let start = Instant::now();
        for _ in 0..10 {
            b.acquire(1).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        b.acquire(1).await;
        assert!(start.elapsed() >= Duration::from_secs(60));

        let b = RateBudget::new(100, Duration::from_secs(60));
        b.pause_for(Duration::from_secs(7));
        let start = Instant::now();
        b.acquire(1).await;
        assert_eq!(start.elapsed(), Duration::from_secs(7));
    }
}
