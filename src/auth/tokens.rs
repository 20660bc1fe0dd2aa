//! Personal API tokens: `hm_` + 40 hex characters, stored as SHA-256 (the token has
//! 160 bits of entropy, so a fast hash is enough), sent as `Authorization: Bearer`.

use super::{random_hex, sha256_hex, AuthMethod, Principal, Role};
use crate::db::{flag, Db};
use crate::error::{AppError, AppResult};
use serde::Serialize;
use sqlx::Row;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub user_email: String,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

/// Creates a token; the plaintext is returned once and never stored.
pub async fn create(
    db: &Db,
    user_id: i64,
    name: &str,
    expires_days: Option<i64>,
) -> AppResult<(ApiToken, String)> {
    let name =
        crate::validate::required_text(name, 100).map_err(|m| AppError::invalid("name", m))?;
    if let Some(d) = expires_days {
        if !(1..=3650).contains(&d) {
            return Err(AppError::invalid(
                "expires_days",
                "must be between 1 and 3650",
            ));
        }
    }
    let plain = format!("hm_{}", random_hex(20));
    let now = chrono::Utc::now();
    let expires = expires_days.map(|d| crate::time::to_db(now + chrono::Duration::days(d)));
    let id: i64 = sqlx::query(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(user_id)
    .bind(&name)
    .bind(sha256_hex(&plain))
    .bind(&plain[..10])
    .bind(crate::time::to_db(now))
    .bind(expires)
    .fetch_one(&db.pool)
    .await?
    .try_get(0)?;
    let token = list(db, Some(user_id))
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| anyhow::anyhow!("token vanished after insert"))?;
    Ok((token, plain))
}

pub async fn list(db: &Db, user_id: Option<i64>) -> AppResult<Vec<ApiToken>> {
    let rows = sqlx::query(
        "SELECT t.id, t.user_id, u.email, t.name, t.prefix, t.created_at, t.expires_at, \
                t.revoked_at, t.last_used_at \
         FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE ($1 IS NULL OR t.user_id = $1) ORDER BY t.id",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ApiToken {
                id: r.try_get("id")?,
                user_id: r.try_get("user_id")?,
                user_email: r.try_get("email")?,
                name: r.try_get("name")?,
                prefix: r.try_get("prefix")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                revoked_at: r.try_get("revoked_at")?,
                last_used_at: r.try_get("last_used_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Revokes a token; `owner` limits it to that user's tokens (None = any, for admins).
pub async fn revoke(db: &Db, id: i64, owner: Option<i64>) -> AppResult<()> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 \
         WHERE id = $2 AND revoked_at IS NULL AND ($3 IS NULL OR user_id = $3)",
    )
    .bind(crate::time::now_db())
    .bind(id)
    .bind(owner)
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::not_found(format!("no active token with id {id}")));
    }
    Ok(())
}

/// The principal behind a bearer token, if live.
pub async fn resolve(db: &Db, plain: &str) -> AppResult<Option<Principal>> {
    let now = crate::time::now_db();
    let row = sqlx::query(
        "SELECT t.id AS token_id, t.last_used_at, u.id, u.email, u.name, u.role, u.company_id, u.disabled \
         FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)",
    )
    .bind(sha256_hex(plain.trim()))
    .bind(&now)
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    if flag(&r, "disabled")? {
        return Ok(None);
    }
    let token_id: i64 = r.try_get("token_id")?;
    // Record use at most once a minute: a write per request would serialise readers on SQLite.
    let last: Option<String> = r.try_get("last_used_at")?;
    let stale = last
        .as_deref()
        .and_then(crate::time::from_db)
        .is_none_or(|t| chrono::Utc::now() - t > chrono::Duration::seconds(60));
    if stale {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(&now)
            .bind(token_id)
            .execute(&db.pool)
            .await?;
    }
    Ok(Some(Principal {
        user_id: r.try_get("id")?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        role: Role::parse(&r.try_get::<String, _>("role")?).unwrap_or(Role::Client),
        company_id: r.try_get("company_id")?,
        correlation_id: None,
        method: AuthMethod::ApiToken { token_id },
    }))
}
