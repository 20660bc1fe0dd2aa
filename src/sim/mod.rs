//! Vendor simulators: Freshservice, SuperOps (PSA and RMM) and Datto RMM served from one
//! deterministic dataset on 127.0.0.1, so tests, benchmarks and the demo sync against
//! something that behaves like the real services.
//!
//! "Behaves like" means the vendor documents (`shared/vendor-apis.md`): the same paths,
//! envelopes, pagination, auth, rate-limit headers and 429 + `Retry-After` when a
//! per-minute budget is spent. On top, switchable faults ([`Faults`]) make the sync's
//! failure handling testable: 429 bursts, 5xx, slow answers, connection resets,
//! truncated JSON and expired tokens.
//!
//! Layout: `dataset` (the records, vendor-neutral), `limiter` (server-side budgets),
//! `faults` (the fault middleware), one file per vendor rendering the dataset in that
//! vendor's shapes (`graphql` reads SuperOps' documents). Each vendor is mounted under
//! its own prefix (`/freshservice`, `/datto`, `/superops`), which is the base URL a
//! client is configured with; `/_sim/…` holds the
//! control endpoints (faults, stats).

pub mod dataset;
pub mod datto;
pub mod faults;
pub mod freshservice;
pub mod graphql;
pub mod limiter;
pub mod oidc;
pub mod superops;

pub use dataset::{Dataset, DatasetSize};
pub use faults::Faults;
pub use limiter::ServerLimiter;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The credentials each simulated vendor accepts.
#[derive(Clone, Debug)]
pub struct SimCredentials {
    pub freshservice_api_key: String,
    pub datto_api_key: String,
    pub datto_api_secret: String,
    pub superops_api_token: String,
    pub superops_subdomain: String,
}

impl Default for SimCredentials {
    fn default() -> Self {
        SimCredentials {
            freshservice_api_key: "sim-freshservice-key".into(),
            datto_api_key: "sim-datto-key".into(),
            datto_api_secret: "sim-datto-secret".into(),
            superops_api_token: "sim-superops-token".into(),
            superops_subdomain: "simmsp".into(),
        }
    }
}

/// Per-minute budgets (the vendors' documented figures by default; benchmarks scale
/// them up so a run takes about a minute).
#[derive(Clone, Debug)]
pub struct SimLimits {
    /// Freshservice "Overall" per minute, account-wide (Growth plan: 200).
    pub freshservice_per_minute: u32,
    /// Datto read window: 600 per sliding 60 s.
    pub datto_per_minute: u32,
    /// SuperOps: 800 per minute.
    pub superops_per_minute: u32,
    /// The length of a budget window: a minute, as the vendors count; tests shorten it
    /// so that exhausting a budget takes seconds, not minutes.
    pub window: Duration,
}

impl Default for SimLimits {
    fn default() -> Self {
        SimLimits {
            freshservice_per_minute: 200,
            datto_per_minute: 600,
            superops_per_minute: 800,
            window: Duration::from_secs(60),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct SimConfig {
    pub seed: u64,
    pub size: DatasetSize,
    pub limits: SimLimits,
    pub credentials: SimCredentials,
}

/// Requests the simulator served, by vendor and by route, for benchmarks and tests
/// ("requests made against the minimum needed").
#[derive(Debug, Default)]
pub struct SimStats {
    pub requests: AtomicU64,
    pub throttled: AtomicU64,
    pub faults_injected: AtomicU64,
    by_route: Mutex<BTreeMap<String, u64>>,
}

impl SimStats {
    pub fn count(&self, route: &str) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        *lock(&self.by_route).entry(route.to_string()).or_default() += 1;
    }

    pub fn by_route(&self) -> BTreeMap<String, u64> {
        lock(&self.by_route).clone()
    }

    pub fn route(&self, route: &str) -> u64 {
        lock(&self.by_route).get(route).copied().unwrap_or(0)
    }

    pub fn reset(&self) {
        self.requests.store(0, Ordering::Relaxed);
        self.throttled.store(0, Ordering::Relaxed);
        self.faults_injected.store(0, Ordering::Relaxed);
        lock(&self.by_route).clear();
    }
}

/// One simulator: the dataset, the budgets, the faults and the counters.
pub struct Sim {
    pub config: SimConfig,
    pub data: Mutex<Dataset>,
    pub faults: Mutex<Faults>,
    /// Drives fault rolls; seeded so a sequential run is reproducible.
    pub rng: Mutex<ChaCha8Rng>,
    pub stats: SimStats,
    pub freshservice_limit: ServerLimiter,
    pub datto_limit: ServerLimiter,
    pub superops_limit: ServerLimiter,
    /// Bumped by the `expire_tokens` fault: bearer tokens issued under an older
    /// epoch are refused with 401, as an expired token would be.
    pub token_epoch: AtomicU64,
}

/// Locks a simulator mutex; a handler that panicked mid-way cannot leave these
/// structures half-written in a way that matters for a simulator.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sim {
    pub fn new(config: SimConfig) -> Arc<Sim> {
        let data = Dataset::generate(config.seed, &config.size);
        Arc::new(Sim {
            freshservice_limit: ServerLimiter::fixed(
                config.limits.freshservice_per_minute,
                config.limits.window,
            ),
            datto_limit: ServerLimiter::sliding(
                config.limits.datto_per_minute,
                config.limits.window,
            ),
            superops_limit: ServerLimiter::fixed(
                config.limits.superops_per_minute,
                config.limits.window,
            ),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(config.seed ^ 0x5eed)),
            data: Mutex::new(data),
            faults: Mutex::new(Faults::default()),
            stats: SimStats::default(),
            token_epoch: AtomicU64::new(0),
            config,
        })
    }

    pub fn data(&self) -> MutexGuard<'_, Dataset> {
        lock(&self.data)
    }

    pub fn set_faults(&self, f: Faults) {
        if f.expire_tokens {
            self.token_epoch.fetch_add(1, Ordering::SeqCst);
        }
        *lock(&self.faults) = Faults {
            expire_tokens: false,
            ..f
        };
    }

    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    /// Every vendor under its prefix, plus the control endpoints.
    pub fn router(self: &Arc<Sim>) -> Router {
        Router::new()
            .nest("/freshservice", freshservice::routes(self.clone()))
            .nest("/datto", datto::routes(self.clone()))
            .nest_service("/oidc", oidc::routes())
            .nest("/superops", superops::routes(self.clone()))
            .route("/_sim/faults", get(get_faults).post(post_faults))
            .route("/_sim/stats", get(get_stats))
            .route("/_sim/stats/reset", post(reset_stats))
            .with_state(self.clone())
    }

    /// Serves the simulator on `addr` (port 0 picks one); returns the bound address.
    pub async fn serve(self: &Arc<Sim>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let app = self.router();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "simulator stopped");
            }
        });
        Ok(bound)
    }
}

async fn get_faults(State(sim): State<Arc<Sim>>) -> Json<Faults> {
    Json(sim.faults())
}

async fn post_faults(State(sim): State<Arc<Sim>>, Json(f): Json<Faults>) -> Json<Faults> {
    sim.set_faults(f);
    Json(sim.faults())
}

async fn get_stats(State(sim): State<Arc<Sim>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "requests": sim.stats.requests.load(Ordering::Relaxed),
        "throttled": sim.stats.throttled.load(Ordering::Relaxed),
        "faults_injected": sim.stats.faults_injected.load(Ordering::Relaxed),
        "by_route": sim.stats.by_route(),
    }))
}

async fn reset_stats(State(sim): State<Arc<Sim>>) -> Json<serde_json::Value> {
    sim.stats.reset();
    Json(serde_json::json!({"reset": true}))
}
