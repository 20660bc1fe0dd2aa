//! `serve --demo`: the vendor simulators run inside the process, the app's PSA and RMM
//! settings point at them for this run, and the first syncs are queued at start, so a
//! new user sees a live-looking system (companies, contacts, tickets on the Beacon
//! board, devices) that fills in while they watch the jobs run.
//!
//! The data arrives the way a customer's would: over HTTP through the real clients,
//! as durable sync jobs. Nothing is written to the database directly except the
//! billing plans (a PSA does not hold those) and the demo login.

use crate::http::AppState;
use crate::sim::{DatasetSize, Sim, SimConfig, SimLimits};
use crate::sync::jobs::{self, NewJob};
use crate::{Db, Settings};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The simulators' budgets are the vendors' ×50, so the first full sync of the demo
/// estate takes seconds rather than the ~20 minutes Freshservice's 200/min would allow.
pub const RATE_SCALE: u32 = 50;

/// The estate the demo simulators serve.
pub fn demo_size() -> DatasetSize {
    DatasetSize {
        companies: 40,
        contacts: 400,
        agents: 12,
        tickets: 600,
        devices: 600,
    }
}

/// A running demo: the simulators and where they listen.
pub struct LiveDemo {
    pub sim: Arc<Sim>,
    pub addr: SocketAddr,
}

/// Refuses a database that holds companies no demo sync wrote: the first complete
/// listing from the simulator would mark every one of them as gone upstream.
pub async fn check_database(db: &Db) -> anyhow::Result<()> {
    let companies: i64 = sqlx::Row::try_get(
        &sqlx::query("SELECT COUNT(*) FROM companies")
            .fetch_one(&db.pool)
            .await?,
        0,
    )?;
    let synced_before = jobs::last_finished(db, "freshservice", "base")
        .await?
        .is_some();
    if companies > 0 && !synced_before {
        anyhow::bail!(
            "--demo syncs from built-in simulators, but this database already holds {companies} companies \
             that did not come from them; use an empty data directory (--data-dir) for the demo"
        );
    }
    Ok(())
}

/// Starts the simulators on a free local port and points `settings` at them
/// (Freshservice as the PSA, Datto as the RMM) for this run only.
pub async fn start(settings: &mut Settings) -> anyhow::Result<LiveDemo> {
    let d = SimLimits::default();
    let limits = SimLimits {
        freshservice_per_minute: d.freshservice_per_minute * RATE_SCALE,
        datto_per_minute: d.datto_per_minute * RATE_SCALE,
        superops_per_minute: d.superops_per_minute * RATE_SCALE,
        ..d
    };
    // The estate's history ends now, so the board shows fresh tickets and due dates.
    crate::sim::dataset::anchor_at(chrono::Utc::now());
    let sim = Sim::new(SimConfig {
        seed: 7,
        size: demo_size(),
        limits: limits.clone(),
        credentials: Default::default(),
    });
    let addr = sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let c = &sim.config.credentials;
    let base = format!("http://{addr}");
    settings.psa = Some(toml::Value::Table(toml::map::Map::from_iter([(
        "freshservice".to_string(),
        toml::Value::Table(toml::map::Map::from_iter([
            ("url".into(), format!("{base}/freshservice").into()),
            ("api_key".into(), c.freshservice_api_key.clone().into()),
            (
                "per_minute".into(),
                i64::from(limits.freshservice_per_minute).into(),
            ),
        ])),
    )])));
    settings.rmm = Some(toml::Value::Table(toml::map::Map::from_iter([(
        "datto".to_string(),
        toml::Value::Table(toml::map::Map::from_iter([
            ("url".into(), format!("{base}/datto").into()),
            ("api_key".into(), c.datto_api_key.clone().into()),
            ("api_secret".into(), c.datto_api_secret.clone().into()),
            (
                "per_minute".into(),
                i64::from(limits.datto_per_minute).into(),
            ),
        ])),
    )])));
    Ok(LiveDemo { sim, addr })
}

/// Queues the PSA base sync, then (once companies exist to attach them to) the ticket
/// and RMM syncs. Runs in the background; the jobs show in the sync job list.
pub fn spawn_first_syncs(state: &AppState) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = first_syncs(&state).await {
            tracing::error!(error = %e, "the demo's first sync did not finish");
        }
    })
}

async fn first_syncs(state: &AppState) -> anyhow::Result<()> {
    let base = queue(state, "freshservice", "base").await?;
    let job = wait(&state.db, base).await?;
    if job.status != "completed" {
        anyhow::bail!(
            "base sync job {} ended {}: {}",
            job.id,
            job.status,
            job.error.unwrap_or_default()
        );
    }
    let tickets = queue(state, "freshservice", "tickets").await?;
    let rmm = queue(state, "datto", "rmm").await?;
    for id in [tickets, rmm] {
        let job = wait(&state.db, id).await?;
        tracing::info!(job = job.id, kind = %job.kind, status = %job.status, "demo sync finished");
    }
    Ok(())
}

async fn queue(state: &AppState, provider: &str, kind: &str) -> anyhow::Result<i64> {
    let job = jobs::enqueue(
        &state.db,
        &NewJob {
            provider,
            kind,
            triggered_by: "demo",
            full_sync: false,
            requested_by: None,
        },
    )
    .await?;
    state.sync.wake();
    Ok(job.id)
}

async fn wait(db: &Db, id: i64) -> anyhow::Result<jobs::Job> {
    loop {
        let job = jobs::get(db, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("job {id} vanished"))?;
        if job.finished_at.is_some() {
            return Ok(job);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
