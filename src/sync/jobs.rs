//! Durable sync jobs: every sync is a row that goes queued → running → completed,
//! failed or cancelled, with progress counters and request figures written while it runs.
//!
//! Several app nodes may share one database, so nothing here trusts memory:
//! - the lock is a row in `sync_locks` keyed by (provider, kind); inserting it is the
//!   claim, and the database's primary key makes the claim exclusive across nodes;
//! - a running job's node writes a heartbeat; a lock whose heartbeat is older than
//!   [`STALE_AFTER`] belongs to a dead node and may be taken over (the job is marked
//!   failed as interrupted, and the next run resumes from the checkpoints);
//! - cancellation is a flag in the row, which the running node polls with its
//!   heartbeat, so a cancel sent to any node reaches the one doing the work.

use super::http::StatsSnapshot;
use super::Cancel;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::time;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A lock whose heartbeat is older than this is a dead node's.
pub const STALE_AFTER: Duration = Duration::from_secs(120);
/// How often a running job writes its progress and reads its cancel flag.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

pub const STATUSES: &[&str] = &["queued", "running", "completed", "failed", "cancelled"];

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Job {
    pub id: i64,
    pub provider: String,
    pub kind: String,
    pub triggered_by: String,
    pub full_sync: bool,
    pub status: String,
    pub requested_by: Option<String>,
    pub node_id: Option<String>,
    pub cancel_requested: bool,
    /// Per collection: seen, created, updated, unchanged, missing, failed.
    #[schema(value_type = Object)]
    pub progress: serde_json::Value,
    pub requests: i64,
    pub throttled: i64,
    pub retries: i64,
    pub output: Option<String>,
    pub error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub heartbeat_at: Option<String>,
    pub finished_at: Option<String>,
}

fn from_row(r: &AnyRow) -> Result<Job, sqlx::Error> {
    let progress: String = r.try_get("progress")?;
    Ok(Job {
        id: r.try_get("id")?,
        provider: r.try_get("provider")?,
        kind: r.try_get("kind")?,
        triggered_by: r.try_get("triggered_by")?,
        full_sync: crate::db::flag(r, "full_sync")?,
        status: r.try_get("status")?,
        requested_by: r.try_get("requested_by")?,
        node_id: r.try_get("node_id")?,
        cancel_requested: crate::db::flag(r, "cancel_requested")?,
        progress: serde_json::from_str(&progress).unwrap_or_else(|_| serde_json::json!({})),
        requests: r.try_get("requests")?,
        throttled: r.try_get("throttled")?,
        retries: r.try_get("retries")?,
        output: r.try_get("output")?,
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        heartbeat_at: r.try_get("heartbeat_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

/// What to run.
#[derive(Clone, Debug)]
pub struct NewJob<'a> {
    pub provider: &'a str,
    pub kind: &'a str,
    pub triggered_by: &'a str,
    pub full_sync: bool,
    pub requested_by: Option<&'a str>,
}

pub async fn get(db: &Db, id: i64) -> AppResult<Option<Job>> {
    let r = sqlx::query("SELECT * FROM sync_jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(r.map(|r| from_row(&r)).transpose()?)
}

/// Queues a job, unless one for the same provider and kind is already queued: asking
/// twice (two clicks, a schedule and a click) gives the same job.
pub async fn enqueue(db: &Db, new: &NewJob<'_>) -> AppResult<Job> {
    let existing = sqlx::query(
        "SELECT * FROM sync_jobs WHERE provider = $1 AND kind = $2 AND status = 'queued' ORDER BY id LIMIT 1",
    )
    .bind(new.provider)
    .bind(new.kind)
    .fetch_optional(&db.pool)
    .await?;
    if let Some(r) = existing {
        return Ok(from_row(&r)?);
    }
    let id: i64 = sqlx::query(
        "INSERT INTO sync_jobs (provider, kind, triggered_by, full_sync, status, requested_by, created_at) \
         VALUES ($1, $2, $3, $4, 'queued', $5, $6) RETURNING id",
    )
    .bind(new.provider)
    .bind(new.kind)
    .bind(new.triggered_by)
    .bind(new.full_sync as i64)
    .bind(new.requested_by)
    .bind(time::now_db())
    .fetch_one(&db.pool)
    .await?
    .try_get(0)?;
    get(db, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("job {id} vanished")))
}

#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    pub provider: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Newest first.
pub async fn list(
    db: &Db,
    q: &JobQuery,
    page: crate::http::pagination::Page,
) -> AppResult<(Vec<Job>, i64)> {
    if let Some(s) = &q.status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(AppError::invalid(
                "status",
                format!("must be one of: {}", STATUSES.join(", ")),
            ));
        }
    }
    let filter = "WHERE ($1 IS NULL OR provider = $1) AND ($2 IS NULL OR kind = $2) AND ($3 IS NULL OR status = $3)";
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM sync_jobs {filter}"))
        .bind(&q.provider)
        .bind(&q.kind)
        .bind(&q.status)
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let rows = sqlx::query(&format!(
        "SELECT * FROM sync_jobs {filter} ORDER BY id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(&q.provider)
    .bind(&q.kind)
    .bind(&q.status)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&db.pool)
    .await?;
    Ok((rows.iter().map(from_row).collect::<Result<_, _>>()?, total))
}

/// The newest job of a provider and kind that finished (any outcome).
pub async fn last_finished(db: &Db, provider: &str, kind: &str) -> AppResult<Option<Job>> {
    let r = sqlx::query(
        "SELECT * FROM sync_jobs WHERE provider = $1 AND kind = $2 AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1",
    )
    .bind(provider)
    .bind(kind)
    .fetch_optional(&db.pool)
    .await?;
    Ok(r.map(|r| from_row(&r)).transpose()?)
}

/// Asks a job to stop. A queued job is cancelled at once; a running one stops at its
/// next heartbeat. Finished jobs answer 409.
pub async fn request_cancel(db: &Db, id: i64) -> AppResult<Job> {
    let job = get(db, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("sync job {id} not found")))?;
    match job.status.as_str() {
        "queued" => {
            sqlx::query(
                "UPDATE sync_jobs SET status = 'cancelled', cancel_requested = 1, finished_at = $1, \
                 error = 'cancelled before it started' WHERE id = $2 AND status = 'queued'",
            )
            .bind(time::now_db())
            .bind(id)
            .execute(&db.pool)
            .await?;
        }
        "running" => {
            sqlx::query("UPDATE sync_jobs SET cancel_requested = 1 WHERE id = $1")
                .bind(id)
                .execute(&db.pool)
                .await?;
        }
        other => {
            return Err(AppError::Conflict(format!("sync job {id} already {other}")));
        }
    }
    get(db, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("job {id} vanished")))
}

/// Takes the (provider, kind) lock for `job_id`, taking over a dead node's stale lock.
/// `false` when a live job holds it.
async fn take_lock(
    db: &Db,
    provider: &str,
    kind: &str,
    job_id: i64,
    node: &str,
) -> AppResult<bool> {
    let now = time::now_db();
    let inserted = sqlx::query(
        "INSERT INTO sync_locks (provider, kind, job_id, node_id, heartbeat_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (provider, kind) DO NOTHING",
    )
    .bind(provider)
    .bind(kind)
    .bind(job_id)
    .bind(node)
    .bind(&now)
    .execute(&db.pool)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(true);
    }
    let stale_before = time::to_db(
        chrono::Utc::now() - chrono::Duration::from_std(STALE_AFTER).unwrap_or_default(),
    );
    let Some(holder) = sqlx::query(
        "SELECT job_id, node_id, heartbeat_at FROM sync_locks WHERE provider = $1 AND kind = $2",
    )
    .bind(provider)
    .bind(kind)
    .fetch_optional(&db.pool)
    .await?
    else {
        return Ok(false);
    };
    let dead_job: i64 = holder.try_get("job_id")?;
    let holder_node: String = holder.try_get("node_id")?;
    let beat: String = holder.try_get("heartbeat_at")?;
    let why = if beat < stale_before {
        "its node stopped sending heartbeats"
    } else if process_gone(&holder_node) {
        "its process on this machine is gone"
    } else {
        return Ok(false);
    };
    // Compare-and-swap on the heartbeat we saw: of two nodes taking over, one wins.
    let mut tx = db.pool.begin().await?;
    let taken = sqlx::query(
        "UPDATE sync_locks SET job_id = $1, node_id = $2, heartbeat_at = $3 \
         WHERE provider = $4 AND kind = $5 AND job_id = $6 AND heartbeat_at = $7",
    )
    .bind(job_id)
    .bind(node)
    .bind(&now)
    .bind(provider)
    .bind(kind)
    .bind(dead_job)
    .bind(&beat)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if taken == 1 {
        mark_interrupted(&mut tx, dead_job, why).await?;
    }
    tx.commit().await?;
    Ok(taken == 1)
}

/// Whether a lock holder's node id (`<host>-<pid>-<random>`, see `SyncService`) names a
/// process of this machine that no longer exists: a `hivematrix sync` killed with
/// SIGKILL need not block the next run for the whole heartbeat timeout. Only answers
/// yes when it can see the process table.
fn process_gone(node_id: &str) -> bool {
    let mut parts = node_id.rsplitn(3, '-');
    let (Some(_random), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    let proc_table = std::path::Path::new("/proc/self").exists();
    proc_table
        && host == super::hostname()
        && pid != std::process::id()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

async fn mark_interrupted(conn: &mut sqlx::AnyConnection, job_id: i64, why: &str) -> AppResult<()> {
    sqlx::query(
        "UPDATE sync_jobs SET status = 'failed', finished_at = $1, \
         error = $2 WHERE id = $3 AND status = 'running'",
    )
    .bind(time::now_db())
    .bind(format!(
        "interrupted: {why}; the next run resumes from its checkpoint"
    ))
    .bind(job_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// At start: jobs this node was running when it stopped are marked interrupted and
/// their locks freed (other nodes' dead jobs are taken over through their stale locks).
pub async fn recover(db: &Db, node: &str) -> AppResult<u64> {
    let mut tx = db.pool.begin().await?;
    let ids: Vec<i64> =
        sqlx::query("SELECT id FROM sync_jobs WHERE status = 'running' AND node_id = $1")
            .bind(node)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
    for id in &ids {
        mark_interrupted(&mut tx, *id, "the node restarted").await?;
    }
    sqlx::query("DELETE FROM sync_locks WHERE node_id = $1")
        .bind(node)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(ids.len() as u64)
}

/// Claims the oldest queued job whose (provider, kind) is free.
pub async fn claim_next(db: &Db, node: &str) -> AppResult<Option<Job>> {
    let queued =
        sqlx::query("SELECT * FROM sync_jobs WHERE status = 'queued' ORDER BY id LIMIT 50")
            .fetch_all(&db.pool)
            .await?;
    for r in queued {
        if let Some(job) = claim(db, &from_row(&r)?, node).await? {
            return Ok(Some(job));
        }
    }
    Ok(None)
}

/// Claims this queued job (the command line runs the job it queued, not the oldest):
/// `None` when a live job holds its (provider, kind) lock or another node claimed it.
pub async fn claim(db: &Db, job: &Job, node: &str) -> AppResult<Option<Job>> {
    if !take_lock(db, &job.provider, &job.kind, job.id, node).await? {
        return Ok(None);
    }
    let now = time::now_db();
    let claimed = sqlx::query(
        "UPDATE sync_jobs SET status = 'running', node_id = $1, started_at = $2, heartbeat_at = $2 \
         WHERE id = $3 AND status = 'queued'",
    )
    .bind(node)
    .bind(&now)
    .bind(job.id)
    .execute(&db.pool)
    .await?
    .rows_affected();
    if claimed == 1 {
        return get(db, job.id).await;
    }
    release_lock(db, job.id).await?;
    Ok(None)
}

/// Who holds a (provider, kind) lock: the job, its node and its last heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockHolder {
    pub job_id: i64,
    pub node_id: String,
    pub heartbeat_at: String,
}

pub async fn lock_holder(db: &Db, provider: &str, kind: &str) -> AppResult<Option<LockHolder>> {
    let r = sqlx::query(
        "SELECT job_id, node_id, heartbeat_at FROM sync_locks WHERE provider = $1 AND kind = $2",
    )
    .bind(provider)
    .bind(kind)
    .fetch_optional(&db.pool)
    .await?;
    Ok(r.map(|r| {
        Ok::<_, sqlx::Error>(LockHolder {
            job_id: r.try_get("job_id")?,
            node_id: r.try_get("node_id")?,
            heartbeat_at: r.try_get("heartbeat_at")?,
        })
    })
    .transpose()?)
}

async fn release_lock(db: &Db, job_id: i64) -> AppResult<()> {
    sqlx::query("DELETE FROM sync_locks WHERE job_id = $1")
        .bind(job_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Counters of one collection in a job's progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Counts {
    pub seen: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub missing: u64,
    /// Records the vendor sent that cannot be imported (no account number, no e-mail).
    pub skipped: u64,
    pub failed: u64,
}

/// What a running job reports; shared between the engine and the heartbeat.
#[derive(Debug, Default)]
pub struct Progress {
    counts: Mutex<BTreeMap<String, Counts>>,
    /// Each client's counters with their values when the job began (clients outlive
    /// jobs, so a job's figures are the difference).
    stats: Mutex<Vec<(Arc<super::http::RequestStats>, StatsSnapshot)>>,
}

impl Progress {
    pub fn add(&self, collection: &str, f: impl FnOnce(&mut Counts)) {
        let mut m = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        f(m.entry(collection.to_string()).or_default());
    }

    pub fn counts(&self) -> BTreeMap<String, Counts> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Registers a client's request counters so the job reports its requests.
    pub fn track(&self, stats: Arc<super::http::RequestStats>) {
        let baseline = stats.snapshot();
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((stats, baseline));
    }

    pub fn requests(&self) -> StatsSnapshot {
        let list = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        list.iter()
            .fold(StatsSnapshot::default(), |acc, (s, base)| {
                let s = s.snapshot();
                StatsSnapshot {
                    requests: acc.requests + s.requests.saturating_sub(base.requests),
                    throttled: acc.throttled + s.throttled.saturating_sub(base.throttled),
                    retries: acc.retries + s.retries.saturating_sub(base.retries),
                }
            })
    }
}

/// Writes progress and the heartbeat; returns whether a cancel was requested.
pub async fn heartbeat(db: &Db, job_id: i64, node: &str, p: &Progress) -> AppResult<bool> {
    let now = time::now_db();
    let r = p.requests();
    sqlx::query(
        "UPDATE sync_jobs SET progress = $1, requests = $2, throttled = $3, retries = $4, heartbeat_at = $5 \
         WHERE id = $6",
    )
    .bind(serde_json::to_string(&p.counts()).unwrap_or_else(|_| "{}".into()))
    .bind(r.requests as i64)
    .bind(r.throttled as i64)
    .bind(r.retries as i64)
    .bind(&now)
    .bind(job_id)
    .execute(&db.pool)
    .await?;
    sqlx::query("UPDATE sync_locks SET heartbeat_at = $1 WHERE job_id = $2 AND node_id = $3")
        .bind(&now)
        .bind(job_id)
        .bind(node)
        .execute(&db.pool)
        .await?;
    let cancel: i64 = sqlx::query("SELECT cancel_requested FROM sync_jobs WHERE id = $1")
        .bind(job_id)
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    Ok(cancel != 0)
}

/// Records the outcome and frees the lock.
pub async fn finish(
    db: &Db,
    job_id: i64,
    node: &str,
    p: &Progress,
    outcome: &Outcome,
) -> AppResult<()> {
    heartbeat(db, job_id, node, p).await?;
    let (status, output, error) = match outcome {
        Outcome::Completed(out) => ("completed", Some(out.as_str()), None),
        Outcome::Failed(e) => ("failed", None, Some(e.as_str())),
        Outcome::Cancelled => ("cancelled", None, Some("cancelled by request")),
    };
    sqlx::query(
        "UPDATE sync_jobs SET status = $1, output = $2, error = $3, finished_at = $4 WHERE id = $5",
    )
    .bind(status)
    .bind(output)
    .bind(error)
    .bind(time::now_db())
    .bind(job_id)
    .execute(&db.pool)
    .await?;
    release_lock(db, job_id).await
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Completed(String),
    Failed(String),
    Cancelled,
}

/// What a job does, given its row: the sync engine implements it.
#[async_trait::async_trait]
pub trait Executor: Send + Sync {
    /// Runs the job to its end; `Ok` carries the summary written to `output`.
    async fn execute(&self, job: &Job, ctx: &JobContext) -> anyhow::Result<String>;
}

/// Handed to a running job.
pub struct JobContext {
    pub db: Db,
    pub cancel: Cancel,
    pub progress: Arc<Progress>,
}

/// Runs one claimed job with its heartbeat, to its recorded outcome.
pub async fn run_claimed(
    db: &Db,
    node: &str,
    job: Job,
    executor: &dyn Executor,
) -> AppResult<Outcome> {
    let ctx = JobContext {
        db: db.clone(),
        cancel: Cancel::new(),
        progress: Arc::new(Progress::default()),
    };
    let beat = {
        let (db, node, progress, cancel, id) = (
            db.clone(),
            node.to_string(),
            ctx.progress.clone(),
            ctx.cancel.clone(),
            job.id,
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT_EVERY).await;
                match heartbeat(&db, id, &node, &progress).await {
                    Ok(true) => cancel.cancel(),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(job = id, error = %e, "heartbeat failed"),
                }
            }
        })
    };
    tracing::info!(job = job.id, provider = %job.provider, kind = %job.kind, "sync job started");
    let result = executor.execute(&job, &ctx).await;
    beat.abort();
    let outcome = match result {
        _ if ctx.cancel.is_cancelled() => Outcome::Cancelled,
        Ok(out) => Outcome::Completed(out),
        Err(e) => Outcome::Failed(format!("{e:#}")),
    };
    finish(db, job.id, node, &ctx.progress, &outcome).await?;
    tracing::info!(job = job.id, outcome = ?outcome, "sync job finished");
    Ok(outcome)
}

/// The background loop of an app node: recover, then claim and run queued jobs.
/// Jobs of different (provider, kind) run side by side.
pub async fn run_worker(
    db: Db,
    node: String,
    executor: Arc<dyn Executor>,
    wake: Arc<tokio::sync::Notify>,
    poll: Duration,
) {
    match recover(&db, &node).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(jobs = n, "marked sync jobs interrupted by the last stop"),
        Err(e) => tracing::error!(error = %e, "sync job recovery failed"),
    }
    loop {
        match claim_next(&db, &node).await {
            Ok(Some(job)) => {
                let (db, node, executor) = (db.clone(), node.clone(), executor.clone());
                tokio::spawn(async move {
                    if let Err(e) = run_claimed(&db, &node, job, executor.as_ref()).await {
                        tracing::error!(error = %e, "recording a sync job's outcome failed");
                    }
                });
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "claiming sync jobs failed"),
        }
        // Other nodes queue jobs too, so poll; a local enqueue rings the bell at once.
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// When the newest successfully completed job of any of these kinds finished (any
/// provider): Beacon's "last ticket sync".
pub async fn last_completed_at(db: &Db, kinds: &[&str]) -> AppResult<Option<String>> {
    let placeholders: Vec<String> = (1..=kinds.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT MAX(finished_at) AS f FROM sync_jobs WHERE status = 'completed' AND kind IN ({})",
        placeholders.join(", ")
    );
    let query = kinds
        .iter()
        .fold(sqlx::query(&sql), |q, kind| q.bind(*kind));
    Ok(query.fetch_one(&db.pool).await?.try_get("f")?)
}
