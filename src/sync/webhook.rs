//! Real-time ticket updates: Freshservice's Workflow Automator calls
//! `POST /codex/webhooks/freshservice/ticket` when a ticket is created or changed.
//!
//! Freshservice does not sign these calls, and the body is whatever an admin typed into
//! the "Trigger Webhook" action, so the call is only a hint: it must present the shared
//! secret of `[psa.freshservice] webhook_secret` (`X-Webhook-Secret: <secret>` or
//! `Authorization: Bearer <secret>`), it names a ticket (`{"ticket_id": 123}`), and the
//! ticket itself is then fetched from the PSA and written through the ticket sync's own
//! [`engine::write_ticket`]. So a forged or stale body can never put data in Codex, and
//! the same call twice writes the same row. A ticket the PSA no longer has is marked
//! deleted. These routes bypass login (they carry their own secret) but are rate-limited
//! like everything else.

use super::engine;
use crate::codex::tickets;
use crate::codex::Change;
use crate::error::{problem_response, AppError, Problem};
use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every webhook path starts with this; the login guard lets them through.
pub const PREFIX: &str = "/codex/webhooks/";
const PROVIDER: &str = "freshservice";

/// Whether a path is a webhook route (authenticated by its secret, not a login).
pub fn is_webhook_path(path: &str) -> bool {
    path.starts_with(PREFIX)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookOutcome {
    /// `created`, `updated` or `deleted`.
    pub status: &'static str,
    /// The PSA's ticket id.
    pub ticket_id: String,
    pub provider: &'static str,
    /// The Codex row id (stable across calls); `null` for a ticket Codex never held.
    pub id: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookHealth {
    pub webhooks_enabled: bool,
    pub secret_configured: bool,
    pub supported_providers: Vec<&'static str>,
}

/// The configured secret, if webhooks are on (a malformed section counts as off).
fn configured_secret(state: &AppState) -> Option<String> {
    let settings = state
        .sync
        .effective_settings()
        .unwrap_or_else(|| state.settings.clone());
    let psa = settings.psa.as_ref()?;
    super::freshservice::FreshserviceConfig::from_psa_section(psa)
        .ok()?
        .webhook_secret
}

/// The secret the caller presented, from either header.
fn presented_secret(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("x-webhook-secret") {
        return v.to_str().ok();
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    auth.strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
}

/// Compares digests in constant time, so neither the content nor the length of the
/// secret leaks through response timing.
fn secret_matches(presented: &str, secret: &str) -> bool {
    let (a, b) = (
        Sha256::digest(presented.trim().as_bytes()),
        Sha256::digest(secret.as_bytes()),
    );
    crate::auth::middleware::constant_eq(&a, &b)
}

/// The ticket id from the body: a number, or a string such as `"123"`, `"#123"` or
/// `"INC-123"` (what Freshservice's `{{ticket.id}}` placeholder renders).
fn ticket_id(body: &[u8]) -> Result<String, AppError> {
    let json: Value = serde_json::from_slice(body).map_err(|_| {
        AppError::invalid("body", "must be a JSON object such as {\"ticket_id\": 123}")
    })?;
    let Some(obj) = json.as_object() else {
        return Err(AppError::invalid(
            "body",
            "must be a JSON object such as {\"ticket_id\": 123}",
        ));
    };
    let bad = || {
        AppError::invalid(
            "ticket_id",
            "must be a Freshservice ticket number such as 123 or \"INC-123\"",
        )
    };
    match obj.get("ticket_id") {
        None | Some(Value::Null) => Err(AppError::invalid("ticket_id", "is required")),
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|n| *n > 0)
            .map(|n| n.to_string())
            .ok_or_else(bad),
        Some(Value::String(s)) => parse_display_id(s).ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

fn parse_display_id(s: &str) -> Option<String> {
    let s = s.trim().trim_start_matches('#');
    // "INC-123", "SR-123": a letter prefix and a dash before the number.
    let digits = match s.split_once('-') {
        Some((prefix, rest)) if prefix.chars().all(|c| c.is_ascii_alphabetic()) => rest,
        Some(_) => return None,
        None => s,
    };
    let n: u64 = digits.parse().ok().filter(|n| *n > 0)?;
    // Re-rendered, so "007" and "7" name the same ticket.
    (digits.chars().all(|c| c.is_ascii_digit())).then(|| n.to_string())
}

fn unavailable(detail: &str) -> Response {
    problem_response(Problem::new(StatusCode::SERVICE_UNAVAILABLE, detail), None)
}

/// Fetches the named ticket from Freshservice and stores it as the ticket sync does.
#[utoipa::path(post, path = "/codex/webhooks/freshservice/ticket", tag = "sync",
    request_body(content = Object, description = "`{\"ticket_id\": 123}` (a number or a string such as \"INC-123\"); other fields are ignored"),
    params(("X-Webhook-Secret" = Option<String>, Header, description = "the shared secret (or `Authorization: Bearer <secret>`)")),
    responses((status = 200, body = WebhookOutcome),
              (status = 401, body = crate::error::Problem, description = "missing or wrong secret"),
              (status = 422, body = crate::error::Problem, description = "no usable ticket id"),
              (status = 502, body = crate::error::Problem, description = "Freshservice could not be asked"),
              (status = 503, body = crate::error::Problem, description = "webhooks are not configured")))]
pub async fn freshservice_ticket(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookOutcome>, Response> {
    let Some(secret) = configured_secret(&state) else {
        return Err(unavailable(
            "webhooks are not configured: set webhook_secret in [psa.freshservice]",
        ));
    };
    if !presented_secret(&headers).is_some_and(|p| secret_matches(p, &secret)) {
        return Err(AppError::Unauthorized(
            "missing or wrong webhook secret: send it in X-Webhook-Secret".into(),
        )
        .into_response());
    }
    let ticket_id = ticket_id(&body).map_err(IntoResponse::into_response)?;
    let Some(psa) = state.sync.engine.psa_provider(PROVIDER) else {
        return Err(unavailable(
            "webhooks are not configured: the Freshservice client is not usable",
        ));
    };
    let detail = psa.ticket_detail(&ticket_id).await.map_err(|e| {
        tracing::warn!(ticket_id = %ticket_id, error = %e, "webhook: fetching the ticket failed");
        let detail = format!("Freshservice could not be asked for ticket {ticket_id}: {e}");
        problem_response(Problem::new(StatusCode::BAD_GATEWAY, detail), None)
    })?;
    let outcome = store(&state, &ticket_id, detail)
        .await
        .map_err(IntoResponse::into_response)?;
    tracing::info!(ticket_id = %ticket_id, status = outcome.status, "webhook: ticket stored");
    Ok(Json(outcome))
}

async fn store(
    state: &AppState,
    ticket_id: &str,
    detail: Option<super::provider::TicketDetail>,
) -> Result<WebhookOutcome, AppError> {
    let (status, id) = match detail {
        Some(d) => {
            let up = engine::write_ticket(&state.db, PROVIDER, d).await?;
            let status = match up.change {
                Change::Created => "created",
                Change::Updated | Change::Unchanged => "updated",
            };
            (status, Some(up.id))
        }
        None => {
            let ids = [ticket_id.to_string()];
            tickets::mark_deleted(&state.db, PROVIDER, &ids).await?;
            let held = tickets::stored_versions(&state.db, PROVIDER, &ids).await?;
            ("deleted", held.get(ticket_id).map(|(id, _, _)| *id))
        }
    };
    Ok(WebhookOutcome {
        status,
        ticket_id: ticket_id.to_string(),
        provider: PROVIDER,
        id,
    })
}

/// Whether webhooks are usable (never the secret itself); no login needed.
#[utoipa::path(get, path = "/codex/webhooks/health", tag = "sync",
    responses((status = 200, body = WebhookHealth)))]
pub async fn health(State(state): State<AppState>) -> Json<WebhookHealth> {
    let secret = configured_secret(&state).is_some();
    let client = state.sync.engine.psa_provider(PROVIDER).is_some();
    Json(WebhookHealth {
        webhooks_enabled: secret && client,
        secret_configured: secret,
        supported_providers: vec![PROVIDER],
    })
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(freshservice_ticket))
        .routes(routes!(health))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(v: Value) -> Result<String, AppError> {
        ticket_id(v.to_string().as_bytes())
    }

    #[test]
    fn ticket_ids_are_read_as_numbers_or_display_strings() {
        assert_eq!(id_of(serde_json::json!({"ticket_id": 42})).unwrap(), "42");
        for s in ["42", " #42 ", "INC-42", "#SR-0042"] {
            assert_eq!(
                id_of(serde_json::json!({"ticket_id": s})).unwrap(),
                "42",
                "{s}"
            );
        }
        let extra =
            serde_json::json!({"ticket_id": "7", "event": "ticket.updated", "subject": "x"});
        assert_eq!(id_of(extra).unwrap(), "7");
        for bad in [
            serde_json::json!({"ticket_id": 0}),
            serde_json::json!({"ticket_id": -3}),
            serde_json::json!({"ticket_id": 1.5}),
            serde_json::json!({"ticket_id": "abc"}),
            serde_json::json!({"ticket_id": "1-2-3"}),
            serde_json::json!({"ticket_id": "42x"}),
            serde_json::json!({"ticket_id": [1]}),
            serde_json::json!({}),
            serde_json::json!({"ticket_id": null}),
            serde_json::json!([1]),
        ] {
            assert!(
                matches!(id_of(bad.clone()), Err(AppError::Validation(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            ticket_id(b"not json"),
            Err(AppError::Validation(_))
        ));
    }

    #[test]
    fn the_secret_must_match_exactly() {
        assert!(secret_matches("s3cret", "s3cret"));
        assert!(!secret_matches("s3cre", "s3cret"));
        assert!(!secret_matches("", "s3cret"));
        let mut h = HeaderMap::new();
        assert_eq!(presented_secret(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(presented_secret(&h), Some("abc"));
        h.insert("x-webhook-secret", "xyz".parse().unwrap());
        assert_eq!(presented_secret(&h), Some("xyz"), "the header wins");
    }
}
