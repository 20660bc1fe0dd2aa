//! Beacon's `GET /codex/api/tickets/active` over Codex tickets written the way the sync
//! writes them: the four sections, the agent filter, the views, the shared cache and
//! bad input.

use crate::both;
use crate::helpers::*;
use chrono::{Duration, Utc};
use hivematrix::auth::Role;
use hivematrix::codex::tickets::{self, TicketUpsert};
use reqwest::StatusCode;
use serde_json::Value;

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
