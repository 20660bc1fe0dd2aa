//! Server-side request budgets as the vendors count them: Freshservice and SuperOps per
//! fixed minute, Datto per sliding 60 s. A request either fits (and the answer carries
//! the remaining budget) or is refused with the seconds until it would fit.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
enum Window {
    Fixed { started: Instant, used: u32 },
    Sliding { log: VecDeque<(Instant, u32)> },
}

#[derive(Debug)]
pub struct ServerLimiter {
    limit: u32,
    window: Duration,
    state: Mutex<Window>,
}

/// The budget after an accepted request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub total: u32,
    pub remaining: u32,
    pub cost: u32,
}

impl ServerLimiter {
    pub fn fixed(limit: u32, window: Duration) -> ServerLimiter {
        ServerLimiter {
            limit,
            window,
            state: Mutex::new(Window::Fixed {
                started: Instant::now(),
                used: 0,
            }),
        }
    }

    pub fn sliding(limit: u32, window: Duration) -> ServerLimiter {
        ServerLimiter {
            limit,
            window,
            state: Mutex::new(Window::Sliding {
                log: VecDeque::new(),
            }),
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Spends `cost` credits, or says how long until they would fit (≥ 1 s, the
    /// granularity of `Retry-After`). Refused requests still count, as the vendors
    /// document ("invalid requests count").
    pub fn take(&self, cost: u32) -> Result<Accepted, Duration> {
        let now = Instant::now();
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *w {
            Window::Fixed { started, used } => {
                if now.duration_since(*started) >= self.window {
                    *started = now;
                    *used = 0;
                }
                if *used + cost > self.limit {
                    let reset = (*started + self.window).saturating_duration_since(now);
                    return Err(whole_seconds(reset));
                }
                *used += cost;
                Ok(Accepted {
                    total: self.limit,
                    remaining: self.limit - *used,
                    cost,
                })
            }
            Window::Sliding { log } => {
                while log
                    .front()
                    .is_some_and(|(at, _)| now.duration_since(*at) >= self.window)
                {
                    log.pop_front();
                }
                let used: u32 = log.iter().map(|(_, c)| c).sum();
                if used + cost > self.limit {
                    let oldest = log.front().map(|(at, _)| *at).unwrap_or(now);
                    let free = (oldest + self.window).saturating_duration_since(now);
                    return Err(whole_seconds(free));
                }
                log.push_back((now, cost));
                Ok(Accepted {
                    total: self.limit,
                    remaining: self.limit - used - cost,
                    cost,
                })
            }
        }
    }
}

fn whole_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_window_refuses_past_the_limit_with_retry_after() {
        let l = ServerLimiter::fixed(3, Duration::from_secs(60));
        assert_eq!(l.take(1).unwrap().remaining, 2);
        assert_eq!(l.take(2).unwrap().remaining, 0);
        let wait = l.take(1).unwrap_err();
        assert!(wait >= Duration::from_secs(59) && wait <= Duration::from_secs(60));
    }

    #[test]
    fn sliding_window_counts_costs() {
        let l = ServerLimiter::sliding(5, Duration::from_secs(60));
        assert_eq!(l.take(3).unwrap().remaining, 2);
        assert!(l.take(3).is_err());
        assert_eq!(l.take(2).unwrap().remaining, 0);
    }
}
