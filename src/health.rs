//! Probes and metrics: `/livez` (the process answers), `/health` (readiness: database
//! latency and disk space, seed 000's JSON shape), `/metrics` (Prometheus text).

use crate::auth::Principal;
use crate::error::AppResult;
use crate::http::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::time::Instant;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/livez", get(|| async { Json(json!({"status": "alive"})) }))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let start = Instant::now();
    let db_ok = sqlx::query("SELECT 1")
        .execute(&state.db.pool)
        .await
        .is_ok();
    let latency_ms = (start.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    let disk = disk_usage(&state.settings.data_dir);
    let disk_status = match disk {
        Some((used_pct, _, _)) if used_pct >= 95.0 => "unhealthy",
        Some((used_pct, _, _)) if used_pct >= 85.0 => "degraded",
        Some(_) => "healthy",
        None => "unknown",
    };
    let db_status = if db_ok { "healthy" } else { "unhealthy" };
    let overall = if !db_ok || disk_status == "unhealthy" {
        "unhealthy"
    } else if disk_status == "degraded" {
        "degraded"
    } else {
        "healthy"
    };
    let body = json!({
        "service": "hivematrix",
        "status": overall,
        "timestamp": crate::time::now_db(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started_at.elapsed().as_secs(),
        "checks": {
            "database": {
                "status": db_status,
                "latency_ms": latency_ms,
                "type": match state.db.backend {
                    crate::db::Backend::Sqlite => "sqlite",
                    crate::db::Backend::Postgres => "postgresql",
                },
            },
            "disk": {
                "status": disk_status,
                "usage_percent": disk.map(|d| (d.0 * 10.0).round() / 10.0),
                "free_gb": disk.map(|d| (d.1 * 100.0).round() / 100.0),
                "total_gb": disk.map(|d| (d.2 * 100.0).round() / 100.0),
            }
        }
    });
    // Degraded still serves traffic: only unhealthy takes the node out of rotation.
    let code = if overall == "unhealthy" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(body))
}

/// (used %, free GB, total GB) of the filesystem holding `path`.
fn disk_usage(path: &std::path::Path) -> Option<(f64, f64, f64)> {
    use std::ffi::CString;
    let probe = if path.exists() {
        path
    } else {
        std::path::Path::new(".")
    };
    let c = CString::new(probe.to_string_lossy().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let gb = 1024.0 * 1024.0 * 1024.0;
    let total = st.f_blocks as f64 * st.f_frsize as f64;
    let free = st.f_bavail as f64 * st.f_frsize as f64;
    if total <= 0.0 {
        return None;
    }
    Some(((total - free) / total * 100.0, free / gb, total / gb))
}

async fn metrics(State(state): State<AppState>, _p: Principal) -> AppResult<impl IntoResponse> {
    let rss = resident_memory_bytes().unwrap_or(0) as f64;
    let pool = state.db.pool.size() as f64;
    let text = state.metrics.render(&[
        ("hivematrix_process_resident_memory_bytes", rss),
        ("hivematrix_db_pool_connections", pool),
        (
            "hivematrix_uptime_seconds",
            state.started_at.elapsed().as_secs_f64(),
        ),
    ]);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}

/// Resident set size from /proc (Linux); None elsewhere.
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
