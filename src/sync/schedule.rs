//! Sync schedules: a cron expression (five fields, UTC) per provider and kind, with the
//! original's defaults (seed 000): base every 4 h, tickets hourly, the light ticket sync
//! every 5 minutes, RMM every 6 h.
//!
//! Every node runs the scheduler; a schedule fires once because enqueuing first moves
//! its `last_enqueued_at` with a compare-and-swap, which only one node can win.

use super::jobs::{self, NewJob};
use crate::auth::Principal;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::http::extract::JsonBody;
use crate::http::AppState;
use crate::time;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::str::FromStr;

/// Which side a kind belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Psa,
    Rmm,
}

/// (kind, default cron, side).
pub const DEFAULTS: &[(&str, &str, Side)] = &[
    ("base", "0 */4 * * *", Side::Psa),
    ("tickets", "0 * * * *", Side::Psa),
    ("tickets_light", "*/5 * * * *", Side::Psa),
    ("rmm", "0 */6 * * *", Side::Rmm),
];

/// Parses a five-field cron expression (minute hour day-of-month month day-of-week).
pub fn parse(expr: &str) -> Result<croner::Cron, String> {
    let fields = expr.split_whitespace().count();
    if fields != 5 {
        return Err(format!(
            "must have five fields (minute hour day month weekday), not {fields}"
        ));
    }
    croner::Cron::from_str(expr.trim()).map_err(|e| format!("is not a cron expression: {e}"))
}

/// The first time strictly after `t` that the expression names.
pub fn next_after(cron: &croner::Cron, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&t, false).ok()
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Schedule {
    pub provider: String,
    pub kind: String,
    pub cron: String,
    pub enabled: bool,
    pub last_enqueued_at: Option<String>,
    /// When it fires next (absent when disabled).
    pub next_run_at: Option<String>,
    pub updated_at: String,
}

fn from_row(r: &AnyRow) -> Result<Schedule, sqlx::Error> {
    let cron: String = r.try_get("cron")?;
    let enabled = crate::db::flag(r, "enabled")?;
    let last: Option<String> = r.try_get("last_enqueued_at")?;
    let updated_at: String = r.try_get("updated_at")?;
    let base = last
        .as_deref()
        .or(Some(updated_at.as_str()))
        .and_then(time::from_db)
        .unwrap_or_else(Utc::now);
    let next_run_at = if enabled {
        parse(&cron)
            .ok()
            .and_then(|c| next_after(&c, base))
            .map(time::to_db)
    } else {
        None
    };
    Ok(Schedule {
        provider: r.try_get("provider")?,
        kind: r.try_get("kind")?,
        cron,
        enabled,
        last_enqueued_at: last,
        next_run_at,
        updated_at,
    })
}

/// Creates the default schedules of every configured provider that has none yet.
pub async fn ensure_defaults(db: &Db, psa: &[String], rmm: &[String]) -> AppResult<()> {
    let now = time::now_db();
    for (kind, cron, side) in DEFAULTS {
        let providers = match side {
            Side::Psa => psa,
            Side::Rmm => rmm,
        };
        for p in providers {
            sqlx::query(
                "INSERT INTO sync_schedules (provider, kind, cron, enabled, updated_at) VALUES ($1, $2, $3, 1, $4) \
                 ON CONFLICT (provider, kind) DO NOTHING",
            )
            .bind(p)
            .bind(*kind)
            .bind(*cron)
            .bind(&now)
            .execute(&db.pool)
            .await?;
        }
    }
    Ok(())
}

pub async fn list(db: &Db) -> AppResult<Vec<Schedule>> {
    let rows = sqlx::query("SELECT * FROM sync_schedules ORDER BY provider, kind")
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

async fn get(db: &Db, provider: &str, kind: &str) -> AppResult<Option<Schedule>> {
    let r = sqlx::query("SELECT * FROM sync_schedules WHERE provider = $1 AND kind = $2")
        .bind(provider)
        .bind(kind)
        .fetch_optional(&db.pool)
        .await?;
    Ok(r.map(|r| from_row(&r)).transpose()?)
}

/// Enqueues the jobs whose time has come; returns their ids.
pub async fn tick(db: &Db, now: DateTime<Utc>) -> AppResult<Vec<i64>> {
    let mut fired = Vec::new();
    let rows = sqlx::query("SELECT * FROM sync_schedules WHERE enabled = 1")
        .fetch_all(&db.pool)
        .await?;
    for r in rows {
        let s = from_row(&r)?;
        let due = s
            .next_run_at
            .as_deref()
            .and_then(time::from_db)
            .is_some_and(|next| next <= now);
        if !due {
            continue;
        }
        // Compare-and-swap on the previous value: of several nodes, one enqueues.
        let won = sqlx::query(
            "UPDATE sync_schedules SET last_enqueued_at = $1 WHERE provider = $2 AND kind = $3 \
             AND (last_enqueued_at = $4 OR (last_enqueued_at IS NULL AND $4 IS NULL))",
        )
        .bind(time::to_db(now))
        .bind(&s.provider)
        .bind(&s.kind)
        .bind(&s.last_enqueued_at)
        .execute(&db.pool)
        .await?
        .rows_affected();
        if won == 1 {
            let job = jobs::enqueue(
                db,
                &NewJob {
                    provider: &s.provider,
                    kind: &s.kind,
                    triggered_by: "schedule",
                    full_sync: false,
                    requested_by: None,
                },
            )
            .await?;
            fired.push(job.id);
        }
    }
    Ok(fired)
}

/// The scheduler loop of a node.
pub async fn run_scheduler(db: Db, sync: std::sync::Arc<super::SyncService>) {
    loop {
        match tick(&db, Utc::now()).await {
            Ok(ids) if !ids.is_empty() => sync.wake(),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "sync scheduler tick failed"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(20)).await;
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleInput {
    /// Five-field cron expression, UTC.
    pub cron: Option<String>,
    pub enabled: Option<bool>,
}

/// Every sync schedule with its next run.
#[utoipa::path(get, path = "/codex/admin/sync-schedules", tag = "sync",
    responses((status = 200, body = [Schedule]), (status = 403, body = crate::error::Problem)))]
pub async fn list_schedules(
    State(state): State<AppState>,
    who: Principal,
) -> AppResult<Json<Vec<Schedule>>> {
    who.require_master_write()?;
    ensure_defaults(
        &state.db,
        &state.sync.engine.psa_names(),
        &state.sync.engine.rmm_names(),
    )
    .await?;
    Ok(Json(list(&state.db).await?))
}

/// Changes a schedule's expression or turns it on or off (admin).
#[utoipa::path(put, path = "/codex/admin/sync-schedules/{provider}/{kind}", tag = "sync",
    params(("provider" = String, Path), ("kind" = String, Path)), request_body = ScheduleInput,
    responses((status = 200, body = Schedule), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn update_schedule(
    State(state): State<AppState>,
    _admin: crate::auth::AdminOnly,
    Path((provider, kind)): Path<(String, String)>,
    JsonBody(input): JsonBody<ScheduleInput>,
) -> AppResult<Json<Schedule>> {
    set(&state, &provider, &kind, &input).await.map(Json)
}

/// Changes a schedule's cron expression and/or enabled flag (validated first).
pub async fn set(
    state: &AppState,
    provider: &str,
    kind: &str,
    input: &ScheduleInput,
) -> AppResult<Schedule> {
    ensure_defaults(
        &state.db,
        &state.sync.engine.psa_names(),
        &state.sync.engine.rmm_names(),
    )
    .await?;
    let current = get(&state.db, provider, kind)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no {kind} schedule for {provider}")))?;
    let cron = match &input.cron {
        Some(c) => {
            parse(c).map_err(|m| AppError::invalid("cron", m))?;
            c.split_whitespace().collect::<Vec<_>>().join(" ")
        }
        None => current.cron,
    };
    let enabled = input.enabled.unwrap_or(current.enabled);
    sqlx::query("UPDATE sync_schedules SET cron = $1, enabled = $2, updated_at = $3 WHERE provider = $4 AND kind = $5")
        .bind(&cron)
        .bind(enabled as i64)
        .bind(time::now_db())
        .bind(provider)
        .bind(kind)
        .execute(&state.db.pool)
        .await?;
    get(&state.db, provider, kind)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("schedule vanished")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn five_fields_are_required_and_checked() {
        assert!(parse("*/5 * * * *").is_ok());
        assert!(parse("0 */4 * * *").is_ok());
        assert!(parse("* * * *").unwrap_err().contains("five fields"));
        assert!(parse("0 0 * * * *").unwrap_err().contains("five fields"));
        assert!(parse("61 * * * *").is_err());
    }

    #[test]
    fn defaults_fire_when_the_original_did() {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 13, 7, 0).unwrap();
        let next = |e: &str| next_after(&parse(e).unwrap(), t).unwrap();
        assert_eq!(
            next("0 */4 * * *"),
            Utc.with_ymd_and_hms(2026, 3, 1, 16, 0, 0).unwrap()
        );
        assert_eq!(
            next("0 * * * *"),
            Utc.with_ymd_and_hms(2026, 3, 1, 14, 0, 0).unwrap()
        );
        assert_eq!(
            next("*/5 * * * *"),
            Utc.with_ymd_and_hms(2026, 3, 1, 13, 10, 0).unwrap()
        );
        assert_eq!(
            next("0 */6 * * *"),
            Utc.with_ymd_and_hms(2026, 3, 1, 18, 0, 0).unwrap()
        );
    }
}
