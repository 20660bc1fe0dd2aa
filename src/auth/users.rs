//! Local user accounts (table `users`).

use super::{password, Role};
use crate::db::{flag, Db};
use crate::error::{AppError, AppResult};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub company_id: Option<i64>,
    pub disabled: bool,
    pub created_at: String,
    pub last_login_at: Option<String>,
    #[serde(skip)]
    pub password_hash: Option<String>,
}

const COLUMNS: &str =
    "id, email, name, role, company_id, disabled, created_at, last_login_at, password_hash";

fn from_row(r: &AnyRow) -> Result<User, sqlx::Error> {
    let role: String = r.try_get("role")?;
    Ok(User {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        role: Role::parse(&role).unwrap_or(Role::Client),
        company_id: r.try_get("company_id")?,
        disabled: flag(r, "disabled")?,
        created_at: r.try_get("created_at")?,
        last_login_at: r.try_get("last_login_at")?,
        password_hash: r.try_get("password_hash")?,
    })
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub company_id: Option<i64>,
    pub password: Option<&'a str>,
}

pub async fn create(db: &Db, new: NewUser<'_>) -> AppResult<User> {
    let email = crate::validate::email(new.email).map_err(|m| AppError::invalid("email", m))?;
    let name =
        crate::validate::required_text(new.name, 150).map_err(|m| AppError::invalid("name", m))?;
    if new.role == Role::Client && new.company_id.is_none() {
        return Err(AppError::invalid(
            "company",
            "client users must belong to a company",
        ));
    }
    let hash = match new.password {
        Some(p) => {
            password::check_strength(p).map_err(|m| AppError::invalid("password", m))?;
            Some(password::hash(p)?)
        }
        None => None,
    };
    let now = crate::time::now_db();
    let id: i64 = sqlx::query(
        "INSERT INTO users (email, name, role, company_id, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(&email)
    .bind(&name)
    .bind(new.role.as_str())
    .bind(new.company_id)
    .bind(hash)
    .bind(&now)
    .fetch_one(&db.pool)
    .await
    .map_err(|e| match AppError::from(e) {
        AppError::Conflict(_) => {
            AppError::Conflict(format!("a user with e-mail {email} already exists"))
        }
        other => other,
    })?
    .try_get(0)?;
    get(db, id).await
}

pub async fn get(db: &Db, id: i64) -> AppResult<User> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&db.pool).await?;
    row.map(|r| from_row(&r))
        .transpose()?
        .ok_or_else(|| AppError::not_found("user not found"))
}

pub async fn find_by_email(db: &Db, email: &str) -> AppResult<Option<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE email = $1");
    let row = sqlx::query(&sql)
        .bind(email.trim().to_lowercase())
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| from_row(&r)).transpose()?)
}

pub async fn require_by_email(db: &Db, email: &str) -> AppResult<User> {
    find_by_email(db, email)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no user with e-mail {}", email.trim())))
}

pub async fn list(db: &Db) -> AppResult<Vec<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users ORDER BY email");
    let rows = sqlx::query(&sql).fetch_all(&db.pool).await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

pub async fn set_role(db: &Db, id: i64, role: Role, company_id: Option<i64>) -> AppResult<User> {
    if role == Role::Client && company_id.is_none() {
        return Err(AppError::invalid(
            "company",
            "client users must belong to a company",
        ));
    }
    sqlx::query("UPDATE users SET role = $1, company_id = $2, updated_at = $3 WHERE id = $4")
        .bind(role.as_str())
        .bind(company_id)
        .bind(crate::time::now_db())
        .bind(id)
        .execute(&db.pool)
        .await?;
    get(db, id).await
}

/// Disabling also revokes every session and token, so access ends at once.
pub async fn set_disabled(db: &Db, id: i64, disabled: bool) -> AppResult<User> {
    let now = crate::time::now_db();
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
        .bind(disabled as i64)
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if disabled {
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    get(db, id).await
}

/// Sets a new password and ends the user's sessions.
pub async fn reset_password(db: &Db, id: i64, new_password: &str) -> AppResult<()> {
    password::check_strength(new_password).map_err(|m| AppError::invalid("password", m))?;
    let hash = password::hash(new_password)?;
    let now = crate::time::now_db();
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Checks e-mail and password. Same error for unknown user, wrong password and
/// disabled account, so the response does not reveal which accounts exist.
pub async fn authenticate(db: &Db, email: &str, pass: &str) -> AppResult<User> {
    let bad =
        || AppError::Unauthorized("e-mail or password is wrong, or the account is disabled".into());
    let user = find_by_email(db, email).await?;
    let Some(user) = user else {
        // Spend the same time as a real check so timing does not reveal accounts.
        let _ = password::verify(pass, DUMMY_HASH);
        return Err(bad());
    };
    let ok = user
        .password_hash
        .as_deref()
        .is_some_and(|h| password::verify(pass, h));
    if !ok || user.disabled {
        return Err(bad());
    }
    sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
        .bind(crate::time::now_db())
        .bind(user.id)
        .execute(&db.pool)
        .await?;
    Ok(user)
}

const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vq6dqE8H4JvQb8N3iHcNQ3Xw2nL3o0mGf8y6m2o7x9Y";
