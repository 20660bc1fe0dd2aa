//! Tickets and PSA agents: lists and filters, detail with time entries and
//! conversations, the quick-update endpoint, manual tickets, per-company lists, client
//! scope, and the Rust upsert API the PSA sync uses.

use crate::both;
use crate::helpers::*;
use hivematrix::auth::Role;
use hivematrix::codex::tickets::{self, AgentUpsert, ConversationUpsert, TicketUpsert, TimeEntry};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn fs(external_id: &str, subject: &str) -> TicketUpsert {
    TicketUpsert {
        external_source: "freshservice".into(),
        external_id: external_id.into(),
        subject: Some(subject.into()),
        status: Some("open".into()),
        status_id: Some(2),
        priority: Some("medium".into()),
        priority_id: Some(2),
        created_at: Some("2025-03-01T09:00:00Z".into()),
        last_updated_at: Some("2025-03-02T09:00:00Z".into()),
        ..TicketUpsert::default()
    }
}

async fn upsert(app: &TestApp, t: TicketUpsert) -> i64 {
    tickets::upsert_ticket(&app.db, &t).await.expect("upsert")
}

async fn agent(
    app: &TestApp,
    id: &str,
    first: Option<&str>,
    last: Option<&str>,
    active: bool,
) -> i64 {
    tickets::upsert_agent(
        &app.db,
        &AgentUpsert {
            external_source: "freshservice".into(),
            external_id: id.into(),
            first_name: first.map(Into::into),
            last_name: last.map(Into::into),
            email: Some(format!("agent{id}@msp.example")),
            active,
            ..AgentUpsert::default()
        },
    )
    .await
    .expect("agent")
    .id
}

fn entry(id: &str, minutes: i64, executed_at: &str) -> TimeEntry {
    TimeEntry {
        external_id: id.into(),
        minutes,
        billable: true,
        executed_at: Some(executed_at.into()),
        ..TimeEntry::default()
    }
}

fn conv(id: &str, private: bool, body: &str, at: &str) -> ConversationUpsert {
    ConversationUpsert {
        external_id: id.into(),
        private,
        body: Some(body.into()),
        created_at: Some(at.into()),
        ..ConversationUpsert::default()
    }
}

/// GET returning status, body and the `X-Total-Count` header.
async fn get_counted(app: &TestApp, path: &str, who: &Caller) -> (StatusCode, Value, Option<i64>) {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(&who.token)
        .send()
        .await
        .expect("request");
    let status = r.status();
    let total = r
        .headers()
        .get("x-total-count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body, total)
}

/// External ids of the tickets in a list envelope, in order.
async fn ids(app: &TestApp, query: &str, who: &Caller) -> Vec<String> {
    let (s, b) = app.get(&format!("/codex/api/tickets{query}"), who).await;
    assert_eq!(s, StatusCode::OK, "{query}: {b}");
    b["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["external_id"].as_str().unwrap().to_string())
        .collect()
}

async fn company_id(app: &TestApp, who: &Caller, acct: &str, name: &str) -> i64 {
    app.company(who, acct, name).await["id"].as_i64().unwrap()
}

async fn ticket_count(app: &TestApp) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) FROM tickets")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get(0)
}

both!(list_filters_sort_and_envelope, |app| {
    let admin = app.admin().await;
    let acme = company_id(&app, &admin, "700001", "Acme").await;
    let beta = company_id(&app, &admin, "700002", "Beta").await;
    let ada = agent(&app, "501", Some("Ada"), Some("Byte"), true).await;
    upsert(
        &app,
        TicketUpsert {
            company_id: Some(acme),
            responder_external_id: Some("501".into()),
            group_external_id: Some("g1".into()),
            requester_email: Some("Pat@Acme.example".into()),
            priority: Some("high".into()),
            priority_id: Some(3),
            last_updated_at: Some("2025-05-01T10:00:00Z".into()),
            ..fs("1001", "Printer on fire")
        },
    )
    .await;
    upsert(
        &app,
        TicketUpsert {
            company_id: Some(acme),
            status: Some("pending".into()),
            created_at: Some("2025-04-10T08:00:00Z".into()),
            last_updated_at: Some("2025-05-03T10:00:00Z".into()),
            ..fs("1002", "VPN slow")
        },
    )
    .await;
    upsert(
        &app,
        TicketUpsert {
            company_id: Some(beta),
            status: Some("closed".into()),
            priority: Some("low".into()),
            priority_id: Some(1),
            last_updated_at: Some("2025-05-02T10:00:00Z".into()),
            ..fs("1003", "New laptop 50%_off")
        },
    )
    .await;
    upsert(
        &app,
        TicketUpsert {
            external_source: "superops".into(),
            company_id: Some(beta),
            last_updated_at: Some("2024-12-31T23:00:00Z".into()),
            ..fs("S-9", "Mailbox full")
        },
    )
    .await;

    let (s, b, total) = get_counted(&app, "/codex/api/tickets", &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(total, Some(4));
    assert_eq!(
        (b["count"].as_i64(), b["total"].as_i64()),
        (Some(4), Some(4))
    );
    assert_eq!(
        (b["offset"].as_i64(), b["limit"].as_i64()),
        (Some(0), Some(50))
    );
    let first = &b["tickets"][0];
    assert_eq!(first["external_id"], "1002", "newest update first");
    assert_eq!(first["company_account_number"], "700001");
    assert_eq!(first["company_name"], "Acme");
    assert_eq!(first["company_compliance_level"], "standard");
    assert_eq!(first["status_text"], "Pending");

    assert_eq!(
        ids(&app, "?company_id=700001", &admin).await,
        ["1002", "1001"]
    );
    assert_eq!(
        ids(&app, "?status=open,closed", &admin).await,
        ["1003", "1001", "S-9"]
    );
    assert_eq!(ids(&app, "?priority=high", &admin).await, ["1001"]);
    assert_eq!(ids(&app, &format!("?agent={ada}"), &admin).await, ["1001"]);
    assert_eq!(
        ids(&app, "?agent=unassigned", &admin).await,
        ["1002", "1003", "S-9"]
    );
    assert_eq!(ids(&app, "?group=g1", &admin).await, ["1001"]);
    assert_eq!(ids(&app, "?source=superops", &admin).await, ["S-9"]);
    assert_eq!(
        ids(&app, "?updated_since=2025-05-02", &admin).await,
        ["1002", "1003"]
    );
    assert_eq!(
        ids(&app, "?updated_since=2025-05-02T10:00:00%2B00:00", &admin).await,
        ["1002", "1003"]
    );
    assert_eq!(
        ids(&app, "?created_from=2025-04-01", &admin).await,
        ["1002"]
    );
    assert_eq!(
        ids(&app, "?created_to=2025-03-01", &admin).await,
        ["1003", "1001", "S-9"],
        "a bare date includes the whole day"
    );
    assert_eq!(ids(&app, "?search=PRINTER", &admin).await, ["1001"]);
    assert_eq!(ids(&app, "?search=pat@acme", &admin).await, ["1001"]);
    assert_eq!(ids(&app, "?search=1003", &admin).await, ["1003"]);
    assert_eq!(
        ids(&app, "?search=50%25_", &admin).await,
        ["1003"],
        "wildcards match literally"
    );
    assert_eq!(
        ids(&app, "?sort=priority_id&order=asc", &admin).await,
        ["1003", "1002", "S-9", "1001"]
    );
    assert_eq!(
        ids(&app, "?sort=ticket_number", &admin).await,
        ["1001", "1002", "1003", "S-9"]
    );

    let (s, b, total) = get_counted(&app, "/codex/api/tickets?limit=1&offset=1", &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(total, Some(4));
    assert_eq!(b["count"], 1);
    assert_eq!(b["tickets"][0]["external_id"], "1003");

    let (s, b) = app
        .get(
            "/codex/api/tickets?sort=subject;drop&status=nope&agent=x&created_from=soon",
            &admin,
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    for f in ["sort", "status", "agent", "created_from"] {
        assert!(b["errors"][f].is_string(), "{f}: {b}");
    }
    let (s, b) = app.get("/codex/api/tickets?limit=1001", &admin).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = app
        .call(reqwest::Method::GET, "/codex/api/tickets", None, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
});

both!(detail_with_time_entries_conversations_and_notes, |app| {
    let admin = app.admin().await;
    let acme = company_id(&app, &admin, "700010", "Acme").await;
    let id = upsert(
        &app,
        TicketUpsert {
            company_id: Some(acme),
            ..fs("2001", "Server down")
        },
    )
    .await;
    let minutes = tickets::replace_time_entries(
        &app.db,
        id,
        &[
            entry("t1", 90, "2025-03-02T10:00:00Z"),
            entry("t2", 20, "2025-03-03T10:00:00Z"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(minutes, 110);
    tickets::upsert_conversations(
        &app.db,
        id,
        &[
            conv(
                "c1",
                false,
                "<p>Hello&nbsp;there</p>",
                "2025-03-02T09:00:00Z",
            ),
            conv("c2", true, "<b>internal</b>", "2025-03-02T09:30:00Z"),
        ],
    )
    .await
    .unwrap();

    let (s, t) = app.get("/codex/api/ticket/2001", &admin).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["id"].as_i64(), Some(id));
    assert_eq!(t["external_source"], "freshservice");
    assert_eq!(t["minutes_spent"], 110);
    assert_eq!(t["hours_spent"], "1.83");
    assert_eq!(t["total_hours_spent"], 1.83);
    assert_eq!(t["company_account_number"], "700010");
    let entries = t["time_entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["hours"], "1.50");
    assert_eq!(t["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(t["conversations"][0]["body_text"], "Hello there");
    assert_eq!(t["notes"].as_array().unwrap().len(), 1);
    assert_eq!(t["notes"][0]["private"], true);

    let (s, by_row) = app.get(&format!("/codex/api/tickets/{id}"), &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(by_row, t, "row id and PSA id address the same ticket");

    let (s, b) = app.get("/codex/api/ticket/999999", &admin).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, b) = app.get("/codex/api/tickets/999999", &admin).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);

    // The same PSA id in a second PSA: ambiguous until the source is named.
    let other = upsert(
        &app,
        TicketUpsert {
            external_source: "superops".into(),
            ..fs("2001", "Other PSA")
        },
    )
    .await;
    let (s, b) = app.get("/codex/api/ticket/2001", &admin).await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    let detail = b["detail"].as_str().unwrap();
    assert!(
        detail.contains("freshservice") && detail.contains("superops"),
        "{detail}"
    );
    let (s, t) = app
        .get("/codex/api/ticket/2001?source=superops", &admin)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t["id"].as_i64(), Some(other));
    let (s, _) = app.get("/codex/api/ticket/2001?source=halo", &admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
});

both!(quick_update_roles_validation_and_audit, |app| {
    let admin = app.admin().await;
    let acme = company_id(&app, &admin, "700020", "Acme").await;
    let id = upsert(
        &app,
        TicketUpsert {
            company_id: Some(acme),
            ..fs("3001", "Phones")
        },
    )
    .await;
    let path = format!("/codex/api/ticket/{id}/update");
    let tech = app.caller(Role::Technician, None).await;
    let (s, b) = app
        .post(
            &path,
            &tech,
            json!({"status": "Pending", "note": "Called the customer"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["success"], true);
    assert_eq!(b["ticket_id"].as_i64(), Some(id));
    assert_eq!(b["ticket"]["status"], "pending");
    assert_eq!(b["ticket"]["status_text"], "Pending");
    let note = &b["ticket"]["notes"][0];
    assert_eq!(note["body"], "Called the customer");
    assert_eq!(note["from_email"], tech.email.as_str());
    assert_eq!(note["author_user_id"].as_i64(), Some(tech.user_id));

    // The original's field name still works.
    let (s, b) = app.post(&path, &tech, json!({"notes": "Second"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["ticket"]["notes"].as_array().unwrap().len(), 2);

    // A later sync does not erase notes written here.
    upsert(
        &app,
        TicketUpsert {
            company_id: Some(acme),
            ..fs("3001", "Phones")
        },
    )
    .await;
    let (_, t) = app.get(&format!("/codex/api/tickets/{id}"), &admin).await;
    assert_eq!(t["notes"].as_array().unwrap().len(), 2);

    let billing = app.caller(Role::Billing, None).await;
    let (s, b) = app.post(&path, &billing, json!({"status": "closed"})).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
    let client = app.caller(Role::Client, Some(acme)).await;
    let (s, b) = app.post(&path, &client, json!({"status": "closed"})).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
    let (s, _) = app
        .call(
            reqwest::Method::POST,
            &path,
            None,
            Some(json!({"status": "closed"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let (s, b) = app
        .post(&path, &tech, json!({"status": "exploded", "note": "  "}))
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["errors"]["status"].is_string() && b["errors"]["note"].is_string(),
        "{b}"
    );
    let (s, b) = app.post(&path, &tech, json!({})).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, t) = app.get(&format!("/codex/api/tickets/{id}"), &admin).await;
    assert_eq!(
        t["status"], "open",
        "the sync's status; failed updates changed nothing"
    );
    assert_eq!(t["notes"].as_array().unwrap().len(), 2);

    let (s, b) = app
        .post(
            "/codex/api/ticket/999999/update",
            &tech,
            json!({"status": "closed"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);

    let (s, audit) = app
        .get(
            &format!("/codex/api/audit?entity=ticket&entity_id={id}"),
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{audit}");
    assert_eq!(entries[1]["actor_email"], tech.email.as_str());
    assert_eq!(entries[1]["before"]["status"], "open");
    assert_eq!(entries[1]["after"]["status"], "pending");
});

both!(manual_tickets_create_edit_and_validate, |app| {
    let admin = app.admin().await;
    company_id(&app, &admin, "700030", "Acme").await;
    let ada = agent(&app, "601", Some("Ada"), None, true).await;
    let tech = app.caller(Role::Technician, None).await;

    let (s, b) = app
        .post(
            "/codex/api/tickets",
            &tech,
            json!({
                "priority": "apocalyptic", "requester_email": "not-an-email",
                "company_account_number": "404404", "agent_id": 999999, "due_by": "tomorrow"
            }),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    for f in [
        "subject",
        "priority",
        "requester_email",
        "company_account_number",
        "agent_id",
        "due_by",
    ] {
        assert!(b["errors"][f].is_string(), "{f}: {b}");
    }
    assert_eq!(ticket_count(&app).await, 0, "nothing created");

    let (s, t) = app
        .post(
            "/codex/api/tickets",
            &tech,
            json!({
                "subject": "Install printer", "description": "<p>Room 4</p>",
                "company_account_number": "700030", "priority": "High",
                "requester_email": "Sam@Acme.example", "due_by": "2025-06-01T12:00:00+02:00"
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let id = t["id"].as_i64().unwrap();
    assert_eq!(t["external_source"], "manual");
    assert_eq!(t["external_id"], id.to_string());
    assert_eq!(t["ticket_number"], format!("M-{id}"));
    assert_eq!(t["status"], "open");
    assert_eq!(t["priority"], "high");
    assert_eq!(t["priority_id"], 3);
    assert_eq!(t["description_text"], "Room 4");
    assert_eq!(t["requester_email"], "sam@acme.example");
    assert_eq!(t["due_by"], "2025-06-01T10:00:00.000000Z");
    assert_eq!(t["company_account_number"], "700030");
    let (s, _) = app
        .get(&format!("/codex/api/ticket/{id}?source=manual"), &tech)
        .await;
    assert_eq!(s, StatusCode::OK);

    let (s, up) = app
        .put(
            &format!("/codex/api/tickets/{id}"),
            &tech,
            json!({"status": "closed", "agent_id": ada}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(up["status"], "closed");
    assert!(up["closed_at"].is_string());
    assert_eq!(up["agent_name"], "Ada");
    assert_eq!(up["responder_external_id"], "601");
    assert_eq!(up["subject"], "Install printer", "untouched fields stay");

    let r = app
        .client
        .patch(app.url(&format!("/codex/api/tickets/{id}")))
        .bearer_auth(&tech.token)
        .json(&json!({"group_external_id": "g7", "group_name": "Field", "status": "open", "agent_id": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let up: Value = r.json().await.unwrap();
    assert_eq!(up["group_external_id"], "g7");
    assert!(up["closed_at"].is_null(), "reopening clears closed_at");
    assert!(up["agent_id"].is_null() && up["agent_name"].is_null());

    let (s, b) = app
        .put(
            &format!("/codex/api/tickets/{id}"),
            &tech,
            json!({"subject": "", "status": "gone", "agent_id": 424242}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["errors"].as_object().unwrap().len(), 3, "{b}");
    let (_, same) = app.get(&format!("/codex/api/tickets/{id}"), &tech).await;
    assert_eq!(same["subject"], "Install printer");
    assert_eq!(same["status"], "open");
    let (s, b) = app
        .put(
            &format!("/codex/api/tickets/{id}"),
            &tech,
            json!({"colour": "red"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);

    let billing = app.caller(Role::Billing, None).await;
    let (s, _) = app
        .post("/codex/api/tickets", &billing, json!({"subject": "x"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .put(
            &format!("/codex/api/tickets/{id}"),
            &billing,
            json!({"subject": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = app
        .put("/codex/api/tickets/999999", &tech, json!({"subject": "x"}))
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
});

both!(company_tickets_with_year_filter, |app| {
    let admin = app.admin().await;
    let acme = company_id(&app, &admin, "700040", "Acme").await;
    let beta = company_id(&app, &admin, "700041", "Beta").await;
    let old = upsert(
        &app,
        TicketUpsert {
            company_id: Some(acme),
            last_updated_at: Some("2024-12-31T23:59:59Z".into()),
            ..fs("4001", "Old")
        },
    )
    .await;
    let new = upsert(
        &app,
        TicketUpsert {
            company_id: Some(acme),
            last_updated_at: Some("2025-01-01T00:00:00Z".into()),
            ..fs("4002", "New")
        },
    )
    .await;
    upsert(
        &app,
        TicketUpsert {
            company_id: Some(beta),
            ..fs("4003", "Theirs")
        },
    )
    .await;
    tickets::replace_time_entries(&app.db, new, &[entry("e1", 45, "2025-01-01T01:00:00Z")])
        .await
        .unwrap();
    tickets::upsert_conversations(
        &app.db,
        new,
        &[
            conv("c1", false, "reply", "2025-01-01T00:00:00Z"),
            conv("n1", true, "note", "2025-01-01T00:01:00Z"),
        ],
    )
    .await
    .unwrap();
    tickets::upsert_conversations(
        &app.db,
        old,
        &[conv("c9", false, "old reply", "2024-12-01T00:00:00Z")],
    )
    .await
    .unwrap();

    let (s, all, total) = get_counted(&app, "/codex/api/companies/700040/tickets", &admin).await;
    assert_eq!(s, StatusCode::OK, "{all}");
    assert_eq!(total, Some(2));
    assert_eq!(all[0]["ticket_id"].as_i64(), Some(new));
    assert_eq!(all[1]["conversations"][0]["body"], "old reply");

    let (s, y, total) = get_counted(
        &app,
        "/codex/api/companies/700040/tickets?year=2025",
        &admin,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(total, Some(1));
    let t = &y[0];
    assert_eq!(t["ticket_id"].as_i64(), Some(new));
    assert_eq!(t["total_hours_spent"], 0.75);
    assert_eq!(t["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(t["notes"][0]["body"], "note");
    let (_, y, _) = get_counted(
        &app,
        "/codex/api/companies/700040/tickets?year=2024",
        &admin,
    )
    .await;
    assert_eq!(y.as_array().unwrap().len(), 1);
    assert_eq!(y[0]["ticket_id"].as_i64(), Some(old));

    let (_, page, total) = get_counted(
        &app,
        "/codex/api/companies/700040/tickets?limit=1&offset=1",
        &admin,
    )
    .await;
    assert_eq!(total, Some(2));
    assert_eq!(page[0]["ticket_id"].as_i64(), Some(old));

    let (s, b) = app
        .get("/codex/api/companies/700040/tickets?year=1999", &admin)
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["year"].is_string());
    let (s, b) = app.get("/codex/api/companies/404404/tickets", &admin).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);

    // The Rust API for the bulk endpoint: same tickets, grouped, in two queries.
    let grouped = tickets::list_for_companies(&app.db, &[acme, beta], Some(2025))
        .await
        .unwrap();
    assert_eq!(grouped[&acme].len(), 1);
    assert_eq!(grouped[&acme][0].notes.len(), 1);
    assert_eq!(grouped[&beta].len(), 1);
    assert!(tickets::list_for_companies(&app.db, &[acme], Some(1800))
        .await
        .is_err());
});

both!(clients_see_only_their_company, |app| {
    let admin = app.admin().await;
    let acme = company_id(&app, &admin, "700050", "Acme").await;
    let beta = company_id(&app, &admin, "700051", "Beta").await;
    let mine = upsert(
        &app,
        TicketUpsert {
            company_id: Some(acme),
            ..fs("5001", "Mine")
        },
    )
    .await;
    let theirs = upsert(
        &app,
        TicketUpsert {
            company_id: Some(beta),
            ..fs("5002", "Theirs")
        },
    )
    .await;
    upsert(&app, fs("5003", "Nobody's")).await;
    let client = app.caller(Role::Client, Some(acme)).await;

    let (s, b, total) = get_counted(&app, "/codex/api/tickets", &client).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(total, Some(1));
    assert_eq!(b["tickets"][0]["id"].as_i64(), Some(mine));
    assert_eq!(
        ids(&app, "?company_id=700051", &client).await,
        Vec::<String>::new()
    );
    let (s, _) = app
        .get(&format!("/codex/api/tickets/{mine}"), &client)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app
        .get(&format!("/codex/api/tickets/{theirs}"), &client)
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, _) = app.get("/codex/api/ticket/5002", &client).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.get("/codex/api/ticket/5003", &client).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .get("/codex/api/companies/700051/tickets", &client)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, list) = app
        .get("/codex/api/companies/700050/tickets", &client)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (s, list) = app.get("/codex/api/psa/tickets", &client).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (s, b) = app.get("/codex/api/psa/agents", &client).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
    let (s, b) = app
        .post("/codex/api/tickets", &client, json!({"subject": "Help"}))
        .await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
});

both!(psa_agents_active_first_then_name, |app| {
    let admin = app.admin().await;
    agent(&app, "1", Some("Aaron"), Some("Old"), false).await;
    agent(&app, "2", Some("Zed"), None, true).await;
    agent(&app, "77", None, None, true).await;
    agent(&app, "3", None, Some("bob"), true).await;
    tickets::upsert_agent(
        &app.db,
        &AgentUpsert {
            external_source: "superops".into(),
            external_id: "x1".into(),
            first_name: Some("Sue".into()),
            active: true,
            ..AgentUpsert::default()
        },
    )
    .await
    .unwrap();

    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (s, all, total) = get_counted(&app, "/codex/api/psa/agents", &admin).await;
    assert_eq!(s, StatusCode::OK, "{all}");
    assert_eq!(total, Some(5));
    assert_eq!(names(&all), ["Agent 77", "bob", "Sue", "Zed", "Aaron Old"]);
    let a = &all[0];
    assert_eq!(
        (a["external_id"].as_str(), a["source"].as_str()),
        (Some("77"), Some("freshservice"))
    );
    assert_eq!(a["email"], "agent77@msp.example");
    assert_eq!(a["active"], true);
    assert!(a["id"].is_i64() && a.get("job_title").is_some());

    let (_, v) = app
        .get("/codex/api/psa/agents?provider=superops", &admin)
        .await;
    assert_eq!(names(&v), ["Sue"]);
    let (_, v) = app.get("/codex/api/psa/agents?active=false", &admin).await;
    assert_eq!(names(&v), ["Aaron Old"]);
    let (_, v) = app.get("/codex/api/psa/agents?search=ZED", &admin).await;
    assert_eq!(names(&v), ["Zed"]);
    let (_, v, total) = get_counted(&app, "/codex/api/psa/agents?limit=2&offset=1", &admin).await;
    assert_eq!(
        (names(&v), total),
        (vec!["bob".to_string(), "Sue".to_string()], Some(5))
    );

    let gone = tickets::mark_missing_agents(&app.db, "freshservice", &["2".into(), "3".into()])
        .await
        .unwrap();
    assert_eq!(gone, 2);
    let (_, v) = app
        .get("/codex/api/psa/agents?provider=freshservice", &admin)
        .await;
    assert_eq!(names(&v), ["bob", "Zed"]);

    let tech = app.caller(Role::Technician, None).await;
    let (s, _) = app.get("/codex/api/psa/agents", &tech).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .call(reqwest::Method::GET, "/codex/api/psa/agents", None, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
});

both!(upserts_are_idempotent_and_keep_ids, |app| {
    let admin = app.admin().await;
    let acme = company_id(&app, &admin, "700060", "Acme").await;
    sqlx::query(
        "UPDATE companies SET external_source = 'freshservice', external_id = 'D-1' WHERE id = $1",
    )
    .bind(acme)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let a1 = agent(&app, "801", Some("Ada"), Some("Byte"), true).await;
    let a2 = agent(&app, "801", Some("Ada"), Some("Lovelace"), true).await;
    assert_eq!(a1, a2, "same agent, same row");

    let full = TicketUpsert {
        company_external_id: Some("D-1".into()),
        responder_external_id: Some("801".into()),
        requester_email: Some("pat@acme.example".into()),
        requester_name: Some("Pat".into()),
        description: Some("<p>It broke</p>".into()),
        ..fs("6001", "Broken")
    };
    let id1 = upsert(&app, full.clone()).await;
    let id2 = upsert(&app, full).await;
    assert_eq!(id1, id2);
    assert_eq!(ticket_count(&app).await, 1);

    // A light sync knows less: what it lacks is kept, what it says wins.
    let light = TicketUpsert {
        status: Some("pending".into()),
        ..fs("6001", "Broken (renamed)")
    };
    assert_eq!(upsert(&app, light).await, id1);
    let (_, t) = app.get("/codex/api/ticket/6001", &admin).await;
    assert_eq!(t["subject"], "Broken (renamed)");
    assert_eq!(t["status"], "pending");
    assert_eq!(t["company_id"].as_i64(), Some(acme), "company kept");
    assert_eq!(t["requester_email"], "pat@acme.example");
    assert_eq!(t["description_text"], "It broke");
    assert!(t["agent_id"].is_null(), "no responder now: unassigned");

    let with_agent = TicketUpsert {
        responder_external_id: Some("801".into()),
        ..fs("6001", "Broken")
    };
    upsert(&app, with_agent).await;
    let (_, t) = app.get("/codex/api/ticket/6001", &admin).await;
    assert_eq!(t["agent_id"].as_i64(), Some(a1));
    assert_eq!(t["agent_name"], "Ada Lovelace");
    let unknown = TicketUpsert {
        responder_external_id: Some("999".into()),
        ..fs("6001", "Broken")
    };
    upsert(&app, unknown).await;
    let (_, t) = app.get("/codex/api/ticket/6001", &admin).await;
    assert_eq!(t["agent_name"], "Agent 999", "an agent not synced yet");

    let entries = [
        entry("a", 30, "2025-03-01T10:00:00Z"),
        entry("b", 15, "2025-03-01T11:00:00Z"),
    ];
    tickets::replace_time_entries(&app.db, id1, &entries)
        .await
        .unwrap();
    let (_, first) = app.get("/codex/api/ticket/6001", &admin).await;
    tickets::replace_time_entries(&app.db, id1, &entries)
        .await
        .unwrap();
    let (_, second) = app.get("/codex/api/ticket/6001", &admin).await;
    assert_eq!(
        first["time_entries"], second["time_entries"],
        "entry ids stable"
    );
    assert_eq!(second["minutes_spent"], 45);
    let minutes = tickets::replace_time_entries(&app.db, id1, &entries[1..])
        .await
        .unwrap();
    assert_eq!(minutes, 15);
    let (_, third) = app.get("/codex/api/ticket/6001", &admin).await;
    assert_eq!(third["time_entries"].as_array().unwrap().len(), 1);
    assert_eq!(
        third["time_entries"][0]["id"],
        first["time_entries"][1]["id"]
    );
    assert_eq!(third["hours_spent"], "0.25");

    let c = [conv("c1", false, "hi", "2025-03-01T10:00:00Z")];
    tickets::upsert_conversations(&app.db, id1, &c)
        .await
        .unwrap();
    tickets::upsert_conversations(&app.db, id1, &c)
        .await
        .unwrap();
    let (_, t) = app.get("/codex/api/ticket/6001", &admin).await;
    assert_eq!(t["conversations"].as_array().unwrap().len(), 1);

    assert!(tickets::replace_time_entries(&app.db, 424242, &entries)
        .await
        .is_err());
    let bad = [TimeEntry {
        external_id: "neg".into(),
        minutes: -5,
        ..TimeEntry::default()
    }];
    assert!(tickets::replace_time_entries(&app.db, id1, &bad)
        .await
        .is_err());
});

both!(minutes_add_up_to_exact_hours, |app| {
    let admin = app.admin().await;
    let id = upsert(&app, fs("7001", "Thirds")).await;
    let thirds = [
        entry("1", 20, "2025-03-01T10:00:00Z"),
        entry("2", 20, "2025-03-01T11:00:00Z"),
        entry("3", 20, "2025-03-01T12:00:00Z"),
    ];
    tickets::replace_time_entries(&app.db, id, &thirds)
        .await
        .unwrap();
    let (_, t) = app.get("/codex/api/ticket/7001", &admin).await;
    assert_eq!(t["minutes_spent"], 60);
    assert_eq!(
        t["hours_spent"], "1.00",
        "three 20-minute entries are exactly one hour"
    );
    assert_eq!(t["total_hours_spent"], 1.0);
    for e in t["time_entries"].as_array().unwrap() {
        assert_eq!(e["hours"], "0.33");
    }
    tickets::replace_time_entries(&app.db, id, &[entry("x", 50, "2025-03-01T10:00:00Z")])
        .await
        .unwrap();
    let (_, t) = app.get("/codex/api/ticket/7001", &admin).await;
    assert_eq!(t["hours_spent"], "0.83");
});

both!(ledger_and_beacon_reads, |app| {
    let admin = app.admin().await;
    let acme = company_id(&app, &admin, "700080", "Acme").await;
    let beta = company_id(&app, &admin, "700081", "Beta").await;
    let a = upsert(
        &app,
        TicketUpsert {
            company_id: Some(acme),
            ..fs("8001", "A")
        },
    )
    .await;
    let b = upsert(
        &app,
        TicketUpsert {
            company_id: Some(beta),
            status: Some("closed".into()),
            ..fs("8002", "B")
        },
    )
    .await;
    let c = upsert(
        &app,
        TicketUpsert {
            company_id: Some(acme),
            status: None,
            priority: Some("urgent".into()),
            priority_id: Some(4),
            ..fs("8003", "C")
        },
    )
    .await;
    tickets::replace_time_entries(
        &app.db,
        a,
        &[
            entry("a1", 30, "2025-02-28T23:59:59Z"),
            entry("a2", 45, "2025-03-01T00:00:00Z"),
            entry("a3", 15, "2025-03-31T23:59:59+00:00"),
        ],
    )
    .await
    .unwrap();
    tickets::replace_time_entries(&app.db, b, &[entry("b1", 60, "2025-03-15T12:00:00Z")])
        .await
        .unwrap();

    let march = tickets::time_entries_for_month(&app.db, None, 2025, 3)
        .await
        .unwrap();
    let got: Vec<&str> = march.iter().map(|e| e.external_id.as_str()).collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.contains(&"a2") && got.contains(&"a3") && got.contains(&"b1"));
    let only_acme = tickets::time_entries_for_month(&app.db, Some(&[acme]), 2025, 3)
        .await
        .unwrap();
    assert_eq!(only_acme.iter().map(|e| e.minutes).sum::<i64>(), 60);
    assert_eq!(only_acme[0].company_id, Some(acme));
    assert!(tickets::time_entries_for_month(&app.db, Some(&[]), 2025, 3)
        .await
        .unwrap()
        .is_empty());
    assert!(tickets::time_entries_for_month(&app.db, None, 2025, 13)
        .await
        .is_err());

    let active = tickets::list_active(&app.db).await.unwrap();
    let ids: Vec<i64> = active.iter().map(|t| t.id).collect();
    assert_eq!(
        ids,
        [c, a],
        "closed left out, urgent first, missing status still shown"
    );

    let (s, list) = app
        .get(
            "/codex/api/psa/tickets?provider=freshservice&status=closed",
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["company_name"], "Beta");
    assert_eq!(list[0]["total_hours"], 1.0);
    let orphan = upsert(&app, fs("8004", "No company")).await;
    let (_, list) = app.get("/codex/api/psa/tickets?limit=1", &admin).await;
    assert_eq!(list[0]["id"].as_i64(), Some(orphan));
    assert_eq!(list[0]["company_name"], "Unknown");
});

both!(ticket_routes_are_documented, |app| {
    let admin = app.admin().await;
    let (s, doc) = app.get("/openapi.json", &admin).await;
    assert_eq!(s, StatusCode::OK);
    for p in [
        "/codex/api/tickets",
        "/codex/api/tickets/{id}",
        "/codex/api/ticket/{id}",
        "/codex/api/ticket/{id}/update",
        "/codex/api/companies/{account_number}/tickets",
        "/codex/api/psa/agents",
        "/codex/api/psa/tickets",
    ] {
        assert!(
            doc["paths"][p].is_object(),
            "{p} missing from the OpenAPI document"
        );
    }
});
