//! PSA agents: the technicians a PSA assigns tickets to. The PSA sync upserts them
//! (keyed on source + PSA id, so a ticket's `agent_id` never dangles) and the ticket
//! APIs show their names.

use super::Args;
use crate::auth::Principal;
use crate::db::{flag, like_pattern, Db};
use crate::error::AppResult;
use crate::http::extract::QueryParams;
use crate::http::pagination::Page;
use crate::http::AppState;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

/// An agent as `GET /codex/api/psa/agents` shows it (the original's shape).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PsaAgent {
    pub id: i64,
    pub external_id: String,
    pub source: String,
    pub name: String,
    pub email: Option<String>,
    pub job_title: Option<String>,
    pub active: bool,
}

/// What the PSA sync knows about an agent.
#[derive(Debug, Clone, Default)]
pub struct AgentUpsert {
    pub external_source: String,
    pub external_id: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub active: bool,
    pub job_title: Option<String>,
    pub group_ids: Vec<String>,
    pub department_ids: Vec<String>,
    pub psa_created_at: Option<String>,
    pub psa_updated_at: Option<String>,
}

/// "first last", else whichever exists, else `Agent <PSA id>` (`peer/codex.md` §1.5).
pub fn display_name(first: Option<&str>, last: Option<&str>, external_id: &str) -> String {
    let parts: Vec<&str> = [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        format!("Agent {external_id}")
    } else {
        parts.join(" ")
    }
}

/// The same rule in SQL, so lists can sort by it in the database.
const NAME_SQL: &str =
    "CASE WHEN TRIM(COALESCE(first_name, '') || ' ' || COALESCE(last_name, '')) = '' \
    THEN 'Agent ' || external_id \
    ELSE TRIM(COALESCE(first_name, '') || ' ' || COALESCE(last_name, '')) END";

fn from_row(r: &AnyRow) -> Result<PsaAgent, sqlx::Error> {
    let first: Option<String> = r.try_get("first_name")?;
    let last: Option<String> = r.try_get("last_name")?;
    let external_id: String = r.try_get("external_id")?;
    Ok(PsaAgent {
        id: r.try_get("id")?,
        name: display_name(first.as_deref(), last.as_deref(), &external_id),
        external_id,
        source: r.try_get("external_source")?,
        email: r.try_get("email")?,
        job_title: r.try_get("job_title")?,
        active: flag(r, "active")?,
    })
}

/// Inserts or updates an agent by (source, PSA id) and returns its stable row id.
/// An agent seen again is no longer marked deleted.
pub async fn upsert_agent(db: &Db, a: &AgentUpsert) -> AppResult<crate::codex::Upserted> {
    use crate::codex::{Change, Upserted};
    let now = crate::time::now_db();
    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let source = a.external_source.trim().to_lowercase();
    let email = a.email.as_ref().map(|e| e.trim().to_lowercase());
    let created = a.psa_created_at.as_deref().and_then(super::norm_time);
    let updated = a.psa_updated_at.as_deref().and_then(super::norm_time);
    let stored = sqlx::query(
        "SELECT id, email, first_name, last_name, active, job_title, group_ids, department_ids, \
         psa_created_at, psa_updated_at, deleted_at FROM psa_agents WHERE external_source = $1 AND external_id = $2",
    )
    .bind(&source)
    .bind(a.external_id.trim())
    .fetch_optional(&db.pool)
    .await?;
    if let Some(r) = &stored {
        let same = r.try_get::<Option<String>, _>("email")? == email
            && r.try_get::<Option<String>, _>("first_name")? == a.first_name
            && r.try_get::<Option<String>, _>("last_name")? == a.last_name
            && flag(r, "active")? == a.active
            && r.try_get::<Option<String>, _>("job_title")? == a.job_title
            && r.try_get::<String, _>("group_ids")? == json(&a.group_ids)
            && r.try_get::<String, _>("department_ids")? == json(&a.department_ids)
            && r.try_get::<Option<String>, _>("psa_created_at")? == created
            && r.try_get::<Option<String>, _>("psa_updated_at")? == updated
            && r.try_get::<Option<String>, _>("deleted_at")?.is_none();
        if same {
            return Ok(Upserted {
                id: r.try_get("id")?,
                change: Change::Unchanged,
            });
        }
    }
    let id: i64 = sqlx::query(
        "INSERT INTO psa_agents (external_source, external_id, email, first_name, last_name, active, \
         job_title, group_ids, department_ids, psa_created_at, psa_updated_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
         ON CONFLICT (external_source, external_id) DO UPDATE SET email = excluded.email, \
         first_name = excluded.first_name, last_name = excluded.last_name, active = excluded.active, \
         job_title = excluded.job_title, group_ids = excluded.group_ids, \
         department_ids = excluded.department_ids, psa_created_at = excluded.psa_created_at, \
         psa_updated_at = excluded.psa_updated_at, updated_at = excluded.updated_at, deleted_at = NULL \
         RETURNING id",
    )
    .bind(&source)
    .bind(a.external_id.trim())
    .bind(&email)
    .bind(&a.first_name)
    .bind(&a.last_name)
    .bind(a.active as i64)
    .bind(&a.job_title)
    .bind(json(&a.group_ids))
    .bind(json(&a.department_ids))
    .bind(&created)
    .bind(&updated)
    .bind(&now)
    .fetch_one(&db.pool)
    .await?
    .try_get(0)?;
    Ok(Upserted {
        id,
        change: if stored.is_some() {
            Change::Updated
        } else {
            Change::Created
        },
    })
}

/// Marks deleted the agents of `source` whose PSA ids are not in `seen` (the sync calls
/// this after a complete fetch; the rows stay so tickets keep their agent).
pub async fn mark_missing_agents(db: &Db, source: &str, seen: &[String]) -> AppResult<u64> {
    // An empty listing is a broken PSA far more often than an MSP without technicians.
    if seen.is_empty() {
        return Ok(0);
    }
    let mut args = Args::default();
    let src = args.text(source.trim().to_lowercase());
    let now = args.text(crate::time::now_db());
    let keep = if seen.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = seen.iter().map(|s| args.text(s.clone())).collect();
        format!("AND external_id NOT IN ({})", list.join(", "))
    };
    let sql = format!(
        "UPDATE psa_agents SET deleted_at = {now}, updated_at = {now} \
         WHERE external_source = {src} AND deleted_at IS NULL {keep}"
    );
    Ok(args
        .bind(sqlx::query(&sql))
        .execute(&db.pool)
        .await?
        .rows_affected())
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgentQuery {
    /// PSA source, e.g. freshservice.
    pub provider: Option<String>,
    /// true: active agents only; false: inactive only.
    pub active: Option<bool>,
    /// Matches name and e-mail (case-insensitive).
    pub search: Option<String>,
    /// Include agents gone from the PSA.
    pub include_deleted: Option<bool>,
    /// 1..=1000, default 1000.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Agents, active first, then by display name.
pub async fn list_agents(db: &Db, q: &AgentQuery, page: Page) -> AppResult<(Vec<PsaAgent>, i64)> {
    let mut args = Args::default();
    let mut filter = String::from("WHERE 1 = 1");
    if !q.include_deleted.unwrap_or(false) {
        filter.push_str(" AND deleted_at IS NULL");
    }
    if let Some(p) = q.provider.as_deref().filter(|p| !p.trim().is_empty()) {
        let p = args.text(p.trim().to_lowercase());
        filter.push_str(&format!(" AND external_source = {p}"));
    }
    if let Some(active) = q.active {
        let a = args.int(active as i64);
        filter.push_str(&format!(" AND active = {a}"));
    }
    if let Some(s) = q.search.as_deref().filter(|s| !s.trim().is_empty()) {
        let s = args.text(like_pattern(s.trim()));
        let ilike = db.ilike();
        filter.push_str(&format!(
            " AND (({NAME_SQL}) {ilike} {s} ESCAPE '\\' OR email {ilike} {s} ESCAPE '\\')"
        ));
    }
    let count_sql = format!("SELECT COUNT(*) FROM psa_agents {filter}");
    let total: i64 = args
        .bind(sqlx::query(&count_sql))
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let limit = args.int(page.limit);
    let offset = args.int(page.offset);
    let sql = format!(
        "SELECT * FROM psa_agents {filter} ORDER BY active DESC, LOWER({NAME_SQL}), id \
         LIMIT {limit} OFFSET {offset}"
    );
    let rows = args.bind(sqlx::query(&sql)).fetch_all(&db.pool).await?;
    Ok((rows.iter().map(from_row).collect::<Result<_, _>>()?, total))
}

/// PSA agents (staff only), active first then by name.
#[utoipa::path(get, path = "/codex/api/psa/agents", tag = "codex", params(AgentQuery),
    responses((status = 200, body = [PsaAgent], headers(("X-Total-Count" = i64, description = "matching agents"))),
              (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)))]
pub async fn psa_agents(
    State(state): State<AppState>,
    who: Principal,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<AgentQuery>,
) -> AppResult<(HeaderMap, Json<Vec<PsaAgent>>)> {
    who.require_staff()?;
    let page = Page::new(q.limit, q.offset, 1000, 1000)?;
    let (list, total) = list_agents(&state.db, &q, page).await?;
    Ok((
        page.headers(total, super::super::companies::uri_str(&uri)),
        Json(list),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_rule() {
        assert_eq!(
            display_name(Some("Ada"), Some("Lovelace"), "7"),
            "Ada Lovelace"
        );
        assert_eq!(display_name(None, Some("Lovelace"), "7"), "Lovelace");
        assert_eq!(display_name(Some(" Ada "), Some(""), "7"), "Ada");
        assert_eq!(display_name(None, None, "7"), "Agent 7");
    }
}
