//! Resume state that outlives a job: named checkpoints (a listing's next cursor, a
//! high-water mark) and the external ids a listing has seen so far.
//!
//! The engine writes a checkpoint only after the page it follows is committed, so a
//! crash re-reads at most one page (upserts are idempotent), and it marks records
//! missing only when a listing reached its end, using every id the listing saw, also
//! across restarts.

use crate::db::Db;
use crate::error::AppResult;
use crate::time;
use sqlx::Row;

pub async fn checkpoint(
    db: &Db,
    provider: &str,
    kind: &str,
    name: &str,
) -> AppResult<Option<String>> {
    let r = sqlx::query(
        "SELECT value FROM sync_checkpoints WHERE provider = $1 AND kind = $2 AND name = $3",
    )
    .bind(provider)
    .bind(kind)
    .bind(name)
    .fetch_optional(&db.pool)
    .await?;
    Ok(r.map(|r| r.try_get(0)).transpose()?)
}

pub async fn set_checkpoint(
    db: &Db,
    provider: &str,
    kind: &str,
    name: &str,
    value: &str,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO sync_checkpoints (provider, kind, name, value, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (provider, kind, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(provider)
    .bind(kind)
    .bind(name)
    .bind(value)
    .bind(time::now_db())
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn clear_checkpoint(db: &Db, provider: &str, kind: &str, name: &str) -> AppResult<()> {
    sqlx::query("DELETE FROM sync_checkpoints WHERE provider = $1 AND kind = $2 AND name = $3")
        .bind(provider)
        .bind(kind)
        .bind(name)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Remembers ids a listing has seen (repeats are fine).
pub async fn add_seen(db: &Db, provider: &str, collection: &str, ids: &[String]) -> AppResult<()> {
    // 3 parameters a row; 300 rows stay far below both databases' parameter limits.
    for chunk in ids.chunks(300) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("($1, $2, ${})", i + 3))
            .collect();
        let sql = format!(
            "INSERT INTO sync_seen (provider, collection, external_id) VALUES {} \
             ON CONFLICT (provider, collection, external_id) DO NOTHING",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(provider).bind(collection);
        for id in chunk {
            q = q.bind(id);
        }
        q.execute(&db.pool).await?;
    }
    Ok(())
}

pub async fn seen(db: &Db, provider: &str, collection: &str) -> AppResult<Vec<String>> {
    let rows =
        sqlx::query("SELECT external_id FROM sync_seen WHERE provider = $1 AND collection = $2")
            .bind(provider)
            .bind(collection)
            .fetch_all(&db.pool)
            .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

pub async fn clear_seen(db: &Db, provider: &str, collection: &str) -> AppResult<()> {
    sqlx::query("DELETE FROM sync_seen WHERE provider = $1 AND collection = $2")
        .bind(provider)
        .bind(collection)
        .execute(&db.pool)
        .await?;
    Ok(())
}
