//! Bulk acceptance of a month as durable jobs, and the monthly schedule.
//!
//! A job is a `ledger_jobs` row: queued → running → completed/failed, with a result per
//! company (accepted, skipped because already archived or not billable, failed). Any
//! node may run a queued job; claiming it is a compare-and-swap on its status, so one
//! node runs it. A running job whose heartbeat stops (node died) is queued again and
//! resumed: companies it already accepted are found by the snapshot's `job_id` and
//! counted as accepted, so a company is never billed twice.
//!
//! The schedule (`day_of_month`, `hour`, UTC; by default the previous month) is checked
//! by every node each minute; a period fires once across nodes because the first node
//! to insert the `schedule_fired:<YYYY-MM>` setting wins.

use super::http::period_of;
use super::load;
use super::model::BillingPeriod;
use super::snapshots;
use super::store;
use crate::auth::{BillingWriter, Principal};
use crate::codex::companies;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type Problem = crate::error::Problem;

/// A running job whose heartbeat is older than this is taken over.
const STALE_SECS: i64 = 120;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompanyResult {
    pub account_number: String,
    pub company_name: String,
    /// accepted, skipped or failed
    pub status: String,
    pub invoice_number: String,
    pub snapshot_id: Option<i64>,
    pub total: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Job {
    pub id: i64,
    /// manual or schedule
    pub triggered_by: String,
    /// queued, running, completed, failed
    pub status: String,
    pub billing_year: i64,
    pub billing_month: i64,
    /// `null`: every company.
    pub account_numbers: Option<Vec<String>>,
    pub requested_by: Option<String>,
    pub node_id: Option<String>,
    pub total_companies: i64,
    pub accepted: i64,
    pub skipped: i64,
    pub failed: i64,
    pub results: Vec<CompanyResult>,
    pub error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub heartbeat_at: Option<String>,
    pub finished_at: Option<String>,
}

fn from_row(r: &AnyRow) -> Result<Job, sqlx::Error> {
    let accounts: Option<String> = r.try_get("account_numbers")?;
    let results: String = r.try_get("results")?;
    Ok(Job {
        id: r.try_get("id")?,
        triggered_by: r.try_get("triggered_by")?,
        status: r.try_get("status")?,
        billing_year: r.try_get("billing_year")?,
        billing_month: r.try_get("billing_month")?,
        account_numbers: accounts.and_then(|a| serde_json::from_str(&a).ok()),
        requested_by: r.try_get("requested_by")?,
        node_id: r.try_get("node_id")?,
        total_companies: r.try_get("total_companies")?,
        accepted: r.try_get("accepted")?,
        skipped: r.try_get("skipped")?,
        failed: r.try_get("failed")?,
        results: serde_json::from_str(&results).unwrap_or_default(),
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
        started_at: r.try_get("started_at")?,
        heartbeat_at: r.try_get("heartbeat_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

pub async fn get(db: &Db, id: i64) -> AppResult<Option<Job>> {
    let row = sqlx::query("SELECT * FROM ledger_jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| from_row(&r)).transpose()?)
}

pub async fn enqueue(
    db: &Db,
    triggered_by: &str,
    period: BillingPeriod,
    accounts: Option<&[String]>,
    requested_by: Option<&str>,
) -> AppResult<Job> {
    let accounts = accounts
        .map(serde_json::to_string)
        .transpose()
        .map_err(anyhow::Error::from)?;
    let id: i64 = sqlx::query(
        "INSERT INTO ledger_jobs (triggered_by, status, billing_year, billing_month, account_numbers, \
         requested_by, created_at) VALUES ($1, 'queued', $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(triggered_by)
    .bind(period.year as i64)
    .bind(period.month as i64)
    .bind(accounts)
    .bind(requested_by)
    .bind(crate::time::now_db())
    .fetch_one(&db.pool)
    .await?
    .try_get(0)?;
    get(db, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("job {id} vanished")))
}

fn node_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| format!("ledger-{}", crate::auth::random_hex(6)))
        .clone()
}

/// Queues again the running jobs whose runner stopped sending heartbeats.
pub async fn recover_stale(db: &Db, now: DateTime<Utc>) -> AppResult<u64> {
    let cutoff = crate::time::to_db(now - chrono::Duration::seconds(STALE_SECS));
    Ok(sqlx::query(
        "UPDATE ledger_jobs SET status = 'queued', node_id = NULL \
         WHERE status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < $1)",
    )
    .bind(cutoff)
    .execute(&db.pool)
    .await?
    .rows_affected())
}

/// Claims and runs queued jobs until none is left. Returns how many this node ran.
pub async fn run_queued(db: &Db) -> AppResult<usize> {
    let mut ran = 0;
    loop {
        let next: Option<i64> =
            sqlx::query("SELECT id FROM ledger_jobs WHERE status = 'queued' ORDER BY id LIMIT 1")
                .fetch_optional(&db.pool)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
        let Some(id) = next else { return Ok(ran) };
        let now = crate::time::now_db();
        let claimed = sqlx::query(
            "UPDATE ledger_jobs SET status = 'running', node_id = $1, started_at = COALESCE(started_at, $2), \
             heartbeat_at = $2 WHERE id = $3 AND status = 'queued'",
        )
        .bind(node_id())
        .bind(&now)
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected();
        if claimed == 1 {
            if let Err(e) = run(db, id).await {
                tracing::error!(job = id, error = %e, "ledger job failed");
                sqlx::query(
                    "UPDATE ledger_jobs SET status = 'failed', error = $1, finished_at = $2 WHERE id = $3",
                )
                .bind(e.to_string())
                .bind(crate::time::now_db())
                .bind(id)
                .execute(&db.pool)
                .await?;
            }
            ran += 1;
        }
    }
}

async fn progress(db: &Db, id: i64, results: &[CompanyResult], done: bool) -> AppResult<()> {
    let count = |s: &str| results.iter().filter(|r| r.status == s).count() as i64;
    let now = crate::time::now_db();
    sqlx::query(
        "UPDATE ledger_jobs SET results = $1, accepted = $2, skipped = $3, failed = $4, heartbeat_at = $5, \
         status = CASE WHEN $6 = 1 THEN 'completed' ELSE status END, \
         finished_at = CASE WHEN $6 = 1 THEN $5 ELSE finished_at END WHERE id = $7",
    )
    .bind(serde_json::to_string(results).map_err(anyhow::Error::from)?)
    .bind(count("accepted"))
    .bind(count("skipped"))
    .bind(count("failed"))
    .bind(now)
    .bind(done as i64)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Runs one claimed job: every selected company's bill is accepted unless it is already
/// archived (skipped) or cannot be priced (failed, with the reason).
async fn run(db: &Db, id: i64) -> AppResult<()> {
    let job = get(db, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("job {id}")))?;
    let period = BillingPeriod::new(job.billing_year as i32, job.billing_month as u32)
        .ok_or_else(|| AppError::invalid("month", "invalid period"))?;
    let mut all = companies::list_live(db).await?;
    let mut results = Vec::new();
    if let Some(wanted) = &job.account_numbers {
        for a in wanted {
            if !all.iter().any(|c| &c.account_number == a) {
                results.push(CompanyResult {
                    account_number: a.clone(),
                    company_name: String::new(),
                    status: "failed".into(),
                    invoice_number: super::invoice::invoice_number(a, period),
                    snapshot_id: None,
                    total: None,
                    message: Some("company not found".into()),
                });
            }
        }
        all.retain(|c| wanted.contains(&c.account_number));
    }
    sqlx::query("UPDATE ledger_jobs SET total_companies = $1 WHERE id = $2")
        .bind((all.len() + results.len()) as i64)
        .bind(id)
        .execute(&db.pool)
        .await?;
    let loaded = load::load(db, &all, period).await?;
    let created_by = match &job.requested_by {
        Some(who) => format!("{who} (bulk job {id})"),
        None => format!("scheduler (bulk job {id})"),
    };
    for (i, l) in loaded.iter().enumerate() {
        let bill = l.bill();
        let number = super::invoice::invoice_number(&bill.account_number, period);
        let mut r = CompanyResult {
            account_number: bill.account_number.clone(),
            company_name: bill.company_name.clone(),
            status: String::new(),
            invoice_number: number.clone(),
            snapshot_id: None,
            total: None,
            message: None,
        };
        if let Some(e) = &bill.error {
            r.status = "failed".into();
            r.message = Some(e.clone());
        } else if let Some(s) = snapshots::active(db, &number).await? {
            r.snapshot_id = Some(s.id);
            r.total = Some(s.total_amount.clone());
            if s.job_id == Some(id) {
                r.status = "accepted".into();
            } else {
                r.status = "skipped".into();
                r.message = Some("already archived".into());
            }
        } else {
            match snapshots::accept_bill(db, None, &created_by, l, &bill, None, Some(id)).await {
                Ok(s) => {
                    r.status = "accepted".into();
                    r.snapshot_id = Some(s.id);
                    r.total = Some(s.total_amount);
                }
                Err(AppError::Conflict(m)) => {
                    r.status = "skipped".into();
                    r.message = Some(m);
                }
                Err(e) => {
                    r.status = "failed".into();
                    r.message = Some(e.to_string());
                }
            }
        }
        results.push(r);
        if i % 25 == 24 {
            progress(db, id, &results, false).await?;
        }
    }
    progress(db, id, &results, true).await
}

/// Starts this node's Ledger worker: every 15 s it takes over stale jobs, fires the
/// schedule when due and runs queued jobs.
pub fn spawn_worker(db: Db) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let now = Utc::now();
            if let Err(e) = recover_stale(&db, now).await {
                tracing::error!(error = %e, "ledger job recovery failed");
            }
            if let Err(e) = tick(&db, now).await {
                tracing::error!(error = %e, "ledger schedule failed");
            }
            if let Err(e) = run_queued(&db).await {
                tracing::error!(error = %e, "ledger jobs failed");
            }
            tokio::time::sleep(std::time::Duration::from_secs(15)).await;
        }
    })
}

// ---------------------------------------------------------------------------
// Schedule
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduleConfig {
    pub enabled: bool,
    /// 1-31; in shorter months the last day.
    pub day_of_month: u32,
    /// 0-23, UTC.
    pub hour: u32,
    /// Accept the previous month (default) rather than the current one.
    pub snapshot_previous_month: bool,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            enabled: false,
            day_of_month: 1,
            hour: 2,
            snapshot_previous_month: true,
        }
    }
}

pub async fn schedule(db: &Db) -> AppResult<ScheduleConfig> {
    Ok(store::setting(db, "schedule")
        .await?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

fn previous(p: BillingPeriod) -> BillingPeriod {
    if p.month == 1 {
        BillingPeriod::new(p.year - 1, 12).unwrap_or(p)
    } else {
        BillingPeriod::new(p.year, p.month - 1).unwrap_or(p)
    }
}

/// The period the schedule bills at `now`, if its time this month has come.
pub fn due(cfg: &ScheduleConfig, now: DateTime<Utc>) -> Option<BillingPeriod> {
    if !cfg.enabled {
        return None;
    }
    let this = BillingPeriod::of(now);
    let last = this.last_day()?.day();
    let day = cfg.day_of_month.clamp(1, last);
    let reached = now.day() > day || (now.day() == day && now.hour() >= cfg.hour);
    reached.then(|| {
        if cfg.snapshot_previous_month {
            previous(this)
        } else {
            this
        }
    })
}

/// Enqueues the scheduled job when due and not yet fired for its period (on any node).
pub async fn tick(db: &Db, now: DateTime<Utc>) -> AppResult<Option<Job>> {
    let cfg = schedule(db).await?;
    let Some(period) = due(&cfg, now) else {
        return Ok(None);
    };
    let won = sqlx::query(
        "INSERT INTO ledger_settings (key, value, updated_at) VALUES ($1, $2, $2) ON CONFLICT (key) DO NOTHING",
    )
    .bind(format!("schedule_fired:{period}"))
    .bind(crate::time::to_db(now))
    .execute(&db.pool)
    .await?
    .rows_affected();
    if won != 1 {
        return Ok(None);
    }
    Ok(Some(enqueue(db, "schedule", period, None, None).await?))
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct BulkInput {
    pub year: Option<i32>,
    pub month: Option<u32>,
    /// Only these companies (default: every live company).
    pub account_numbers: Option<Vec<String>>,
}

/// Accepts every company's bill for a month as a durable job (202 with the job; poll
/// `/ledger/archive/api/scheduler/jobs/{id}` for per-company results).
#[utoipa::path(post, path = "/ledger/archive/api/snapshots/bulk/create", tag = "ledger", request_body = BulkInput,
    responses((status = 202, body = Job), (status = 422, body = Problem)))]
pub async fn bulk_create(
    State(state): State<AppState>,
    BillingWriter(who): BillingWriter,
    JsonBody(input): JsonBody<BulkInput>,
) -> AppResult<(StatusCode, Json<Job>)> {
    let mut errors = crate::error::FieldErrors::new();
    if input.year.is_none() {
        errors.insert("year".into(), "is required".into());
    }
    if input.month.is_none() {
        errors.insert("month".into(), "is required".into());
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let period = period_of(input.year, input.month)?;
    let job = enqueue(
        &state.db,
        "manual",
        period,
        input.account_numbers.as_deref(),
        Some(&who.email),
    )
    .await?;
    let db = state.db.clone();
    tokio::spawn(async move {
        if let Err(e) = run_queued(&db).await {
            tracing::error!(error = %e, "ledger jobs failed");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(job)))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// 1..=100, default 50.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobList {
    pub total: i64,
    pub jobs: Vec<Job>,
}

#[utoipa::path(get, path = "/ledger/archive/api/scheduler/jobs", tag = "ledger", params(JobQuery),
    responses((status = 200, body = JobList)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    who: Principal,
    QueryParams(q): QueryParams<JobQuery>,
) -> AppResult<Json<JobList>> {
    who.require_billing_write()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(AppError::invalid("limit", "must be 1-100"));
    }
    let offset = q.offset.unwrap_or(0).max(0);
    let total: i64 = sqlx::query("SELECT COUNT(*) FROM ledger_jobs")
        .fetch_one(&state.db.pool)
        .await?
        .try_get(0)?;
    let rows = sqlx::query("SELECT * FROM ledger_jobs ORDER BY id DESC LIMIT $1 OFFSET $2")
        .bind(limit)
        .bind(offset)
        .fetch_all(&state.db.pool)
        .await?;
    Ok(Json(JobList {
        total,
        jobs: rows.iter().map(from_row).collect::<Result<_, _>>()?,
    }))
}

#[utoipa::path(get, path = "/ledger/archive/api/scheduler/jobs/{id}", tag = "ledger",
    params(("id" = i64, Path)), responses((status = 200, body = Job), (status = 404, body = Problem)))]
pub async fn get_job(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Job>> {
    who.require_billing_write()?;
    Ok(Json(get(&state.db, id).await?.ok_or_else(|| {
        AppError::not_found(format!("job {id} not found"))
    })?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduleStatus {
    #[serde(flatten)]
    pub config: ScheduleConfig,
    /// The period the next run will bill and when (`null` when disabled).
    pub next_run_at: Option<String>,
    pub last_run: Option<Job>,
}

fn next_run(cfg: &ScheduleConfig, now: DateTime<Utc>) -> Option<String> {
    if !cfg.enabled {
        return None;
    }
    let mut p = BillingPeriod::of(now);
    for _ in 0..3 {
        let last = p.last_day()?.day();
        let at = p
            .first_day()?
            .with_day(cfg.day_of_month.clamp(1, last))?
            .and_hms_opt(cfg.hour.min(23), 0, 0)?
            .and_utc();
        if at > now {
            return Some(crate::time::to_db(at));
        }
        p = p.next()?;
    }
    None
}

async fn schedule_status(db: &Db) -> AppResult<ScheduleStatus> {
    let config = schedule(db).await?;
    let last = sqlx::query(
        "SELECT * FROM ledger_jobs WHERE triggered_by = 'schedule' ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(&db.pool)
    .await?
    .map(|r| from_row(&r))
    .transpose()?;
    Ok(ScheduleStatus {
        next_run_at: next_run(&config, Utc::now()),
        config,
        last_run: last,
    })
}

#[utoipa::path(get, path = "/ledger/archive/api/scheduler/config", tag = "ledger",
    responses((status = 200, body = ScheduleStatus)))]
pub async fn get_schedule(
    State(state): State<AppState>,
    who: Principal,
) -> AppResult<Json<ScheduleStatus>> {
    who.require_billing_write()?;
    Ok(Json(schedule_status(&state.db).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ScheduleInput {
    pub enabled: Option<bool>,
    pub day_of_month: Option<u32>,
    pub hour: Option<u32>,
    pub snapshot_previous_month: Option<bool>,
}

/// Changes the monthly acceptance schedule (fields left out keep their value).
#[utoipa::path(post, path = "/ledger/archive/api/scheduler/config", tag = "ledger", request_body = ScheduleInput,
    responses((status = 200, body = ScheduleStatus), (status = 422, body = Problem)))]
pub async fn set_schedule(
    State(state): State<AppState>,
    BillingWriter(who): BillingWriter,
    JsonBody(input): JsonBody<ScheduleInput>,
) -> AppResult<Json<ScheduleStatus>> {
    let before = schedule(&state.db).await?;
    let mut cfg = before.clone();
    let mut errors = crate::error::FieldErrors::new();
    if let Some(d) = input.day_of_month {
        if (1..=31).contains(&d) {
            cfg.day_of_month = d;
        } else {
            errors.insert("day_of_month".into(), "must be 1-31".into());
        }
    }
    if let Some(h) = input.hour {
        if h <= 23 {
            cfg.hour = h;
        } else {
            errors.insert("hour".into(), "must be 0-23".into());
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    if let Some(e) = input.enabled {
        cfg.enabled = e;
    }
    if let Some(p) = input.snapshot_previous_month {
        cfg.snapshot_previous_month = p;
    }
    let mut tx = state.db.pool.begin().await?;
    store::set_setting(
        &mut tx,
        "schedule",
        &serde_json::to_string(&cfg).map_err(anyhow::Error::from)?,
    )
    .await?;
    crate::audit::record(
        &mut tx,
        Some(&who),
        crate::audit::Change {
            module: "ledger",
            action: crate::audit::Action::Update,
            entity: "schedule",
            entity_id: "schedule".into(),
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&cfg).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Json(schedule_status(&state.db).await?))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(bulk_create))
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(get_schedule, set_schedule))
}
