//! Server-side sessions: the browser holds a random cookie, the database holds its
//! SHA-256, the user and the CSRF token. Logging out (or disabling the user) revokes.

use super::{random_hex, sha256_hex, AuthMethod, Principal, Role};
use crate::db::{flag, Db};
use crate::error::AppResult;
use sqlx::Row;

pub const COOKIE: &str = "hm_session";

pub struct NewSession {
    /// Value for the cookie; shown once, never stored.
    pub cookie_value: String,
    pub csrf_token: String,
}

pub async fn create(
    db: &Db,
    user_id: i64,
    ttl_hours: i64,
    ip: Option<String>,
    user_agent: Option<String>,
) -> AppResult<NewSession> {
    let cookie_value = random_hex(32);
    let csrf_token = random_hex(32);
    let now = chrono::Utc::now();
    sqlx::query(
        "INSERT INTO sessions (id, user_id, csrf_token, created_at, expires_at, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(sha256_hex(&cookie_value))
    .bind(user_id)
    .bind(&csrf_token)
    .bind(crate::time::to_db(now))
    .bind(crate::time::to_db(now + chrono::Duration::hours(ttl_hours)))
    .bind(ip)
    .bind(user_agent.map(|u| u.chars().take(300).collect::<String>()))
    .execute(&db.pool)
    .await?;
    Ok(NewSession {
        cookie_value,
        csrf_token,
    })
}

/// The principal behind a cookie, if the session is live and the user enabled.
pub async fn resolve(db: &Db, cookie_value: &str) -> AppResult<Option<Principal>> {
    let id = sha256_hex(cookie_value);
    let row = sqlx::query(
        "SELECT s.csrf_token, u.id, u.email, u.name, u.role, u.company_id, u.disabled \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2",
    )
    .bind(&id)
    .bind(crate::time::now_db())
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    if flag(&r, "disabled")? {
        return Ok(None);
    }
    Ok(Some(Principal {
        user_id: r.try_get("id")?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        role: Role::parse(&r.try_get::<String, _>("role")?).unwrap_or(Role::Client),
        company_id: r.try_get("company_id")?,
        correlation_id: None,
        method: AuthMethod::Session {
            session_id: id,
            csrf_token: r.try_get("csrf_token")?,
        },
    }))
}

pub async fn revoke(db: &Db, session_id: &str) -> AppResult<()> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(crate::time::now_db())
        .bind(session_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}
