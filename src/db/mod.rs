//! The database handle shared by every module: one `sqlx::AnyPool` over SQLite or
//! PostgreSQL, and the migrations that create each module's tables.
//!
//! Portability rules every query follows (see ARCHITECTURE.md "Database"):
//! numbered placeholders `$1`; integers are BIGINT (flags are 0/1 BIGINT because the
//! `Any` driver cannot carry SQLite booleans); money is integer cents; times are
//! fixed-width UTC text from `crate::time`; aggregates that PostgreSQL widens to
//! NUMERIC (`SUM`) are cast back to BIGINT.

mod migrations;

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use std::path::Path;
use std::time::Duration;

pub use migrations::MIGRATIONS;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Cloneable handle to the pool; cheap to pass around.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

impl Db {
    /// Connects per the settings: PostgreSQL when `database_url` says so, else a SQLite
    /// file in `data_dir`, which is created owner-only.
    pub async fn connect(settings: &crate::Settings) -> anyhow::Result<Db> {
        match settings.database_url.as_deref() {
            Some(url) if url.starts_with("postgres") => Db::connect_postgres(url).await,
            Some(url) if url.starts_with("sqlite:") => Db::connect_sqlite_url(url).await,
            Some(other) => anyhow::bail!(
                "unsupported DATABASE_URL {}: use postgres://… or leave it unset for SQLite",
                crate::config::redact_url(other)
            ),
            None => Db::connect_sqlite_dir(&settings.data_dir).await,
        }
    }

    pub async fn connect_postgres(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .with_context(|| format!("connecting to {}", crate::config::redact_url(url)))?;
        Ok(Db {
            pool,
            backend: Backend::Postgres,
        })
    }

    pub async fn connect_sqlite_dir(dir: &Path) -> anyhow::Result<Db> {
        create_private_dir(dir)?;
        let file = dir.join("hivematrix.db");
        create_private_file(&file)?;
        let url = format!("sqlite://{}?mode=rwc", file.display());
        Db::connect_sqlite_url(&url).await
    }

    async fn connect_sqlite_url(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            // WAL lets readers run beside the one writer; more connections than cores
            // only adds lock contention.
            .max_connections(8)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    Ok(())
                })
            })
            .connect(url)
            .await
            .with_context(|| format!("opening {url}"))?;
        Ok(Db {
            pool,
            backend: Backend::Sqlite,
        })
    }

    /// Applies every migration not yet applied. Safe to call from several nodes at once.
    pub async fn migrate(&self) -> anyhow::Result<usize> {
        migrations::apply(self).await
    }

    /// `LIKE` that ignores case on both backends (SQLite's LIKE already does for ASCII).
    pub fn ilike(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "LIKE",
            Backend::Postgres => "ILIKE",
        }
    }
}

/// Escapes `%`, `_` and `\` so user text is matched literally inside a LIKE pattern
/// (use with `ESCAPE '\'`).
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// Reads a 0/1 flag column.
pub fn flag(row: &AnyRow, col: &str) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

pub fn opt_flag(row: &AnyRow, col: &str) -> Result<Option<bool>, sqlx::Error> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(|v| v != 0))
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    set_mode(dir, 0o700)
}

fn create_private_file(file: &Path) -> anyhow::Result<()> {
    if !file.exists() {
        std::fs::File::create(file).with_context(|| format!("creating {}", file.display()))?;
    }
    set_mode(file, 0o600)
}

#[cfg(unix)]
pub fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting permissions on {}", path.display()))
}

#[cfg(not(unix))]
pub fn set_mode(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_wildcards_literally() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
