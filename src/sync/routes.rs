//! HTTP for sync: the original's trigger and status paths (`/codex/sync/…`) and the job
//! list (`/codex/admin/sync-jobs`). Triggers only queue a durable job and answer 202;
//! the worker of whichever node claims it does the work.
//!
//! Roles: admins trigger everything and cancel; technicians may start a ticket sync
//! (Beacon's button) and read job status; nobody else sees sync.

use super::jobs::{self, Job, JobQuery, NewJob};
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::http::extract::{OptionalJsonBody, QueryParams};
use crate::http::pagination::Page;
use crate::http::AppState;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TriggerInput {
    /// `freshservice`, `superops`, `datto`…; default: the one configured.
    pub provider: Option<String>,
    /// Re-read everything instead of changes since the last run.
    pub full: bool,
    /// Tickets only: the light sync of active tickets.
    pub light: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Triggered {
    pub success: bool,
    pub job_id: i64,
    pub message: String,
    pub job: Job,
}

/// Which provider a trigger means: the one named (it must be configured), else the only
/// one configured for that side.
pub fn pick_provider(configured: &[String], asked: Option<&str>, side: &str) -> AppResult<String> {
    match asked.map(|a| a.trim().to_lowercase()) {
        Some(a) if configured.contains(&a) => Ok(a),
        Some(a) => Err(AppError::invalid(
            "provider",
            format!(
                "{a} is not a configured {side}; configured: {}",
                list_or_none(configured)
            ),
        )),
        None => match configured {
            [one] => Ok(one.clone()),
            [] => Err(AppError::Conflict(format!(
                "no {side} is configured; add one in the settings first"
            ))),
            many => Err(AppError::invalid(
                "provider",
                format!(
                    "several {side}s are configured, name one of: {}",
                    many.join(", ")
                ),
            )),
        },
    }
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Queues a job (or returns the one already queued) and wakes the worker.
pub async fn trigger(
    state: &AppState,
    who: &Principal,
    provider: String,
    kind: &str,
    full: bool,
) -> AppResult<(StatusCode, Json<Triggered>)> {
    let job = jobs::enqueue(
        &state.db,
        &NewJob {
            provider: &provider,
            kind,
            triggered_by: "manual",
            full_sync: full,
            requested_by: Some(&who.email),
        },
    )
    .await?;
    state.sync.wake();
    Ok((
        StatusCode::ACCEPTED,
        Json(Triggered {
            success: true,
            job_id: job.id,
            message: format!("{kind} sync of {provider} queued as job {}", job.id),
            job,
        }),
    ))
}

/// Queues a PSA base sync (companies, contacts, agents).
#[utoipa::path(post, path = "/codex/sync/psa", tag = "sync", request_body = Option<TriggerInput>,
    responses((status = 202, body = Triggered), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn sync_psa(
    State(state): State<AppState>,
    crate::auth::AdminOnly(who): crate::auth::AdminOnly,
    OptionalJsonBody(input): OptionalJsonBody<TriggerInput>,
) -> AppResult<(StatusCode, Json<Triggered>)> {
    let provider = pick_provider(
        &state.sync.engine.psa_names(),
        input.provider.as_deref(),
        "PSA",
    )?;
    trigger(&state, &who, provider, "base", input.full).await
}

/// Queues a ticket sync (incremental; `full` re-reads all, `light` only active tickets).
#[utoipa::path(post, path = "/codex/sync/tickets", tag = "sync", request_body = Option<TriggerInput>,
    responses((status = 202, body = Triggered), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)))]
pub async fn sync_tickets(
    State(state): State<AppState>,
    crate::auth::MasterWriter(who): crate::auth::MasterWriter,
    OptionalJsonBody(input): OptionalJsonBody<TriggerInput>,
) -> AppResult<(StatusCode, Json<Triggered>)> {
    if input.full && input.light {
        return Err(AppError::invalid(
            "light",
            "a light sync cannot also be full",
        ));
    }
    let provider = pick_provider(
        &state.sync.engine.psa_names(),
        input.provider.as_deref(),
        "PSA",
    )?;
    let kind = if input.light {
        "tickets_light"
    } else {
        "tickets"
    };
    trigger(&state, &who, provider, kind, input.full).await
}

/// Queues an RMM sync (sites → company links, devices → assets).
#[utoipa::path(post, path = "/codex/sync/rmm", tag = "sync", request_body = Option<TriggerInput>,
    responses((status = 202, body = Triggered), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)))]
pub async fn sync_rmm(
    State(state): State<AppState>,
    crate::auth::AdminOnly(who): crate::auth::AdminOnly,
    OptionalJsonBody(input): OptionalJsonBody<TriggerInput>,
) -> AppResult<(StatusCode, Json<Triggered>)> {
    let provider = pick_provider(
        &state.sync.engine.rmm_names(),
        input.provider.as_deref(),
        "RMM",
    )?;
    trigger(&state, &who, provider, "rmm", input.full).await
}

/// Queues the push of account numbers to the RMM's site variables.
#[utoipa::path(post, path = "/codex/sync/push-account-numbers", tag = "sync", request_body = Option<TriggerInput>,
    responses((status = 202, body = Triggered), (status = 403, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)))]
pub async fn push_account_numbers(
    State(state): State<AppState>,
    crate::auth::AdminOnly(who): crate::auth::AdminOnly,
    OptionalJsonBody(input): OptionalJsonBody<TriggerInput>,
) -> AppResult<(StatusCode, Json<Triggered>)> {
    let provider = pick_provider(
        &state.sync.engine.rmm_names(),
        input.provider.as_deref(),
        "RMM",
    )?;
    trigger(&state, &who, provider, "push_account_numbers", false).await
}

/// The original's `/sync/freshservice`: a base sync of Freshservice.
pub async fn sync_freshservice_alias(
    State(state): State<AppState>,
    who: Principal,
) -> AppResult<(StatusCode, Json<Triggered>)> {
    who.require_admin()?;
    let provider = pick_provider(&state.sync.engine.psa_names(), Some("freshservice"), "PSA")?;
    trigger(&state, &who, provider, "base", false).await
}

/// The original's `/sync/datto`: an RMM sync of Datto.
pub async fn sync_datto_alias(
    State(state): State<AppState>,
    who: Principal,
) -> AppResult<(StatusCode, Json<Triggered>)> {
    who.require_admin()?;
    let provider = pick_provider(&state.sync.engine.rmm_names(), Some("datto"), "RMM")?;
    trigger(&state, &who, provider, "rmm", false).await
}

/// Sync jobs, newest first.
#[utoipa::path(get, path = "/codex/admin/sync-jobs", tag = "sync", params(JobQuery),
    responses((status = 200, body = [Job], headers(("X-Total-Count" = i64, description = "matching jobs"))),
              (status = 403, body = crate::error::Problem)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    who: Principal,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<JobQuery>,
) -> AppResult<(HeaderMap, Json<Vec<Job>>)> {
    who.require_master_write()?;
    let page = Page::new(q.limit, q.offset, 50, 500)?;
    let (list, total) = jobs::list(&state.db, &q, page).await?;
    let uri = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    Ok((page.headers(total, uri), Json(list)))
}

async fn visible_job(state: &AppState, who: &Principal, id: i64) -> AppResult<Job> {
    who.require_master_write()?;
    jobs::get(&state.db, id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("sync job {id} not found")))
}

/// One job with its progress, request figures, output and error.
#[utoipa::path(get, path = "/codex/admin/sync-jobs/{id}", tag = "sync", params(("id" = i64, Path)),
    responses((status = 200, body = Job), (status = 404, body = crate::error::Problem)))]
pub async fn get_job(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Job>> {
    Ok(Json(visible_job(&state, &who, id).await?))
}

/// Asks a job to stop (a queued one is cancelled at once).
#[utoipa::path(post, path = "/codex/admin/sync-jobs/{id}/cancel", tag = "sync", params(("id" = i64, Path)),
    responses((status = 200, body = Job), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem)))]
pub async fn cancel_job(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Job>> {
    who.require_admin()?;
    Ok(Json(jobs::request_cancel(&state.db, id).await?))
}

/// The original's status shape: `{id, script, status, started_at, completed_at, output, error, success}`.
#[utoipa::path(get, path = "/codex/sync/status/{job_id}", tag = "sync", params(("job_id" = i64, Path)),
    responses((status = 200, description = "the job in the original's shape plus `job`"),
              (status = 404, body = crate::error::Problem)))]
pub async fn status(
    State(state): State<AppState>,
    who: Principal,
    Path(job_id): Path<i64>,
) -> AppResult<Json<serde_json::Value>> {
    let job = visible_job(&state, &who, job_id).await?;
    Ok(Json(serde_json::json!({
        "id": job.id,
        "script": format!("{}:{}", job.provider, job.kind),
        "status": job.status,
        "started_at": job.started_at,
        "completed_at": job.finished_at,
        "output": job.output,
        "error": job.error,
        "success": job.status == "completed",
        "job": job,
    })))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PsaConfig {
    /// Per configured PSA: its link templates (null when the client has none).
    #[schema(value_type = Object)]
    pub providers: std::collections::BTreeMap<String, Option<super::provider::PsaLinks>>,
    /// The PSA used when none is named (the only one configured), if any.
    pub default_provider: Option<String>,
}

/// Which PSAs are configured and how to link into their pages (Beacon's ticket links).
/// Secrets are never part of it.
#[utoipa::path(get, path = "/codex/api/psa/config", tag = "sync",
    responses((status = 200, body = PsaConfig), (status = 403, body = crate::error::Problem)))]
pub async fn psa_config(
    State(state): State<AppState>,
    who: Principal,
) -> AppResult<Json<PsaConfig>> {
    who.require_staff()?;
    let providers = state.sync.engine.psa_links();
    let default_provider = (providers.len() == 1)
        .then(|| providers.keys().next().cloned())
        .flatten();
    Ok(Json(PsaConfig {
        providers,
        default_provider,
    }))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sync_psa))
        .routes(routes!(sync_tickets))
        .routes(routes!(sync_rmm))
        .routes(routes!(push_account_numbers))
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(cancel_job))
        .routes(routes!(status))
        .routes(routes!(psa_config))
        .routes(routes!(super::schedule::list_schedules))
        .routes(routes!(super::schedule::update_schedule))
        .routes(routes!(super::settings::list_providers))
        .routes(routes!(
            super::settings::get_provider,
            super::settings::put_provider,
            super::settings::delete_provider
        ))
        .route(
            "/codex/sync/freshservice",
            axum::routing::post(sync_freshservice_alias),
        )
        .route("/codex/sync/datto", axum::routing::post(sync_datto_alias))
        .merge(super::webhook::routes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_is_the_named_or_the_only_one() {
        let one = vec!["freshservice".to_string()];
        assert_eq!(pick_provider(&one, None, "PSA").unwrap(), "freshservice");
        assert_eq!(
            pick_provider(&one, Some("FreshService"), "PSA").unwrap(),
            "freshservice"
        );
        assert!(matches!(
            pick_provider(&one, Some("superops"), "PSA"),
            Err(AppError::Validation(_))
        ));
        assert!(matches!(
            pick_provider(&[], None, "PSA"),
            Err(AppError::Conflict(_))
        ));
        let two = vec!["freshservice".to_string(), "superops".to_string()];
        assert!(matches!(
            pick_provider(&two, None, "PSA"),
            Err(AppError::Validation(_))
        ));
    }
}
