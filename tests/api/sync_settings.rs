//! Provider settings entered by an admin over the API: they build the real clients
//! (a sync then runs against the simulator with them), secrets are never returned or
//! written to the audit trail, bad input changes nothing, and the file's settings
//! apply again when the stored ones are removed.

use crate::both;
use crate::helpers::*;
use hivematrix::auth::Role;
use hivematrix::sim::{DatasetSize, Sim, SimConfig, SimLimits};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;

async fn start_sim() -> (Arc<Sim>, String) {
    let sim = Sim::new(SimConfig {
        seed: 21,
        size: DatasetSize {
            companies: 4,
            contacts: 12,
            agents: 3,
            tickets: 10,
            devices: 12,
        },
        limits: SimLimits {
            freshservice_per_minute: 100_000,
            datto_per_minute: 100_000,
            ..SimLimits::default()
        },
        ..SimConfig::default()
    });
    let addr = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (sim, format!("http://{addr}"))
}

const FS: &str = "/codex/api/sync/providers/psa/freshservice";
const DATTO: &str = "/codex/api/sync/providers/rmm/datto";

both!(stored_settings_run_a_sync_and_never_show_secrets, |app| {
    let admin = app.admin().await;
    let (sim, base) = start_sim().await;
    app.start_sync_worker();
    let key = sim.config.credentials.freshservice_api_key.clone();

    // Nothing configured yet: the provider is listed as such and a sync cannot start.
    let (s, list) = app.get("/codex/api/sync/providers", &admin).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let fs = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "freshservice")
        .unwrap();
    assert_eq!(fs["configured"], false);
    assert_eq!(fs["source"], "none");
    let (s, _) = app.post("/codex/sync/psa", &admin, json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT);

    let (s, view) = app
        .put(
            FS,
            &admin,
            json!({"url": format!("{base}/freshservice"), "api_key": key,
                   "per_minute": 100000, "webhook_secret": "hook-secret-91"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["configured"], true);
    assert_eq!(view["active"], true);
    assert_eq!(view["source"], "database");
    assert_eq!(view["settings"]["url"], format!("{base}/freshservice"));
    assert_eq!(view["secrets"]["api_key"], true);
    assert_eq!(view["secrets"]["webhook_secret"], true);
    for body in [view.to_string(), app.get(FS, &admin).await.1.to_string()] {
        assert!(!body.contains(&key), "secret returned: {body}");
        assert!(!body.contains("hook-secret-91"), "secret returned: {body}");
    }

    // The stored settings built the client: a base sync runs against the simulator.
    let (s, b) = app.post("/codex/sync/psa", &admin, json!({})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let job = app.wait_job(&admin, b["job_id"].as_i64().unwrap()).await;
    assert_eq!(job["status"], "completed", "{job:#}");
    assert!(job["progress"]["companies"]["created"].as_u64().unwrap() > 0);

    // The webhook uses the stored secret.
    let hook = |secret: &'static str| {
        app.client
            .post(app.url("/codex/webhooks/freshservice/ticket"))
            .header("x-webhook-secret", secret)
            .json(&json!({"ticket_id": sim.data().tickets[0].id, "event": "ticket.updated"}))
            .send()
    };
    assert_eq!(
        hook("wrong").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        hook("hook-secret-91").await.unwrap().status(),
        StatusCode::OK
    );

    // The audit trail names the change but not the secrets.
    let audit: Vec<String> = sqlx::query_scalar(
        "SELECT COALESCE(after_json, '') FROM audit_log WHERE entity = 'provider_settings'",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(audit.len(), 1);
    assert!(audit[0].contains("api_key"));
    assert!(!audit[0].contains(&key), "{}", audit[0]);

    // Rotating only the key keeps the rest.
    let (s, view) = app.put(FS, &admin, json!({"api_key": "rotated-key"})).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["settings"]["url"], format!("{base}/freshservice"));
    let (s, b) = app.post("/codex/sync/psa", &admin, json!({})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let job = app.wait_job(&admin, b["job_id"].as_i64().unwrap()).await;
    assert_eq!(
        job["status"], "failed",
        "the simulator refuses the new key: {job:#}"
    );
    assert!(
        job["error"].as_str().unwrap_or("").contains("credentials"),
        "{job:#}"
    );
});

both!(bad_settings_are_refused_and_change_nothing, |app| {
    let admin = app.admin().await;
    let tech = app.caller(Role::Technician, None).await;
    let (s, b) = app.get("/codex/api/sync/providers", &tech).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
    let (s, b) = app
        .put(FS, &tech, json!({"url": "http://x", "api_key": "k"}))
        .await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);

    // A new provider without its key cannot build a client.
    let (s, b) = app.put(FS, &admin, json!({"url": "http://x"})).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b.to_string().contains("api_key"), "{b}");
    // Unknown keys, wrong types, unknown providers, empty bodies.
    let (s, b) = app
        .put(
            FS,
            &admin,
            json!({"url": "http://x", "api_key": "k", "colour": "red"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = app
        .put(FS, &admin, json!({"url": ["http://x"], "api_key": "k"}))
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = app
        .put(
            "/codex/api/sync/providers/psa/autotask",
            &admin,
            json!({"url": "x"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, b) = app.put(FS, &admin, json!({})).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);

    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sync_provider_settings")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0, "a refused input stored something");
    let (_, view) = app.get(FS, &admin).await;
    assert_eq!(view["configured"], false);
    assert!(app.sync.engine.psa_names().is_empty());
});

both!(removing_stored_settings_stops_the_client, |app| {
    let admin = app.admin().await;
    let (sim, base) = start_sim().await;
    let creds = &sim.config.credentials;
    let (s, view) = app
        .put(
            DATTO,
            &admin,
            json!({"url": format!("{base}/datto"), "api_key": creds.datto_api_key,
                   "api_secret": creds.datto_api_secret, "per_minute": 100000}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["secrets"]["api_secret"], true);
    assert_eq!(app.sync.engine.rmm_names(), vec!["datto".to_string()]);
    // The default schedules of a newly configured provider exist.
    let (_, schedules) = app.get("/codex/admin/sync-schedules", &admin).await;
    assert!(schedules.to_string().contains("datto"), "{schedules}");
    // `null` removes one stored value; without a secret the client cannot be built.
    let (s, b) = app.put(DATTO, &admin, json!({"api_secret": null})).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.sync.engine.rmm_names(), vec!["datto".to_string()]);

    let (s, _) = app.delete(DATTO, &admin).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(app.sync.engine.rmm_names().is_empty());
    let (_, view) = app.get(DATTO, &admin).await;
    assert_eq!(view["configured"], false);
    assert_eq!(view["source"], "none");
});
