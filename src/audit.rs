//! The audit log: every write records who, when, what, and the record before and after.
//! Writers call `record` inside the transaction that makes the change, so a change
//! and its audit row commit or roll back together.

use crate::auth::Principal;
use crate::db::Db;
use crate::error::AppResult;
use crate::http::extract::QueryParams;
use crate::http::pagination::Page;
use crate::http::AppState;
use axum::extract::{OriginalUri, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// A change to record. `before`/`after` are the whole record as the API shows it.
pub struct Change<'a> {
    pub module: &'a str,
    pub action: Action,
    pub entity: &'a str,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

pub async fn record(
    conn: &mut AnyConnection,
    who: Option<&Principal>,
    change: Change<'_>,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor_user_id, actor_email, module, action, entity, entity_id, \
         before_json, after_json, correlation_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(crate::time::now_db())
    .bind(who.map(|p| p.user_id))
    .bind(who.map(|p| p.email.clone()))
    .bind(change.module)
    .bind(change.action.as_str())
    .bind(change.entity)
    .bind(change.entity_id)
    .bind(change.before.map(|v| v.to_string()))
    .bind(change.after.map(|v| v.to_string()))
    .bind(who.and_then(|p| p.correlation_id.clone()))
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Entity kind: company, contact, asset, location, billing_plan, …
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    /// E-mail of the user who made the change.
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Inclusive lower bound (RFC 3339).
    pub since: Option<String>,
    /// Exclusive upper bound (RFC 3339).
    pub until: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor_user_id: Option<i64>,
    pub actor_email: Option<String>,
    pub module: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub correlation_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// One page of audit entries matching `q` (its `limit`/`offset` are ignored: `page`
/// rules), newest first, and the total. The caller checks who may read them.
pub async fn query(db: &Db, q: &AuditQuery, page: Page) -> AppResult<(Vec<AuditEntry>, i64)> {
    let since = q
        .since
        .as_deref()
        .map(|s| {
            crate::validate::timestamp(s).map_err(|m| crate::error::AppError::invalid("since", m))
        })
        .transpose()?;
    let until = q
        .until
        .as_deref()
        .map(|s| {
            crate::validate::timestamp(s).map_err(|m| crate::error::AppError::invalid("until", m))
        })
        .transpose()?;
    let filter = "WHERE ($1 IS NULL OR entity = $1) AND ($2 IS NULL OR entity_id = $2) \
                  AND ($3 IS NULL OR actor_email = $3) AND ($4 IS NULL OR action = $4) \
                  AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR at < $6)";
    let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM audit_log {filter}"))
        .bind(&q.entity)
        .bind(&q.entity_id)
        .bind(q.actor.as_ref().map(|a| a.trim().to_lowercase()))
        .bind(&q.action)
        .bind(&since)
        .bind(&until)
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let rows = sqlx::query(&format!(
        "SELECT id, at, actor_user_id, actor_email, module, action, entity, entity_id, before_json, \
         after_json, correlation_id FROM audit_log {filter} ORDER BY id DESC LIMIT $7 OFFSET $8"
    ))
    .bind(&q.entity)
    .bind(&q.entity_id)
    .bind(q.actor.as_ref().map(|a| a.trim().to_lowercase()))
    .bind(&q.action)
    .bind(&since)
    .bind(&until)
    .bind(page.limit)
    .bind(page.offset)
    .fetch_all(&db.pool)
    .await?;
    let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
    let entries = rows
        .into_iter()
        .map(|r| {
            Ok(AuditEntry {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                actor_user_id: r.try_get("actor_user_id")?,
                actor_email: r.try_get("actor_email")?,
                module: r.try_get("module")?,
                action: r.try_get("action")?,
                entity: r.try_get("entity")?,
                entity_id: r.try_get("entity_id")?,
                before: parse(r.try_get("before_json")?),
                after: parse(r.try_get("after_json")?),
                correlation_id: r.try_get("correlation_id")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok((entries, total))
}

/// Filters the audit log (admin only), newest first.
#[utoipa::path(get, path = "/codex/api/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = crate::error::Problem)))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<AuditQuery>,
) -> AppResult<(axum::http::HeaderMap, Json<AuditPage>)> {
    principal.require_admin()?;
    let page = Page::new(q.limit, q.offset, 100, 1000)?;
    let (entries, total) = query(&state.db, &q, page).await?;
    let headers = page.headers(
        total,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or(""),
    );
    Ok((
        headers,
        Json(AuditPage {
            entries,
            total,
            limit: page.limit,
            offset: page.offset,
        }),
    ))
}
