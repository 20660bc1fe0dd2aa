//! Provider settings an admin enters over the API, on top of `hivematrix.toml`.
//!
//! Each stored row overlays the file's `[psa.<provider>]` / `[rmm.<provider>]` table key
//! by key, so an admin can add a provider, rotate a key or point at a proxy without
//! editing files on every node. The merged settings go through the same
//! `connectors_from_settings` as the file alone, so a stored value is checked exactly as
//! a typed one: an input that would not build a working client is refused and nothing
//! is stored.
//!
//! Secrets (API keys, tokens, webhook secrets) are write-only: every view here shows
//! only whether each one is set. Every node notices a change within seconds by
//! comparing the table's signature (see [`signature`]) and rebuilds its clients.

use crate::auth::Principal;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::http::extract::JsonBody;
use crate::http::AppState;
use crate::Settings;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

/// The providers this version can run, as (side, name).
pub const PROVIDERS: &[(&str, &str)] = &[
    ("psa", "freshservice"),
    ("psa", "superops"),
    ("rmm", "datto"),
    ("rmm", "superops"),
];

/// Keys whose values are never shown, logged or returned.
pub const SECRET_KEYS: &[&str] = &[
    "api_key",
    "api_secret",
    "api_token",
    "webhook_secret",
    "client_secret",
    "password",
];

pub fn is_secret(key: &str) -> bool {
    SECRET_KEYS.contains(&key)
}

/// One provider's stored overlay.
#[derive(Clone, Debug)]
struct Stored {
    side: String,
    provider: String,
    values: toml::map::Map<String, toml::Value>,
    updated_at: String,
    updated_by: Option<String>,
}

async fn stored(db: &Db) -> AppResult<Vec<Stored>> {
    let rows = sqlx::query(
        "SELECT side, provider, settings_json, updated_at, updated_by \
         FROM sync_provider_settings ORDER BY side, provider",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let json: String = r.try_get("settings_json")?;
            let values: toml::map::Map<String, toml::Value> = serde_json::from_str(&json)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("stored settings: {e}")))?;
            Ok(Stored {
                side: r.try_get("side")?,
                provider: r.try_get("provider")?,
                values,
                updated_at: r.try_get("updated_at")?,
                updated_by: r.try_get("updated_by")?,
            })
        })
        .collect()
}

/// Changes whenever a row is written or removed, on whichever node.
pub async fn signature(db: &Db) -> AppResult<String> {
    let row =
        sqlx::query("SELECT COUNT(*) AS n, MAX(updated_at) AS at FROM sync_provider_settings")
            .fetch_one(&db.pool)
            .await?;
    let n: i64 = row.try_get("n")?;
    let at: Option<String> = row.try_get("at")?;
    Ok(format!("{n}|{}", at.unwrap_or_default()))
}

fn side_table<'a>(settings: &'a Settings, side: &str) -> Option<&'a toml::Value> {
    match side {
        "psa" => settings.psa.as_ref(),
        _ => settings.rmm.as_ref(),
    }
}

/// `settings` with every stored overlay applied to its `[psa]` / `[rmm]` tables.
fn overlay(settings: &Settings, rows: &[Stored]) -> Settings {
    let mut out = settings.clone();
    for row in rows {
        let slot = match row.side.as_str() {
            "psa" => &mut out.psa,
            _ => &mut out.rmm,
        };
        let side = slot.get_or_insert_with(|| toml::Value::Table(Default::default()));
        let Some(side) = side.as_table_mut() else {
            continue;
        };
        let table = side
            .entry(row.provider.clone())
            .or_insert_with(|| toml::Value::Table(Default::default()));
        if let Some(table) = table.as_table_mut() {
            for (k, v) in &row.values {
                table.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

/// The file's settings with the stored overlays: what the clients are built from.
pub async fn effective_settings(db: &Db, settings: &Settings) -> AppResult<Settings> {
    Ok(overlay(settings, &stored(db).await?))
}

/// What an admin sees of one provider.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    /// `psa` or `rmm`.
    pub side: String,
    pub provider: String,
    /// The merged settings have a table for this provider.
    pub configured: bool,
    /// This node runs a client for it (its settings built one).
    pub active: bool,
    /// Where the settings come from: `file`, `database`, `file+database` or `none`.
    pub source: String,
    /// Every non-secret setting, merged.
    #[schema(value_type = Object)]
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Secret settings: only whether each is set.
    pub secrets: BTreeMap<String, bool>,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
}

/// `merged` is `overlay(file, rows)`, computed once by the caller for every provider.
fn view(
    file: &Settings,
    merged: &Settings,
    rows: &[Stored],
    state: &AppState,
    side: &str,
    name: &str,
) -> ProviderView {
    let table = side_table(merged, side)
        .and_then(|t| t.get(name))
        .and_then(|t| t.as_table());
    let in_file = side_table(file, side).and_then(|t| t.get(name)).is_some();
    let row = rows.iter().find(|r| r.side == side && r.provider == name);
    let mut settings = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    for (k, v) in table.into_iter().flatten() {
        if is_secret(k) {
            secrets.insert(k.clone(), v.as_str().is_some_and(|s| !s.is_empty()));
        } else {
            settings.insert(
                k.clone(),
                serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
            );
        }
    }
    let active = match side {
        "psa" => state.sync.engine.psa_names(),
        _ => state.sync.engine.rmm_names(),
    }
    .iter()
    .any(|n| n == name);
    ProviderView {
        side: side.into(),
        provider: name.into(),
        configured: table.is_some(),
        active,
        source: match (in_file, row.is_some()) {
            (true, true) => "file+database",
            (true, false) => "file",
            (false, true) => "database",
            (false, false) => "none",
        }
        .into(),
        settings,
        secrets,
        updated_at: row.map(|r| r.updated_at.clone()),
        updated_by: row.and_then(|r| r.updated_by.clone()),
    }
}

fn known(side: &str, provider: &str) -> AppResult<()> {
    if PROVIDERS.contains(&(side, provider)) {
        Ok(())
    } else {
        Err(AppError::not_found(format!(
            "no {side} provider named {provider}; known: {}",
            PROVIDERS
                .iter()
                .map(|(s, p)| format!("{s}/{p}"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// Every provider this version knows, with its merged settings (secrets hidden).
#[utoipa::path(get, path = "/codex/api/sync/providers", tag = "sync",
    responses((status = 200, body = Vec<ProviderView>), (status = 403, body = crate::error::Problem)))]
pub async fn list_providers(
    State(state): State<AppState>,
    _admin: crate::auth::AdminOnly,
) -> AppResult<Json<Vec<ProviderView>>> {
    views(&state).await.map(Json)
}

/// One provider's merged settings (secrets hidden).
#[utoipa::path(get, path = "/codex/api/sync/providers/{side}/{provider}", tag = "sync",
    params(("side" = String, Path), ("provider" = String, Path)),
    responses((status = 200, body = ProviderView), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem)))]
pub async fn get_provider(
    State(state): State<AppState>,
    _admin: crate::auth::AdminOnly,
    Path((side, provider)): Path<(String, String)>,
) -> AppResult<Json<ProviderView>> {
    known(&side, &provider)?;
    let rows = stored(&state.db).await?;
    let merged = overlay(&state.settings, &rows);
    Ok(Json(view(
        &state.settings,
        &merged,
        &rows,
        &state,
        &side,
        &provider,
    )))
}

/// A JSON input value as TOML; only what the provider tables use is accepted.
fn to_toml(key: &str, v: &serde_json::Value) -> AppResult<Option<toml::Value>> {
    use serde_json::Value as J;
    match v {
        J::Null => Ok(None),
        J::String(s) => Ok(Some(toml::Value::String(s.trim().to_string()))),
        J::Bool(b) => Ok(Some(toml::Value::Boolean(*b))),
        J::Number(n) if n.is_i64() => Ok(Some(toml::Value::Integer(n.as_i64().unwrap_or(0)))),
        _ => Err(AppError::invalid(
            key,
            "must be a string, a whole number, true/false, or null to remove the stored value",
        )),
    }
}

/// Sets some of a provider's settings (only the keys sent; `null` removes a stored
/// value so the file's applies again). Secrets not sent keep their value. The result
/// must build a working client, or nothing is stored.
#[utoipa::path(put, path = "/codex/api/sync/providers/{side}/{provider}", tag = "sync",
    params(("side" = String, Path), ("provider" = String, Path)),
    request_body(content = Object, description = "settings to set, e.g. {\"url\": \"…\", \"api_key\": \"…\"}"),
    responses((status = 200, body = ProviderView), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn put_provider(
    State(state): State<AppState>,
    crate::auth::AdminOnly(who): crate::auth::AdminOnly,
    Path((side, provider)): Path<(String, String)>,
    JsonBody(input): JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> AppResult<Json<ProviderView>> {
    apply(&state, &who, &side, &provider, &input)
        .await
        .map(Json)
}

/// Stores some of a provider's settings after checking that the merged result builds
/// its client, then rebuilds this node's clients (the web form and the API both land
/// here). Keys with `null` drop their stored value.
pub async fn apply(
    state: &AppState,
    who: &Principal,
    side: &str,
    provider: &str,
    input: &serde_json::Map<String, serde_json::Value>,
) -> AppResult<ProviderView> {
    let (side, provider) = (side.to_string(), provider.to_string());
    known(&side, &provider)?;
    if input.is_empty() {
        return Err(AppError::invalid("settings", "send at least one setting"));
    }
    let mut rows = stored(&state.db).await?;
    let mut values = rows
        .iter()
        .find(|r| r.side == side && r.provider == provider)
        .map(|r| r.values.clone())
        .unwrap_or_default();
    for (k, v) in input {
        match to_toml(k, v)? {
            Some(t) => {
                values.insert(k.clone(), t);
            }
            None => {
                values.remove(k);
            }
        }
    }
    // Check the merged result the way a start would, before anything is stored.
    rows.retain(|r| !(r.side == side && r.provider == provider));
    let candidate = Stored {
        side: side.clone(),
        provider: provider.clone(),
        values: values.clone(),
        updated_at: crate::time::now_db(),
        updated_by: Some(who.email.clone()),
    };
    rows.push(candidate.clone());
    let merged = overlay(&state.settings, &rows);
    let built = super::connectors_from_settings(&merged)
        .map_err(|e| AppError::invalid("settings", redact(&e.to_string())))?;
    let configured = side_table(&merged, &side).and_then(|t| t.get(&provider));
    let runs = match side.as_str() {
        "psa" => built.psa.contains_key(&provider),
        _ => built.rmm.contains_key(&provider),
    };
    if configured.is_some() && !runs {
        return Err(AppError::invalid(
            "provider",
            format!("this version cannot run a {provider} {side} client yet"),
        ));
    }
    save(&state.db, who, &candidate).await?;
    state.sync.reload(&state.db, &state.settings).await?;
    Ok(view(
        &state.settings,
        &merged,
        &rows,
        state,
        &side,
        &provider,
    ))
}

/// Removes a provider's stored settings; the file's (if any) apply again.
#[utoipa::path(delete, path = "/codex/api/sync/providers/{side}/{provider}", tag = "sync",
    params(("side" = String, Path), ("provider" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn delete_provider(
    State(state): State<AppState>,
    crate::auth::AdminOnly(who): crate::auth::AdminOnly,
    Path((side, provider)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    remove(&state, &who, &side, &provider).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Drops a provider's stored settings (the file's apply again) and rebuilds the clients.
pub async fn remove(
    state: &AppState,
    who: &Principal,
    side: &str,
    provider: &str,
) -> AppResult<()> {
    known(side, provider)?;
    let mut conn = state.db.pool.begin().await?;
    let gone = sqlx::query("DELETE FROM sync_provider_settings WHERE side = $1 AND provider = $2")
        .bind(side)
        .bind(provider)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if gone > 0 {
        crate::audit::record(
            &mut conn,
            Some(who),
            crate::audit::Change {
                module: "sync",
                action: crate::audit::Action::Delete,
                entity: "provider_settings",
                entity_id: format!("{side}/{provider}"),
                before: None,
                after: None,
            },
        )
        .await?;
    }
    conn.commit().await?;
    state.sync.reload(&state.db, &state.settings).await?;
    Ok(())
}

/// Every provider's view (secrets hidden), for the Data Sync Center.
pub async fn views(state: &AppState) -> AppResult<Vec<ProviderView>> {
    let rows = stored(&state.db).await?;
    let merged = overlay(&state.settings, &rows);
    Ok(PROVIDERS
        .iter()
        .map(|(side, name)| view(&state.settings, &merged, &rows, state, side, name))
        .collect())
}

async fn save(db: &Db, who: &Principal, row: &Stored) -> AppResult<()> {
    let json = serde_json::to_string(&row.values)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("settings: {e}")))?;
    let mut conn = db.pool.begin().await?;
    let updated = sqlx::query(
        "UPDATE sync_provider_settings SET settings_json = $1, updated_at = $2, updated_by = $3 \
         WHERE side = $4 AND provider = $5",
    )
    .bind(&json)
    .bind(&row.updated_at)
    .bind(&row.updated_by)
    .bind(&row.side)
    .bind(&row.provider)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        sqlx::query(
            "INSERT INTO sync_provider_settings (side, provider, settings_json, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.side)
        .bind(&row.provider)
        .bind(&json)
        .bind(&row.updated_at)
        .bind(&row.updated_by)
        .execute(&mut *conn)
        .await?;
    }
    // The audit trail names the keys that changed, never their secret values.
    let shown: BTreeMap<&String, serde_json::Value> = row
        .values
        .iter()
        .map(|(k, v)| {
            let v = if is_secret(k) {
                serde_json::Value::String("(set)".into())
            } else {
                serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
            };
            (k, v)
        })
        .collect();
    crate::audit::record(
        &mut conn,
        Some(who),
        crate::audit::Change {
            module: "sync",
            action: if updated == 0 {
                crate::audit::Action::Create
            } else {
                crate::audit::Action::Update
            },
            entity: "provider_settings",
            entity_id: format!("{}/{}", row.side, row.provider),
            before: None,
            after: serde_json::to_value(shown).ok(),
        },
    )
    .await?;
    conn.commit().await?;
    Ok(())
}

/// Client-building errors quote what they parsed; make sure no secret value rides along.
fn redact(message: &str) -> String {
    message.lines().next().unwrap_or(message).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(toml_text: &str) -> Settings {
        toml::from_str(toml_text).unwrap()
    }

    fn row(side: &str, provider: &str, kv: &[(&str, &str)]) -> Stored {
        Stored {
            side: side.into(),
            provider: provider.into(),
            values: kv
                .iter()
                .map(|(k, v)| (k.to_string(), toml::Value::String(v.to_string())))
                .collect(),
            updated_at: "2026-12-01T00:00:00Z".into(),
            updated_by: None,
        }
    }

    #[test]
    fn stored_values_overlay_the_file_key_by_key() {
        let f = file(
            "[psa.freshservice]\nurl = \"https://a.freshservice.com\"\napi_key = \"k1\"\naccount_number_field = \"acct\"\n",
        );
        let merged = overlay(&f, &[row("psa", "freshservice", &[("api_key", "k2")])]);
        let t = merged.psa.unwrap();
        let fs = t.get("freshservice").unwrap();
        assert_eq!(fs.get("api_key").unwrap().as_str(), Some("k2"));
        assert_eq!(
            fs.get("account_number_field").unwrap().as_str(),
            Some("acct")
        );
        assert_eq!(
            fs.get("url").unwrap().as_str(),
            Some("https://a.freshservice.com")
        );
    }

    #[test]
    fn a_provider_can_exist_only_in_the_database() {
        let merged = overlay(
            &Settings::default(),
            &[row(
                "rmm",
                "datto",
                &[("url", "http://x"), ("api_key", "k"), ("api_secret", "s")],
            )],
        );
        let d = merged.rmm.unwrap();
        assert!(d.get("datto").is_some());
        assert!(merged.psa.is_none());
    }

    #[test]
    fn only_plain_values_are_accepted() {
        assert!(to_toml("url", &serde_json::json!("x")).unwrap().is_some());
        assert!(to_toml("per_minute", &serde_json::json!(100))
            .unwrap()
            .is_some());
        assert!(to_toml("url", &serde_json::Value::Null).unwrap().is_none());
        assert!(to_toml("url", &serde_json::json!([1])).is_err());
        assert!(to_toml("per_minute", &serde_json::json!(1.5)).is_err());
    }
}
