//! RMM site links: which RMM site (Datto, SuperOps) belongs to which company. The RMM
//! sync creates them from the site's account-number variable; technicians can link and
//! unlink by hand.

use super::companies::{self, uri_str};
use crate::audit::{self, Action, Change};
use crate::auth::Principal;
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::pagination::Page;
use crate::http::AppState;
use crate::validate;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub const PROVIDERS: &[&str] = &["datto", "superops"];

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SiteLink {
    pub id: i64,
    pub company_id: i64,
    pub company_account_number: String,
    pub rmm_provider: String,
    pub rmm_site_uid: String,
    pub rmm_site_name: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const SELECT: &str = "SELECT l.*, c.account_number AS company_account_number \
    FROM rmm_site_links l JOIN companies c ON c.id = l.company_id";

fn from_row(r: &AnyRow) -> Result<SiteLink, sqlx::Error> {
    Ok(SiteLink {
        id: r.try_get("id")?,
        company_id: r.try_get("company_id")?,
        company_account_number: r.try_get("company_account_number")?,
        rmm_provider: r.try_get("rmm_provider")?,
        rmm_site_uid: r.try_get("rmm_site_uid")?,
        rmm_site_name: r.try_get("rmm_site_name")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// The company a site is linked to, if any (used by the RMM sync).
pub async fn company_for_site(db: &Db, provider: &str, site_uid: &str) -> AppResult<Option<i64>> {
    let row = sqlx::query(
        "SELECT company_id FROM rmm_site_links WHERE rmm_provider = $1 AND rmm_site_uid = $2",
    )
    .bind(provider)
    .bind(site_uid)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub async fn for_company(db: &Db, company_id: i64, page: Page) -> AppResult<(Vec<SiteLink>, i64)> {
    let total: i64 = sqlx::query("SELECT COUNT(*) FROM rmm_site_links WHERE company_id = $1")
        .bind(company_id)
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    let rows = sqlx::query(&format!("{SELECT} WHERE l.company_id = $1 ORDER BY l.rmm_provider, l.rmm_site_uid LIMIT $2 OFFSET $3"))
        .bind(company_id)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&db.pool)
        .await?;
    Ok((rows.iter().map(from_row).collect::<Result<_, _>>()?, total))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteLinkInput {
    /// datto or superops
    pub rmm_provider: String,
    pub rmm_site_uid: String,
    pub rmm_site_name: Option<String>,
}

/// Links a site to a company. A site belongs to one company: linking a site that is
/// already linked elsewhere is a 409 (unlink it there first).
pub async fn link(
    db: &Db,
    who: &Principal,
    company_id: i64,
    input: &SiteLinkInput,
) -> AppResult<SiteLink> {
    let mut e = FieldErrors::new();
    let provider = validate::one_of(&input.rmm_provider, PROVIDERS)
        .map_err(|m| e.insert("rmm_provider".into(), m))
        .ok();
    let uid = validate::required_text(&input.rmm_site_uid, 100)
        .map_err(|m| e.insert("rmm_site_uid".into(), m))
        .ok();
    let name = input
        .rmm_site_name
        .as_deref()
        .map(|n| validate::text(n, 150))
        .transpose()
        .map_err(|m| e.insert("rmm_site_name".into(), m))
        .ok()
        .flatten();
    let (Some(provider), Some(uid), true) = (provider, uid, e.is_empty()) else {
        return Err(AppError::Validation(e));
    };
    if let Some(existing) = company_for_site(db, &provider, &uid).await? {
        return Err(AppError::Conflict(format!(
            "site {uid} of {provider} is already linked to company id {existing}"
        )));
    }
    let now = crate::time::now_db();
    let mut tx = db.pool.begin().await?;
    let id: i64 = sqlx::query(
        "INSERT INTO rmm_site_links (company_id, rmm_provider, rmm_site_uid, rmm_site_name, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(company_id)
    .bind(&provider)
    .bind(&uid)
    .bind(&name)
    .bind(&now)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    let link = from_row(
        &sqlx::query(&format!("{SELECT} WHERE l.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?,
    )?;
    audit::record(
        &mut tx,
        Some(who),
        Change {
            module: "codex",
            action: Action::Create,
            entity: "rmm_site_link",
            entity_id: id.to_string(),
            before: None,
            after: Some(serde_json::to_value(&link).map_err(anyhow::Error::from)?),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(link)
}

/// Every site link of an RMM provider (the RMM sync walks these).
pub async fn links_for_provider(db: &Db, provider: &str) -> AppResult<Vec<SiteLink>> {
    let rows = sqlx::query(&format!("{SELECT} WHERE l.rmm_provider = $1 ORDER BY l.id"))
        .bind(provider)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Links a site the RMM reports as the company's (by its account-number variable).
/// A link is never re-pointed by the sync: a site whose variable now names another
/// company is a conflict for a person to resolve, not something to guess.
pub async fn link_from_source(
    db: &Db,
    company_id: i64,
    provider: &str,
    site_uid: &str,
    site_name: Option<&str>,
) -> AppResult<super::Upserted> {
    use super::{Change as Did, Upserted};
    let name = site_name.map(|n| n.trim().chars().take(150).collect::<String>());
    let existing = sqlx::query(&format!(
        "{SELECT} WHERE l.rmm_provider = $1 AND l.rmm_site_uid = $2"
    ))
    .bind(provider)
    .bind(site_uid)
    .fetch_optional(&db.pool)
    .await?
    .map(|r| from_row(&r))
    .transpose()?;
    let now = crate::time::now_db();
    let mut tx = db.pool.begin().await?;
    let (id, did, before) = match existing {
        Some(l) if l.company_id != company_id => {
            return Err(AppError::Conflict(format!(
                "{provider} site {site_uid} is linked to company {} but its account number names another company; \
                 relink it by hand if it moved",
                l.company_account_number
            )));
        }
        Some(l) if l.rmm_site_name == name => {
            return Ok(Upserted {
                id: l.id,
                change: Did::Unchanged,
            })
        }
        Some(l) => {
            sqlx::query(
                "UPDATE rmm_site_links SET rmm_site_name = $1, updated_at = $2 WHERE id = $3",
            )
            .bind(&name)
            .bind(&now)
            .bind(l.id)
            .execute(&mut *tx)
            .await?;
            (l.id, Did::Updated, Some(l))
        }
        None => {
            let id: i64 = sqlx::query(
                "INSERT INTO rmm_site_links (company_id, rmm_provider, rmm_site_uid, rmm_site_name, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            )
            .bind(company_id)
            .bind(provider)
            .bind(site_uid)
            .bind(&name)
            .bind(&now)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            (id, Did::Created, None)
        }
    };
    let after = from_row(
        &sqlx::query(&format!("{SELECT} WHERE l.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?,
    )?;
    audit::record(
        &mut tx,
        None,
        Change {
            module: "sync",
            action: if before.is_some() {
                Action::Update
            } else {
                Action::Create
            },
            entity: "rmm_site_link",
            entity_id: id.to_string(),
            before: before
                .map(|b| serde_json::to_value(&b).map_err(anyhow::Error::from))
                .transpose()?,
            after: Some(serde_json::to_value(&after).map_err(anyhow::Error::from)?),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Upserted { id, change: did })
}

pub async fn unlink(db: &Db, who: &Principal, company_id: i64, id: i64) -> AppResult<()> {
    let row = sqlx::query(&format!("{SELECT} WHERE l.id = $1 AND l.company_id = $2"))
        .bind(id)
        .bind(company_id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| AppError::not_found(format!("site link {id} not found for this company")))?;
    let before = from_row(&row)?;
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM rmm_site_links WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Some(who),
        Change {
            module: "codex",
            action: Action::Delete,
            entity: "rmm_site_link",
            entity_id: id.to_string(),
            before: Some(serde_json::to_value(&before).map_err(anyhow::Error::from)?),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SiteQuery {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// The RMM sites linked to a company.
#[utoipa::path(get, path = "/codex/api/companies/{account_number}/rmm-sites", tag = "codex",
    params(("account_number" = String, Path), SiteQuery),
    responses((status = 200, body = [SiteLink]), (status = 404, body = crate::error::Problem)))]
pub async fn list_sites(
    State(state): State<AppState>,
    who: Principal,
    Path(account_number): Path<String>,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<SiteQuery>,
) -> AppResult<(HeaderMap, Json<Vec<SiteLink>>)> {
    let company = companies::visible(&state.db, &who, &account_number).await?;
    let page = Page::new(q.limit, q.offset, 500, 1000)?;
    let (list, total) = for_company(&state.db, company.id, page).await?;
    Ok((page.headers(total, uri_str(&uri)), Json(list)))
}

/// Links an RMM site to a company (technician or admin).
#[utoipa::path(post, path = "/codex/api/companies/{account_number}/rmm-sites", tag = "codex",
    params(("account_number" = String, Path)), request_body = SiteLinkInput,
    responses((status = 201, body = SiteLink), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn create_site(
    State(state): State<AppState>,
    crate::auth::MasterWriter(who): crate::auth::MasterWriter,
    Path(account_number): Path<String>,
    JsonBody(input): JsonBody<SiteLinkInput>,
) -> AppResult<(StatusCode, Json<SiteLink>)> {
    let company = companies::visible(&state.db, &who, &account_number).await?;
    Ok((
        StatusCode::CREATED,
        Json(link(&state.db, &who, company.id, &input).await?),
    ))
}

/// Removes a site link.
#[utoipa::path(delete, path = "/codex/api/companies/{account_number}/rmm-sites/{id}", tag = "codex",
    params(("account_number" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn delete_site(
    State(state): State<AppState>,
    who: Principal,
    Path((account_number, id)): Path<(String, i64)>,
) -> AppResult<StatusCode> {
    who.require_master_write()?;
    let company = companies::visible(&state.db, &who, &account_number).await?;
    unlink(&state.db, &who, company.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sites, create_site))
        .routes(routes!(delete_site))
}
