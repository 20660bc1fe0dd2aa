//! Beacon's `GET /codex/api/tickets/active` over Codex tickets written the way the sync
//! writes them: the four sections, the agent filter, the views, the shared cache and
//! bad input.

use crate::both;
use crate::helpers::*;
use chrono::{Duration, Utc};
use hivematrix::auth::Role;
use hivematrix::codex::tickets::{self, TicketUpsert};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn ago(d: Duration) -> Option<String> {
    Some(hivematrix::time::to_db(Utc::now() - d))
}

fn ticket(id: &str, status: &str, priority: &str, updated: Duration) -> TicketUpsert {
    TicketUpsert {
        external_source: "freshservice".into(),
        external_id: id.into(),
        ticket_number: Some(format!("INC-{id}")),
        subject: Some(format!("ticket {id}")),
        status: Some(status.into()),
        priority: Some(priority.into()),
        created_at: ago(Duration::days(1)),
        last_updated_at: ago(updated),
        ..TicketUpsert::default()
    }
}

/// Section number → ids of the tickets in it, in board order.
fn sections(body: &Value) -> Vec<Vec<String>> {
    (1..=4)
        .map(|n| {
            body[format!("section{n}")]
                .as_array()
                .expect("section array")
                .iter()
                .map(|t| t["id"].as_str().expect("id").to_string())
                .collect()
        })
        .collect()
}

async fn seed(app: &TestApp) {
    let mut replied = ticket("1", "customer_replied", "low", Duration::minutes(5));
    replied.responder_external_id = Some("77".into());
    let overdue = ticket("2", "open", "urgent", Duration::hours(2));
    let mut fresh = ticket("3", "open", "medium", Duration::minutes(1));
    fresh.fr_due_by = Some(hivematrix::time::to_db(Utc::now() + Duration::hours(2)));
    let waiting = ticket("4", "waiting_customer", "high", Duration::minutes(10));
    let closed = ticket("5", "closed", "urgent", Duration::days(9));
    // A half-synced ticket: no status, priority or dates; it must not break the board.
    let bare = TicketUpsert {
        external_source: "freshservice".into(),
        external_id: "6".into(),
        ..TicketUpsert::default()
    };
    for t in [replied, overdue, fresh, waiting, closed, bare] {
        tickets::upsert_ticket(&app.db, &t).await.expect("upsert");
    }
}

both!(active_board_has_the_four_sections, |app| {
    seed(&app).await;
    let tech = app.caller(Role::Technician, None).await;
    let (status, body) = app.get("/codex/api/tickets/active", &tech).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let s = sections(&body);
    assert_eq!(s[1], vec!["1"], "customer replied is section 2: {body}");
    assert!(
        s[2].contains(&"2".to_string()),
        "urgent not updated for 2 h is overdue: {body}"
    );
    assert_eq!(s[0], vec!["3"], "open within SLA is section 1: {body}");
    assert!(
        s[3].contains(&"4".to_string()),
        "waiting on customer is section 4: {body}"
    );
    let all: Vec<&String> = s.iter().flatten().collect();
    assert!(
        !all.contains(&&"5".to_string()),
        "closed tickets are not on the board"
    );
    assert!(
        all.contains(&&"6".to_string()),
        "a bare ticket still lands somewhere"
    );
    assert_eq!(body["total_active"], 5);
    assert_eq!(body["section1"][0]["sla_class"], "sla-critical", "{body}");
    assert!(
        body["last_sync_time"].is_null(),
        "no ticket sync has run yet"
    );
});

both!(agent_filter_and_bad_view, |app| {
    seed(&app).await;
    let tech = app.caller(Role::Technician, None).await;
    let (_, mine) = app.get("/codex/api/tickets/active?agent=77", &tech).await;
    assert_eq!(sections(&mine).concat(), vec!["1"], "{mine}");
    let (_, unassigned) = app
        .get("/codex/api/tickets/active?agent=unassigned", &tech)
        .await;
    assert_eq!(unassigned["total_active"], 4, "{unassigned}");
    let (status, body) = app
        .get("/codex/api/tickets/active?view=kitchen", &tech)
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let admin = app.admin().await;
    let own = app.company(&admin, "1001", "Client Co").await;
    let client = app.caller(Role::Client, own["id"].as_i64()).await;
    let (status, body) = app.get("/codex/api/tickets/active", &client).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN);
});

both!(board_is_shared_until_tickets_change, |app| {
    seed(&app).await;
    let tech = app.caller(Role::Technician, None).await;
    let before = app.beacon.computations();
    for _ in 0..5 {
        let (status, _) = app.get("/codex/api/tickets/active", &tech).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(
        app.beacon.computations() - before,
        1,
        "five polls, one computation"
    );
    // A ticket written upstream (sync or webhook) shows on the very next poll.
    tickets::upsert_ticket(
        &app.db,
        &ticket("7", "customer_replied", "high", Duration::minutes(1)),
    )
    .await
    .expect("upsert");
    let (_, body) = app.get("/codex/api/tickets/active", &tech).await;
    assert_eq!(body["total_active"], 6, "{body}");
    assert!(sections(&body)[1].contains(&"7".to_string()));
    assert_eq!(app.beacon.computations() - before, 2);
    // Other boards after the change compute their own view from the same ticket read.
    let reads = app.beacon.ticket_reads();
    for path in [
        "/codex/api/tickets/active?view=helpdesk",
        "/codex/api/tickets/active?agent=77",
        "/beacon/api/tickets/professional-services",
    ] {
        let (status, _) = app.get(path, &tech).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(app.beacon.computations() - before, 5);
    assert_eq!(
        app.beacon.ticket_reads(),
        reads,
        "one read serves every board"
    );
});

/// The Professional Services board is the configured PSA group; Helpdesk the rest.
async fn views(backend: Backend) {
    let Some(app) = spawn_with(backend, |s| {
        s.beacon.professional_services_group = Some("G-PS".into())
    })
    .await
    else {
        return;
    };
    seed(&app).await;
    let mut project = ticket("8", "open", "low", Duration::minutes(3));
    project.group_external_id = Some("G-PS".into());
    tickets::upsert_ticket(&app.db, &project)
        .await
        .expect("upsert");
    let tech = app.caller(Role::Technician, None).await;
    let (_, ps) = app
        .get(
            "/codex/api/tickets/active?view=professional-services",
            &tech,
        )
        .await;
    assert_eq!(sections(&ps).concat(), vec!["8"], "{ps}");
    let (_, helpdesk) = app
        .get("/codex/api/tickets/active?view=helpdesk", &tech)
        .await;
    assert_eq!(helpdesk["total_active"], 5, "{helpdesk}");
    assert!(!sections(&helpdesk).concat().contains(&"8".to_string()));
}

mod views_by_group {
    #[tokio::test]
    async fn sqlite() {
        super::views(crate::helpers::Backend::Sqlite).await
    }
    #[tokio::test]
    async fn postgres() {
        super::views(crate::helpers::Backend::Postgres).await
    }
}

// ------------------------------------------------------------------ settings

both!(
    settings_defaults_validation_and_effect_on_the_board,
    |app| {
        seed(&app).await;
        let tech = app.caller(Role::Technician, None).await;
        let admin = app.admin().await;
        let (status, s) = app.get("/beacon/api/settings", &tech).await;
        assert_eq!(status, StatusCode::OK, "{s}");
        assert_eq!(s["update_overdue_minutes"]["urgent"], 30, "{s}");
        assert_eq!(s["update_overdue_minutes"]["high"], 2880);
        assert_eq!(s["update_overdue_minutes"]["medium"], 4320);
        assert_eq!(s["update_overdue_minutes"]["low"], 5760);
        assert_eq!(s["fr_critical_minutes"], 240);
        assert_eq!(s["fr_warning_minutes"], 720);
        assert_eq!(s["alert_levels"]["warning"], 90);
        assert_eq!(s["alert_levels"]["emergency"], 120);
        assert_eq!(s["version"], 0);

        // Ticket 2 (urgent, not updated for 2 h) is overdue under the 30-minute rule.
        let (_, before) = app.get("/codex/api/tickets/active", &tech).await;
        assert!(sections(&before)[2].contains(&"2".to_string()), "{before}");

        // Technicians may not change settings; bad input changes nothing.
        let (status, body) = app
            .put(
                "/beacon/api/settings",
                &tech,
                json!({"fr_critical_minutes": 60}),
            )
            .await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
        for bad in [
            json!({"fr_critical_minutes": 0}),
            json!({"fr_critical_minutes": 900, "fr_warning_minutes": 600}),
            json!({"update_overdue_minutes": {"urgent": -5, "high": 1, "medium": 1, "low": 1, "unknown": 1}}),
            json!({"alert_levels": {"warning": 100, "danger": 90, "critical": 110, "emergency": 120}}),
            json!({"update_overdue_minutes": {"urgent": 5}}),
            json!({"kitchen_sink": true}),
            json!({"fr_warning_minutes": "soon"}),
        ] {
            let (status, body) = app.put("/beacon/api/settings", &admin, bad.clone()).await;
            assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        }
        let (_, unchanged) = app.get("/beacon/api/settings", &tech).await;
        assert_eq!(
            unchanged, s,
            "rejected changes left the settings as they were"
        );

        // Urgent tickets may now wait 3 h: ticket 2 leaves section 3 at once.
        let (status, saved) = app
        .put(
            "/beacon/api/settings",
            &admin,
            json!({"update_overdue_minutes": {"urgent": 180, "high": 2880, "medium": 4320, "low": 5760, "unknown": 4320},
                   "alert_levels": {"warning": 2, "danger": 3, "critical": 50, "emergency": 60}}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        assert_eq!(saved["version"], 1);
        assert_eq!(saved["update_overdue_minutes"]["urgent"], 180);
        assert_eq!(
            saved["fr_critical_minutes"], 240,
            "absent fields keep their value"
        );
        assert_eq!(saved["updated_by"], admin.email.as_str());
        let (_, after) = app.get("/codex/api/tickets/active", &tech).await;
        let s_after = sections(&after);
        assert!(!s_after[2].contains(&"2".to_string()), "{after}");
        assert!(
            s_after[0].contains(&"2".to_string()),
            "now an open ticket: {after}"
        );
        // The alert levels reach the board's header: 5 active ≥ danger (3).
        let (_, board) = app.get("/beacon/api/tickets/helpdesk", &tech).await;
        assert_eq!(board["alert_level"], "danger", "{board}");
        assert_eq!(board["total_active_items"], 5);
        // The change is audited.
        let (_, audit) = app
            .get("/codex/api/audit?entity=beacon_settings", &admin)
            .await;
        assert!(audit.to_string().contains("beacon_settings"), "{audit}");
    }
);

both!(settings_move_tickets_between_views, |app| {
    seed(&app).await;
    let mut project = ticket("8", "open", "low", Duration::minutes(3));
    project.group_external_id = Some("G-PS".into());
    tickets::upsert_ticket(&app.db, &project)
        .await
        .expect("upsert");
    let tech = app.caller(Role::Technician, None).await;
    let admin = app.admin().await;
    let (_, ps) = app
        .get("/beacon/api/tickets/professional-services", &tech)
        .await;
    assert_eq!(ps["total_active_items"], 0, "no PS group configured: {ps}");
    let (status, _) = app
        .put(
            "/beacon/api/settings",
            &admin,
            json!({"professional_services_group": "G-PS"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, ps) = app
        .get("/beacon/api/tickets/professional-services", &tech)
        .await;
    assert_eq!(ps["total_active_items"], 1, "{ps}");
    assert_eq!(ps["s1_items"][0]["id"], "8");
    assert_eq!(ps["section1_name_js"], "Open Professional Services Tickets");
    let (_, hd) = app.get("/beacon/api/tickets/helpdesk", &tech).await;
    assert_eq!(hd["total_active_items"], 5, "{hd}");
    // Clearing the group puts everything back on Helpdesk.
    let (_, cleared) = app
        .put(
            "/beacon/api/settings",
            &admin,
            json!({"professional_services_group": null}),
        )
        .await;
    assert!(
        cleared["professional_services_group"].is_null(),
        "{cleared}"
    );
    let (_, hd) = app.get("/beacon/api/tickets/helpdesk", &tech).await;
    assert_eq!(hd["total_active_items"], 6, "{hd}");
    let (status, body) = app.get("/beacon/api/tickets/kitchen", &tech).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
});

// ------------------------------------------------------------ display tokens

async fn anon(app: &TestApp, path: &str, bearer: Option<&str>) -> StatusCode {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request").status()
}

both!(display_token_reads_the_board_and_nothing_else, |app| {
    seed(&app).await;
    let admin = app.admin().await;
    let tech = app.caller(Role::Technician, None).await;
    let (status, body) = app
        .post("/beacon/api/display-tokens", &tech, json!({"name": "TV"}))
        .await;
    assert_problem(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = app
        .post("/beacon/api/display-tokens", &admin, json!({"name": "  "}))
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, created) = app
        .post(
            "/beacon/api/display-tokens",
            &admin,
            json!({"name": "Helpdesk TV"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("hmd_"), "{token}");
    let id = created["id"].as_i64().expect("id");
    let (_, list) = app.get("/beacon/api/display-tokens", &admin).await;
    assert_eq!(list[0]["name"], "Helpdesk TV");
    assert!(
        !list.to_string().contains(&token),
        "the list never shows the token"
    );

    // The board: page, fragment, JSON.
    let page = app
        .client
        .get(app.url(&format!("/beacon/display/helpdesk?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Helpdesk (TV Display)"), "{html}");
    assert!(html.contains("Open Helpdesk Tickets") && html.contains("Customer Replied"));
    assert!(
        !html.contains("class=\"sidebar\""),
        "TV mode has no sidebar"
    );
    assert!(
        html.contains(&format!("/beacon/display/helpdesk/board?token={token}")),
        "the fragment is polled with the token"
    );
    assert_eq!(
        anon(
            &app,
            &format!("/beacon/display/helpdesk/board?token={token}"),
            None
        )
        .await,
        StatusCode::OK
    );
    let (status, board) = app
        .call(
            reqwest::Method::GET,
            &format!("/beacon/api/tickets/helpdesk?token={token}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{board}");
    assert_eq!(board["total_active_items"], 5);

    // Nothing else, however it is sent.
    for path in [
        format!("/codex/api/companies?token={token}"),
        format!("/codex/api/tickets?token={token}"),
        format!("/codex/api/tickets/active?token={token}"),
        format!("/beacon/api/settings?token={token}"),
        format!("/beacon/helpdesk/board?token={token}"),
        format!("/api/me?token={token}"),
    ] {
        assert_eq!(
            anon(&app, &path, None).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    for path in [
        "/codex/api/companies",
        "/beacon/api/settings",
        "/beacon/display/helpdesk",
    ] {
        assert_eq!(
            anon(&app, path, Some(&token)).await,
            StatusCode::UNAUTHORIZED,
            "{path} with the display token as bearer"
        );
    }
    let resp = app
        .client
        .get(app.url(&format!("/beacon/display?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers()["location"],
        format!("/beacon/display/helpdesk?token={token}").as_str()
    );
    // No token, a wrong one, a revoked one: 401.
    assert_eq!(
        anon(&app, "/beacon/display/helpdesk", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        anon(&app, "/beacon/display/helpdesk?token=hmd_0000", None).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = app
        .delete(&format!("/beacon/api/display-tokens/{id}"), &admin)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for path in [
        format!("/beacon/display/helpdesk?token={token}"),
        format!("/beacon/display/helpdesk/board?token={token}"),
        format!("/beacon/api/tickets/helpdesk?token={token}"),
    ] {
        assert_eq!(
            anon(&app, &path, None).await,
            StatusCode::UNAUTHORIZED,
            "{path} after revoke"
        );
    }
    let (status, body) = app
        .delete(&format!("/beacon/api/display-tokens/{id}"), &admin)
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/beacon/api/display-tokens", &admin).await;
    assert!(list[0]["revoked_at"].is_string(), "{list}");
});

// --------------------------------------------------------------------- pages

async fn page(app: &TestApp, path: &str, who: &Caller) -> (StatusCode, String) {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(&who.token)
        .header("accept", "text/html")
        .send()
        .await
        .expect("request");
    (resp.status(), resp.text().await.unwrap_or_default())
}

both!(pages_render_the_four_sections_escaped, |app| {
    seed(&app).await;
    let mut evil = ticket("9", "open", "high", Duration::minutes(2));
    evil.subject = Some("<script>alert(1)</script> printer".into());
    evil.requester_name = Some("<b>Mallory</b>".into());
    evil.description = Some("<p>It <i>broke</i></p>".into());
    tickets::upsert_ticket(&app.db, &evil)
        .await
        .expect("upsert");
    let tech = app.caller(Role::Technician, None).await;
    let (status, html) = page(&app, "/beacon/helpdesk", &tech).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    for title in [
        "Open Helpdesk Tickets",
        "Customer Replied",
        "Needs Agent / Update Overdue",
        "Other Active Helpdesk Tickets",
    ] {
        assert!(html.contains(title), "{title} missing");
    }
    assert!(!html.contains("<script>alert(1)"), "subjects are escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; printer"));
    assert!(html.contains("&lt;b&gt;Mallory&lt;/b&gt;"));
    assert!(html.contains("sla-critical"), "SLA classes are shown");
    assert!(html.contains("Customer Replied (5m ago)"), "SLA text");
    assert!(html.contains("Total Active: <strong>6</strong>"), "{html}");
    assert!(
        html.contains("href=\"/beacon/helpdesk\""),
        "Beacon is in the sidebar"
    );
    assert!(
        html.contains("<option value=\"unassigned\""),
        "agent filter"
    );
    assert!(html.contains("every 30s"), "the sections poll every 30 s");
    assert!(
        !html.contains("Sync tickets"),
        "no PSA configured: no sync button"
    );
    // The fragment: only the sections, plus the counter out of band.
    let (status, frag) = page(&app, "/beacon/helpdesk/board?agent=77", &tech).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!frag.contains("<html"), "{frag}");
    assert!(frag.contains("hx-swap-oob"));
    assert!(frag.contains("Total Active: <strong>1</strong>"), "{frag}");
    assert!(frag.contains("id=\"section-2\""));
    // The modal: details of one ticket, escaped.
    let (status, modal) = page(&app, "/beacon/tickets/freshservice/9", &tech).await;
    assert_eq!(status, StatusCode::OK, "{modal}");
    assert!(modal.contains("&lt;script&gt;"), "{modal}");
    assert!(modal.contains("It broke"), "description as text: {modal}");
    assert!(modal.contains("method=\"dialog\""));
    let (status, _) = page(&app, "/beacon/tickets/freshservice/5", &tech).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "closed tickets are not on the board"
    );
    // Professional Services renders too; clients are refused.
    let (status, ps) = page(&app, "/beacon/professional-services", &tech).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ps.contains("Open Professional Services Tickets"));
    let admin = app.admin().await;
    let own = app.company(&admin, "1001", "Client Co").await;
    let client = app.caller(Role::Client, own["id"].as_i64()).await;
    let (status, _) = page(&app, "/beacon/helpdesk", &client).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = page(&app, "/beacon/helpdesk/board", &client).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
});

// SuperOps tickets carry SuperOps status names; they land where their meaning says.
both!(superops_tickets_are_categorised_by_meaning, |app| {
    let so = |id: &str, status_name: &str, priority_name: &str, updated: Duration| TicketUpsert {
        external_source: "superops".into(),
        external_id: id.into(),
        subject: Some(format!("superops {id}")),
        status: Some(tickets::status_from_superops(status_name).into()),
        status_text: Some(status_name.into()),
        priority: Some(tickets::priority_from_superops(priority_name).into()),
        created_at: ago(Duration::days(1)),
        last_updated_at: ago(updated),
        ..TicketUpsert::default()
    };
    for t in [
        so("S1", "Customer Responded", "Low", Duration::minutes(5)),
        so("S2", "In Progress", "Normal", Duration::minutes(5)),
        so("S3", "Waiting on Customer", "High", Duration::minutes(5)),
        so("S4", "New", "Critical", Duration::hours(1)),
        so("S5", "Resolved", "High", Duration::minutes(5)),
        so("S6", "On Hold", "Low", Duration::minutes(5)),
    ] {
        tickets::upsert_ticket(&app.db, &t).await.expect("upsert");
    }
    tickets::upsert_ticket(
        &app.db,
        &ticket("F1", "customer_replied", "low", Duration::minutes(1)),
    )
    .await
    .expect("upsert");
    let tech = app.caller(Role::Technician, None).await;
    let (_, body) = app.get("/beacon/api/tickets/helpdesk", &tech).await;
    let ids = |key: &str| -> Vec<String> {
        body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids("s2_items"),
        vec!["S1", "F1"],
        "both PSAs' replies, stalest first: {body}"
    );
    assert_eq!(ids("s1_items"), vec!["S2"], "{body}");
    assert_eq!(
        ids("s3_items"),
        vec!["S4"],
        "critical = urgent, 1 h > 30 min: {body}"
    );
    assert_eq!(ids("s4_items"), vec!["S3", "S6"], "{body}");
    assert_eq!(body["total_active_items"], 6, "resolved is off the board");
    let s3 = &body["s4_items"][0];
    assert_eq!(s3["status_text"], "Waiting on Customer");
    assert_eq!(s3["source"], "superops");
    assert_eq!(body["s3_items"][0]["priority_text"], "Urgent");
    assert!(
        body["s3_items"][0]["sla_text"]
            .as_str()
            .unwrap()
            .starts_with("Update Overdue (New,"),
        "the SuperOps name is shown: {body}"
    );
});

// ------------------------------------------------- sync button, PSA links (simulator)

async fn with_simulator(app: &TestApp) -> (std::sync::Arc<hivematrix::sim::Sim>, String) {
    use hivematrix::sim::{DatasetSize, Sim, SimConfig, SimLimits};
    use hivematrix::sync::freshservice::{FreshserviceClient, FreshserviceConfig};
    let sim = Sim::new(SimConfig {
        seed: 6,
        size: DatasetSize {
            companies: 4,
            contacts: 20,
            agents: 4,
            tickets: 60,
            devices: 0,
        },
        limits: SimLimits {
            freshservice_per_minute: 100_000,
            ..SimLimits::default()
        },
        ..SimConfig::default()
    });
    let addr = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{addr}");
    let mut cfg = FreshserviceConfig::new(
        format!("{base}/freshservice"),
        &sim.config.credentials.freshservice_api_key,
    );
    cfg.per_minute = 100_000;
    let mut c = hivematrix::sync::engine::Connectors::default();
    c.psa.insert(
        "freshservice".into(),
        std::sync::Arc::new(FreshserviceClient::new(cfg).unwrap()),
    );
    app.sync.engine.set_connectors(c);
    app.start_sync_worker();
    (sim, base)
}

/// Presses "Sync tickets" as htmx does and follows the progress fragment until the job
/// ends; returns the last fragment's body and its HX-Trigger header.
async fn press_sync(app: &TestApp, who: &Caller) -> (String, String) {
    let resp = app
        .client
        .post(app.url("/beacon/sync"))
        .bearer_auth(&who.token)
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut trigger = header(&resp, "hx-trigger");
    let mut body = resp.text().await.unwrap();
    let started = std::time::Instant::now();
    while body.contains("data-done=\"false\"") {
        assert!(
            started.elapsed().as_secs() < 60,
            "sync did not finish: {body}"
        );
        let at = body.find("hx-get=\"").expect("a polling fragment") + 8;
        let next = body[at..].split('"').next().unwrap().replace("&amp;", "&");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let resp = app
            .client
            .get(app.url(&next))
            .bearer_auth(&who.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        trigger = header(&resp, "hx-trigger");
        body = resp.text().await.unwrap();
    }
    (body, trigger)
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

both!(sync_button_syncs_and_the_board_follows_upstream, |app| {
    let (_sim, base) = with_simulator(&app).await;
    let tech = app.caller(Role::Technician, None).await;
    let billing = app.caller(Role::Billing, None).await;
    let (_, html) = page(&app, "/beacon/helpdesk", &tech).await;
    assert!(html.contains("Sync tickets"), "technicians may sync");
    let (_, html) = page(&app, "/beacon/helpdesk", &billing).await;
    assert!(!html.contains("Sync tickets"), "billing may not");
    let resp = app
        .client
        .post(app.url("/beacon/sync"))
        .bearer_auth(&billing.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let (done, trigger) = press_sync(&app, &tech).await;
    assert!(done.contains("completed"), "{done}");
    assert!(
        done.contains("tickets: "),
        "progress counts are shown: {done}"
    );
    assert_eq!(
        trigger, "beacon-refresh",
        "the finished job refreshes the board"
    );
    let (_, board) = app.get("/beacon/api/tickets/helpdesk", &tech).await;
    let total = board["total_active_items"].as_u64().unwrap();
    assert!(total > 0, "{board}");
    assert!(board["dashboard_generated_time_iso"].is_string());
    let (_, codex) = app.get("/codex/api/tickets/active", &tech).await;
    assert!(codex["last_sync_time"].is_string(), "{codex}");

    // Ticket links open the ticket in the PSA.
    let first = ["s1_items", "s3_items", "s4_items"]
        .iter()
        .flat_map(|k| board[*k].as_array().cloned().unwrap_or_default())
        .next()
        .expect("a ticket outside section 2")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, html) = page(&app, "/beacon/helpdesk", &tech).await;
    assert!(
        html.contains(&format!("href=\"{base}/freshservice/a/tickets/{first}\"")),
        "PSA link for {first}"
    );

    // An agent marks it "Customer Replied" upstream; the next sync moves it to section 2.
    let resp = app
        .client
        .put(format!("{base}/freshservice/api/v2/tickets/{first}"))
        .basic_auth(&_sim.config.credentials.freshservice_api_key, Some("X"))
        .json(&json!({"status": 26, "subject": "Moved <upstream>"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        resp.text().await.unwrap()
    );
    press_sync(&app, &tech).await;
    let (_, board) = app.get("/beacon/api/tickets/helpdesk", &tech).await;
    let replied: Vec<&str> = board["s2_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(replied.contains(&first.as_str()), "{first} in {replied:?}");
    let (_, frag) = page(&app, "/beacon/helpdesk/board", &tech).await;
    assert!(frag.contains("Moved &lt;upstream&gt;"), "{frag}");
});

// ------------------------------------------------- settings page (browser session)

both!(
    settings_page_saves_validates_and_manages_display_tokens,
    |app| {
        use crate::web::Browser;
        let admin = app.admin().await;
        let b = Browser::new(&app);
        let csrf = b.login(&admin.email).await;
        let page = b.get("/beacon/settings").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("value=\"30\""), "urgent default shown");
        assert!(
            page.body.contains("href=\"/beacon/settings\""),
            "admin sidebar link"
        );
        let form = |urgent: &'static str, warning: &'static str| {
            vec![
                ("csrf_token", csrf.clone()),
                ("urgent", urgent.to_string()),
                ("high", "2880".into()),
                ("medium", "4320".into()),
                ("low", "5760".into()),
                ("unknown", "4320".into()),
                ("fr_critical", "240".into()),
                ("fr_warning", warning.to_string()),
                ("alert_warning", "90".into()),
                ("alert_danger", "100".into()),
                ("alert_critical", "110".into()),
                ("alert_emergency", "120".into()),
                ("professional_services_group", "<G>".into()),
            ]
        };
        let post = |fields: Vec<(&'static str, String)>| {
            let pairs: Vec<(&str, String)> = fields;
            let b = &b;
            async move {
                let borrowed: Vec<(&str, &str)> =
                    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
                b.post("/beacon/settings", &borrowed).await
            }
        };
        // Not a number, and warning below critical: 422 with both fields, nothing saved.
        let bad = post(form("soon", "60")).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.body.contains("must be a whole number"), "{}", bad.body);
        let (_, s) = app.get("/beacon/api/settings", &admin).await;
        assert_eq!(s["version"], 0);
        let bad = post(form("45", "60")).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            bad.body.contains("must not be below fr_critical_minutes"),
            "{}",
            bad.body
        );
        let ok = post(form("45", "720")).await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
        let (_, s) = app.get("/beacon/api/settings", &admin).await;
        assert_eq!(s["update_overdue_minutes"]["urgent"], 45, "{s}");
        assert_eq!(s["professional_services_group"], "<G>");
        let page = b.get("/beacon/settings").await;
        assert!(
            page.body.contains("value=\"&lt;G&gt;\""),
            "escaped in the form"
        );
        assert!(page.body.contains("Board settings saved"));

        // Display tokens: created (shown once), listed by prefix, revoked.
        let made = b
            .post(
                "/beacon/settings/display-tokens",
                &[("csrf_token", csrf.as_str()), ("name", "Lobby TV")],
            )
            .await;
        assert_eq!(made.status, StatusCode::OK, "{}", made.body);
        let at = made.body.find("hmd_").expect("the token is shown once");
        let token: String = made.body[at..].chars().take(44).collect();
        assert_eq!(
            anon(
                &app,
                &format!("/beacon/display/helpdesk?token={token}"),
                None
            )
            .await,
            StatusCode::OK
        );
        let (_, list) = app.get("/beacon/api/display-tokens", &admin).await;
        let id = list[0]["id"].as_i64().unwrap();
        let again = b.get("/beacon/settings").await;
        assert!(again.body.contains("Lobby TV") && !again.body.contains(&token));
        let revoked = b
            .post(
                &format!("/beacon/settings/display-tokens/{id}/revoke"),
                &[("csrf_token", csrf.as_str())],
            )
            .await;
        assert_eq!(revoked.status, StatusCode::SEE_OTHER);
        assert_eq!(
            anon(
                &app,
                &format!("/beacon/display/helpdesk?token={token}"),
                None
            )
            .await,
            StatusCode::UNAUTHORIZED
        );
        // Without the CSRF token nothing happens.
        let refused = b
            .post("/beacon/settings/display-tokens", &[("name", "x")])
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
    }
);

// Another app node changes the settings (straight in the shared database, not through
// this node): this node's cached board must follow on its next poll.
both!(
    settings_changed_on_another_node_reach_this_nodes_cache,
    |app| {
        use hivematrix::auth::{AuthMethod, Principal};
        use hivematrix::beacon::settings::{self, OverdueMinutes, SettingsInput};
        seed(&app).await;
        let tech = app.caller(Role::Technician, None).await;
        let (_, before) = app.get("/codex/api/tickets/active", &tech).await;
        assert!(sections(&before)[2].contains(&"2".to_string()), "{before}");
        let (_, again) = app.get("/codex/api/tickets/active", &tech).await;
        assert_eq!(before, again, "served from the cache");
        let other_node_admin = Principal {
            user_id: 0,
            email: "admin@node-b".into(),
            name: "Node B".into(),
            role: Role::Admin,
            company_id: None,
            method: AuthMethod::ApiToken { token_id: 0 },
            correlation_id: None,
        };
        settings::save(
            &app.db,
            &other_node_admin,
            None,
            &SettingsInput {
                update_overdue_minutes: Some(OverdueMinutes {
                    urgent: 240,
                    high: 2880,
                    medium: 4320,
                    low: 5760,
                    unknown: 4320,
                }),
                ..SettingsInput::default()
            },
        )
        .await
        .expect("save");
        let (_, after) = app.get("/codex/api/tickets/active", &tech).await;
        assert!(!sections(&after)[2].contains(&"2".to_string()), "{after}");
    }
);

both!(requester_names_come_from_codex_contacts, |app| {
    let admin = app.admin().await;
    app.company(&admin, "4100", "Named Co").await;
    let (s, c) = app
        .post(
            "/codex/api/contacts",
            &admin,
            serde_json::json!({"name": "Rita Requester", "email": "rita@named.example",
                               "company_account_numbers": ["4100"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    // The PSA listing carried only the requester's e-mail, not their name.
    let t = TicketUpsert {
        requester_email: Some("rita@named.example".into()),
        ..ticket("77", "open", "high", Duration::minutes(5))
    };
    tickets::upsert_ticket(&app.db, &t).await.expect("upsert");
    let (status, body) = app.get("/codex/api/tickets/active", &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let all: Vec<&Value> = (1..=4)
        .flat_map(|n| body[format!("section{n}")].as_array().unwrap().iter())
        .collect();
    let row = all
        .iter()
        .find(|t| t["id"] == "77")
        .expect("ticket on the board");
    assert_eq!(row["requester_name"], "Rita Requester", "{row}");
});
