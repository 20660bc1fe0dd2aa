//! Freshservice's ticket webhook as Workflow Automator calls it: no login, a shared
//! secret, a ticket id; the app fetches that ticket from the simulator through the
//! client `hivematrix.toml` configures and stores it as the ticket sync does.

use crate::helpers::*;
use hivematrix::sim::{DatasetSize, Sim, SimConfig, SimLimits};
use hivematrix::Settings;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

const SECRET: &str = "wh-secret-7f3a9c";
const HOOK: &str = "/codex/webhooks/freshservice/ticket";

async fn start_sim() -> (Arc<Sim>, String) {
    let sim = Sim::new(SimConfig {
        seed: 5,
        size: DatasetSize {
            companies: 3,
            contacts: 10,
            agents: 3,
            tickets: 12,
            devices: 0,
        },
        limits: SimLimits {
            freshservice_per_minute: 100_000,
            ..SimLimits::default()
        },
        ..SimConfig::default()
    });
    let addr = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (sim, format!("http://{addr}/freshservice"))
}

/// `[psa.freshservice]` as an admin writes it; `secret: None` leaves webhooks off.
fn configure(settings: &mut Settings, sim: &Sim, url: &str, secret: Option<&str>) {
    let mut table = toml::map::Map::new();
    table.insert("url".into(), url.into());
    table.insert(
        "api_key".into(),
        sim.config.credentials.freshservice_api_key.clone().into(),
    );
    table.insert("per_minute".into(), 100_000.into());
    if let Some(s) = secret {
        table.insert("webhook_secret".into(), s.into());
    }
    let mut psa = toml::map::Map::new();
    psa.insert("freshservice".into(), toml::Value::Table(table));
    settings.psa = Some(toml::Value::Table(psa));
}

/// One test per backend, each with its own simulator and an app configured by `$setup`.
macro_rules! webhook_test {
    ($name:ident, $secret:expr, |$app:ident, $sim:ident| $body:block) => {
        mod $name {
            use super::*;
            async fn run(backend: Backend) {
                let ($sim, url) = start_sim().await;
                let Some($app) = spawn_with(backend, |s| configure(s, &$sim, &url, $secret)).await
                else {
                    return;
                };
                $body
            }
            #[tokio::test]
            async fn sqlite() {
                run(Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                run(Backend::Postgres).await
            }
        }
    };
}

/// Calls the webhook as Freshservice would: no login, the secret in `header`.
async fn hook(app: &TestApp, header: Option<(&str, &str)>, body: &str) -> (StatusCode, Value) {
    let mut req = app
        .client
        .post(app.url(HOOK))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some((k, v)) = header {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn hook_ok(app: &TestApp, ticket_id: Value) -> Value {
    let body = json!({ "ticket_id": ticket_id, "event": "ticket.updated" }).to_string();
    let (s, b) = hook(app, Some(("X-Webhook-Secret", SECRET)), &body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

async fn ticket_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM tickets")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

/// A live simulator ticket with time entries and conversations.
fn busy_ticket(sim: &Sim) -> i64 {
    sim.data()
        .tickets
        .iter()
        .find(|t| !t.deleted && !t.time_entries.is_empty() && !t.conversations.is_empty())
        .expect("a ticket with time entries and conversations")
        .id
}

webhook_test!(
    a_ticket_is_created_then_updated_then_deleted_and_repeats_change_nothing,
    Some(SECRET),
    |app, sim| {
        let admin = app.admin().await;
        let id = busy_ticket(&sim);
        let (entries, conversations) = {
            let d = sim.data();
            let t = d.tickets.iter().find(|t| t.id == id).unwrap();
            (t.time_entries.len(), t.conversations.len())
        };

        let first = hook_ok(&app, json!(id)).await;
        assert_eq!(first["status"], "created", "{first}");
        assert_eq!(first["ticket_id"], id.to_string());
        let row = first["id"].as_i64().unwrap();
        let path = format!("/codex/api/ticket/{id}");
        let (s, t) = app.get(&path, &admin).await;
        assert_eq!(s, StatusCode::OK, "{t}");
        assert_eq!(t["id"], row);
        let subject = sim.data().ticket_mut(id).unwrap().subject.clone();
        assert_eq!(t["subject"], subject.as_str());
        assert_eq!(t["time_entries"].as_array().unwrap().len(), entries);
        let stored = |t: &Value| {
            t["conversations"].as_array().unwrap().len() + t["notes"].as_array().unwrap().len()
        };
        assert_eq!(stored(&t), conversations, "public and private ones");

        // The same call again: same row, nothing duplicated.
        let again = hook_ok(&app, json!(id.to_string())).await;
        assert_eq!(
            (again["status"].clone(), again["id"].clone()),
            (json!("updated"), json!(row))
        );
        let (_, t2) = app.get(&path, &admin).await;
        assert_eq!(t2["time_entries"], t["time_entries"]);
        assert_eq!(t2["conversations"], t["conversations"]);
        assert_eq!(t2["notes"], t["notes"]);
        assert_eq!(ticket_rows(&app).await, 1);

        // Upstream changes; the webhook (Bearer form, display id) brings them in.
        {
            let mut d = sim.data();
            let t = d.ticket_mut(id).unwrap();
            t.subject = "Printer on fire (webhook)".into();
            t.status = 5;
            t.updated_at = chrono::Utc::now();
        }
        let body = json!({ "ticket_id": format!("INC-{id}") }).to_string();
        let (s, b) = hook(
            &app,
            Some(("Authorization", &format!("Bearer {SECRET}"))),
            &body,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(
            (b["status"].clone(), b["id"].clone()),
            (json!("updated"), json!(row))
        );
        let (_, t3) = app.get(&path, &admin).await;
        assert_eq!(t3["subject"], "Printer on fire (webhook)");
        assert_eq!(t3["status"], "closed");
        assert!(t3["deleted_at"].is_null(), "{t3}");

        // Gone upstream: the row is kept and marked deleted, twice over.
        sim.data().ticket_mut(id).unwrap().deleted = true;
        for _ in 0..2 {
            let b = hook_ok(&app, json!(id)).await;
            assert_eq!(
                (b["status"].clone(), b["id"].clone()),
                (json!("deleted"), json!(row))
            );
        }
        let (_, t4) = app.get(&path, &admin).await;
        assert!(t4["deleted_at"].is_string(), "{t4}");
        assert_eq!(t4["time_entries"], t["time_entries"], "billed hours stay");
        assert_eq!(ticket_rows(&app).await, 1);

        // A ticket neither side has: reported deleted, nothing written.
        let b = hook_ok(&app, json!(987_654_321)).await;
        assert_eq!(
            (b["status"].clone(), b["id"].clone()),
            (json!("deleted"), Value::Null)
        );
        assert_eq!(ticket_rows(&app).await, 1);
    }
);

webhook_test!(
    a_missing_or_wrong_secret_is_refused_and_writes_nothing,
    Some(SECRET),
    |app, sim| {
        let admin = app.admin().await;
        let body = json!({ "ticket_id": busy_ticket(&sim) }).to_string();
        let bearer_token = format!("Bearer {}", admin.token);
        let wrong_bearer = format!("Bearer {SECRET}x");
        for header in [
            None,
            Some(("X-Webhook-Secret", "wrong")),
            Some(("X-Webhook-Secret", "")),
            Some(("Authorization", wrong_bearer.as_str())),
            // A user's API token is not the webhook secret.
            Some(("Authorization", bearer_token.as_str())),
        ] {
            let (s, b) = hook(&app, header, &body).await;
            assert_problem(s, &b, StatusCode::UNAUTHORIZED);
            assert!(!b.to_string().contains(SECRET), "{b}");
        }
        assert_eq!(ticket_rows(&app).await, 0);
        assert_eq!(sim.stats.route("freshservice GET /tickets/{id}"), 0);
    }
);

webhook_test!(
    without_a_configured_secret_webhooks_answer_503,
    None,
    |app, sim| {
        let body = json!({ "ticket_id": busy_ticket(&sim) }).to_string();
        for header in [None, Some(("X-Webhook-Secret", "anything"))] {
            let (s, b) = hook(&app, header, &body).await;
            assert_problem(s, &b, StatusCode::SERVICE_UNAVAILABLE);
            assert!(
                b["detail"].as_str().unwrap().contains("not configured"),
                "{b}"
            );
        }
        assert_eq!(ticket_rows(&app).await, 0);
        let (s, h) = app
            .call(reqwest::Method::GET, "/codex/webhooks/health", None, None)
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            h,
            json!({"webhooks_enabled": false, "secret_configured": false,
                   "supported_providers": ["freshservice"]})
        );
    }
);

webhook_test!(
    a_body_without_a_usable_ticket_id_is_422,
    Some(SECRET),
    |app, sim| {
        let auth = Some(("X-Webhook-Secret", SECRET));
        for (body, field) in [
            ("{}", "ticket_id"),
            (r#"{"ticket_id": null}"#, "ticket_id"),
            (r#"{"ticket_id": "printer"}"#, "ticket_id"),
            (r#"{"ticket_id": -4}"#, "ticket_id"),
            (r#"{"id": 5}"#, "ticket_id"),
            ("[5]", "body"),
            ("ticket 5", "body"),
            ("", "body"),
        ] {
            let (s, b) = hook(&app, auth, body).await;
            assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
            assert!(b["errors"][field].is_string(), "{body}: {b}");
        }
        assert_eq!(ticket_rows(&app).await, 0);
        assert_eq!(sim.stats.route("freshservice GET /tickets/{id}"), 0);
    }
);

webhook_test!(
    health_needs_no_login_and_never_shows_the_secret,
    Some(SECRET),
    |app, sim| {
        let _ = &sim;
        let admin = app.admin().await;
        let (s, h) = app
            .call(reqwest::Method::GET, "/codex/webhooks/health", None, None)
            .await;
        assert_eq!(s, StatusCode::OK, "{h}");
        assert_eq!(
            h,
            json!({"webhooks_enabled": true, "secret_configured": true,
                   "supported_providers": ["freshservice"]})
        );
        let (_, doc) = app.get("/openapi.json", &admin).await;
        let doc = doc.to_string();
        assert!(doc.contains(HOOK) && doc.contains("/codex/webhooks/health"));
        assert!(!doc.contains(SECRET));
    }
);

mod rate_limited {
    use super::*;

    async fn run(backend: Backend) {
        let (sim, url) = start_sim().await;
        let Some(app) = spawn_with(backend, |s| {
            configure(s, &sim, &url, Some(SECRET));
            s.rate_limit.per_minute = 1;
            s.rate_limit.burst = 2;
        })
        .await
        else {
            return;
        };
        let body = json!({ "ticket_id": busy_ticket(&sim) }).to_string();
        let auth = Some(("X-Webhook-Secret", SECRET));
        for _ in 0..2 {
            assert_eq!(hook(&app, auth, &body).await.0, StatusCode::OK);
        }
        let (s, b) = hook(&app, auth, &body).await;
        assert_problem(s, &b, StatusCode::TOO_MANY_REQUESTS);
    }

    #[tokio::test]
    async fn sqlite() {
        run(Backend::Sqlite).await
    }
    #[tokio::test]
    async fn postgres() {
        run(Backend::Postgres).await
    }
}

webhook_test!(
    the_webhook_and_the_ticket_sync_write_the_same_row,
    Some(SECRET),
    |app, sim| {
        let admin = app.admin().await;
        app.start_sync_worker();
        let (s, b) = app.post("/codex/sync/tickets", &admin, json!({})).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        let job = format!("/codex/admin/sync-jobs/{}", b["job_id"]);
        let mut done = Value::Null;
        for _ in 0..400 {
            let (_, j) = app.get(&job, &admin).await;
            if j["finished_at"].is_string() {
                done = j;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(done["status"], "completed", "{done}");
        let rows = ticket_rows(&app).await;
        let id = busy_ticket(&sim);
        let path = format!("/codex/api/ticket/{id}");
        let (_, synced) = app.get(&path, &admin).await;

        let b = hook_ok(&app, json!(id)).await;
        assert_eq!(
            (b["status"].clone(), b["id"].clone()),
            (json!("updated"), synced["id"].clone())
        );
        let (_, hooked) = app.get(&path, &admin).await;
        for field in [
            "subject",
            "status",
            "company_id",
            "time_entries",
            "conversations",
            "notes",
        ] {
            assert_eq!(hooked[field], synced[field], "{field}");
        }
        assert_eq!(ticket_rows(&app).await, rows);
    }
);
