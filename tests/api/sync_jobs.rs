//! Durable sync jobs: one runner per (provider, kind) across nodes, cancel, recovery.

use crate::both;
use hivematrix::sync::jobs::{self, Executor, Job, JobContext, NewJob, Outcome};
use std::time::Duration;

fn new_job<'a>(provider: &'a str, kind: &'a str) -> NewJob<'a> {
    NewJob {
        provider,
        kind,
        triggered_by: "manual",
        full_sync: false,
        requested_by: Some("ana@msp.example"),
    }
}

/// Runs until cancelled, counting one "page" per tick.
struct UntilCancelled;

#[async_trait::async_trait]
impl Executor for UntilCancelled {
    async fn execute(&self, _job: &Job, ctx: &JobContext) -> anyhow::Result<String> {
        loop {
            ctx.progress.add("tickets", |c| c.seen += 1);
            if ctx.cancel.is_cancelled() {
                anyhow::bail!("stopped");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

struct Fails;

#[async_trait::async_trait]
impl Executor for Fails {
    async fn execute(&self, _job: &Job, ctx: &JobContext) -> anyhow::Result<String> {
        ctx.progress.add("companies", |c| c.failed += 1);
        anyhow::bail!("the PSA refused the credentials")
    }
}

both!(one_job_per_provider_and_kind_across_nodes, |app| {
    let a = jobs::enqueue(&app.db, &new_job("freshservice", "tickets"))
        .await
        .unwrap();
    let again = jobs::enqueue(&app.db, &new_job("freshservice", "tickets"))
        .await
        .unwrap();
    assert_eq!(
        a.id, again.id,
        "a second request while queued is the same job"
    );
    let claimed = jobs::claim_next(&app.db, "node-a").await.unwrap().unwrap();
    assert_eq!((claimed.id, claimed.status.as_str()), (a.id, "running"));

    // While it runs, a new one queues, but no node may start it.
    let b = jobs::enqueue(&app.db, &new_job("freshservice", "tickets"))
        .await
        .unwrap();
    assert_ne!(b.id, a.id);
    assert!(jobs::claim_next(&app.db, "node-b").await.unwrap().is_none());
    // Another kind is free.
    let c = jobs::enqueue(&app.db, &new_job("freshservice", "base"))
        .await
        .unwrap();
    assert_eq!(
        jobs::claim_next(&app.db, "node-b")
            .await
            .unwrap()
            .unwrap()
            .id,
        c.id
    );

    let p = jobs::Progress::default();
    jobs::finish(
        &app.db,
        a.id,
        "node-a",
        &p,
        &Outcome::Completed("ok".into()),
    )
    .await
    .unwrap();
    assert_eq!(
        jobs::claim_next(&app.db, "node-b")
            .await
            .unwrap()
            .unwrap()
            .id,
        b.id
    );
});

both!(cancel_reaches_the_running_job_and_records_it, |app| {
    let j = jobs::enqueue(&app.db, &new_job("datto", "rmm"))
        .await
        .unwrap();
    let claimed = jobs::claim_next(&app.db, "node-a").await.unwrap().unwrap();
    let db = app.db.clone();
    let run =
        tokio::spawn(
            async move { jobs::run_claimed(&db, "node-a", claimed, &UntilCancelled).await },
        );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = jobs::request_cancel(&app.db, j.id).await.unwrap();
    assert!(asked.cancel_requested);
    let outcome = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(outcome, Outcome::Cancelled);
    let done = jobs::get(&app.db, j.id).await.unwrap().unwrap();
    assert_eq!(done.status, "cancelled");
    assert!(
        done.progress["tickets"]["seen"].as_u64().unwrap() >= 2,
        "{:?}",
        done.progress
    );
    assert!(done.finished_at.is_some());
    assert!(matches!(
        jobs::request_cancel(&app.db, j.id).await,
        Err(hivematrix::error::AppError::Conflict(_))
    ));

    // A queued job is cancelled at once.
    let q = jobs::enqueue(&app.db, &new_job("datto", "push_account_numbers"))
        .await
        .unwrap();
    assert_eq!(
        jobs::request_cancel(&app.db, q.id).await.unwrap().status,
        "cancelled"
    );
    assert!(jobs::claim_next(&app.db, "node-a").await.unwrap().is_none());
});

both!(failures_are_recorded_with_the_reason, |app| {
    let j = jobs::enqueue(&app.db, &new_job("freshservice", "base"))
        .await
        .unwrap();
    let claimed = jobs::claim_next(&app.db, "n").await.unwrap().unwrap();
    let outcome = jobs::run_claimed(&app.db, "n", claimed, &Fails)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Failed(ref e) if e.contains("refused")));
    let done = jobs::get(&app.db, j.id).await.unwrap().unwrap();
    assert_eq!(done.status, "failed");
    assert_eq!(done.progress["companies"]["failed"], 1);
    // The lock is free again.
    jobs::enqueue(&app.db, &new_job("freshservice", "base"))
        .await
        .unwrap();
    assert!(jobs::claim_next(&app.db, "n").await.unwrap().is_some());
});

both!(jobs_of_a_dead_node_are_recovered, |app| {
    // Node A restarts: its running job is marked interrupted and its lock freed.
    let j = jobs::enqueue(&app.db, &new_job("freshservice", "tickets"))
        .await
        .unwrap();
    jobs::claim_next(&app.db, "node-a").await.unwrap().unwrap();
    assert_eq!(jobs::recover(&app.db, "node-a").await.unwrap(), 1);
    let j = jobs::get(&app.db, j.id).await.unwrap().unwrap();
    assert_eq!(j.status, "failed");
    assert!(j.error.unwrap().contains("interrupted"));

    // Node A dies for good: node B takes over once A's heartbeat is stale.
    let k = jobs::enqueue(&app.db, &new_job("freshservice", "tickets"))
        .await
        .unwrap();
    jobs::claim_next(&app.db, "node-a").await.unwrap().unwrap();
    let next = jobs::enqueue(&app.db, &new_job("freshservice", "tickets"))
        .await
        .unwrap();
    assert!(
        jobs::claim_next(&app.db, "node-b").await.unwrap().is_none(),
        "A is alive"
    );
    sqlx::query("UPDATE sync_locks SET heartbeat_at = '2000-01-01T00:00:00.000000Z'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let taken = jobs::claim_next(&app.db, "node-b").await.unwrap().unwrap();
    assert_eq!(taken.id, next.id);
    let k = jobs::get(&app.db, k.id).await.unwrap().unwrap();
    assert_eq!(k.status, "failed", "the dead node's job is marked");
});

both!(schedules_fire_once_across_nodes_and_can_be_changed, |app| {
    use hivematrix::sync::schedule;
    use reqwest::StatusCode;
    schedule::ensure_defaults(
        &app.db,
        &["freshservice".to_string()],
        &["datto".to_string()],
    )
    .await
    .unwrap();
    let all = schedule::list(&app.db).await.unwrap();
    let kinds: Vec<(&str, &str, &str)> = all
        .iter()
        .map(|s| (s.provider.as_str(), s.kind.as_str(), s.cron.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("datto", "rmm", "0 */6 * * *"),
            ("freshservice", "base", "0 */4 * * *"),
            ("freshservice", "tickets", "0 * * * *"),
            ("freshservice", "tickets_light", "*/5 * * * *"),
        ]
    );
    // Six hours on, every schedule is due once; a second node's tick finds nothing.
    let later = chrono::Utc::now() + chrono::Duration::hours(6) + chrono::Duration::minutes(1);
    let fired = schedule::tick(&app.db, later).await.unwrap();
    assert_eq!(fired.len(), 4);
    assert!(schedule::tick(&app.db, later).await.unwrap().is_empty());
    let job = jobs::get(&app.db, fired[0]).await.unwrap().unwrap();
    assert_eq!(job.triggered_by, "schedule");

    // Over HTTP: admins change an expression; bad ones are refused and change nothing.
    let admin = app.admin().await;
    let tech = app.caller(hivematrix::auth::Role::Technician, None).await;
    let (s, b) = app
        .put(
            "/codex/admin/sync-schedules/freshservice/tickets",
            &admin,
            serde_json::json!({"cron": "*/15 * * * *"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["cron"], "*/15 * * * *");
    assert!(b["next_run_at"].is_string());
    let (s, b) = app
        .put(
            "/codex/admin/sync-schedules/freshservice/tickets",
            &admin,
            serde_json::json!({"cron": "every hour"}),
        )
        .await;
    crate::helpers::assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["cron"].is_string());
    let (s, _) = app
        .put(
            "/codex/admin/sync-schedules/freshservice/tickets",
            &tech,
            serde_json::json!({"enabled": false}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = app
        .put(
            "/codex/admin/sync-schedules/freshservice/nonsense",
            &admin,
            serde_json::json!({"enabled": false}),
        )
        .await;
    crate::helpers::assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, list) = app.get("/codex/admin/sync-schedules", &tech).await;
    assert_eq!(s, StatusCode::OK);
    let t = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "tickets")
        .unwrap();
    assert_eq!(t["cron"], "*/15 * * * *");
    let (s, b) = app
        .put(
            "/codex/admin/sync-schedules/freshservice/tickets",
            &admin,
            serde_json::json!({"enabled": false}),
        )
        .await;
    assert_eq!((s, b["next_run_at"].is_null()), (StatusCode::OK, true));
});
