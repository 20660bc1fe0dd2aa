//! The Data Sync Center as an admin uses it in a browser: enter a provider (a mistake
//! first), run a sync with the button and watch the jobs panel poll until it is done,
//! open the job, change a schedule. Secrets never reach the page.

use crate::both;
use crate::web::Browser;
use hivematrix::auth::Role;
use hivematrix::sim::{DatasetSize, Sim, SimConfig, SimLimits};
use reqwest::StatusCode;
use std::time::Duration;

async fn start_sim() -> (std::sync::Arc<Sim>, String) {
    let sim = Sim::new(SimConfig {
        seed: 31,
        size: DatasetSize {
            companies: 5,
            contacts: 15,
            agents: 3,
            tickets: 10,
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

const CENTER: &str = "/codex/admin/sync";
const FS_FORM: &str = "/codex/admin/sync/providers/psa/freshservice";

both!(
    the_data_sync_center_configures_runs_and_shows_a_sync,
    |app| {
        let admin = app.admin().await;
        let (sim, url) = start_sim().await;
        app.start_sync_worker();
        let b = Browser::new(&app);
        let csrf = b.login(&admin.email).await;
        let key = sim.config.credentials.freshservice_api_key.clone();

        let page = b.get(CENTER).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("No PSA or RMM is configured yet"));
        assert!(
            page.body.contains("href=\"/codex/admin/sync\""),
            "sidebar link"
        );

        // A mistake first: no API key. The card says why; nothing is stored.
        let bad = b
            .post(
                FS_FORM,
                &[("csrf_token", &csrf), ("url", &url), ("api_key", "")],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
        assert!(bad.body.contains("api_key"), "{}", bad.body);
        assert!(app.sync.engine.psa_names().is_empty());

        let ok = b
            .post(
                FS_FORM,
                &[
                    ("csrf_token", &csrf),
                    ("url", &url),
                    ("api_key", &key),
                    ("per_minute", "100000"),
                ],
            )
            .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
        let page = b.get(CENTER).await;
        assert!(page.body.contains("Freshservice (PSA) saved."), "flash");
        assert!(page.body.contains("set; leave blank to keep"));
        assert!(!page.body.contains(&key), "the API key reached the page");
        assert!(page.body.contains("Sync tickets"));

        // The button, as htmx sends it: the panel comes back polling while the job runs.
        let resp = b
            .client
            .post(format!("{}/codex/admin/sync/run", b.base))
            .header("hx-request", "true")
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("provider", "freshservice"),
                ("kind", "base"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let panel = resp.text().await.unwrap();
        assert!(panel.contains("queued as job"), "{panel}");
        assert!(!panel.contains("<html"), "a fragment, not a page");
        let mut polls = 0;
        let done = loop {
            let p = b.get("/codex/admin/sync/panel").await.body;
            if !p.contains("every 2s") {
                break p;
            }
            polls += 1;
            assert!(polls < 300, "the job did not finish: {p}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(done.contains("status-completed"), "{done}");
        let job_id = sqlx::query_scalar::<_, i64>("SELECT MAX(id) FROM sync_jobs")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
        let job = b.get(&format!("/codex/admin/sync/jobs/{job_id}")).await;
        assert_eq!(job.status, StatusCode::OK);
        assert!(job.body.contains("companies") && job.body.contains("completed"));

        // Schedules: a bad cron is refused with the reason, a good one saved.
        let path = "/codex/admin/sync/schedules/freshservice/tickets";
        let r = b
            .post(path, &[("csrf_token", &csrf), ("cron", "every hour")])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert!(b.get(CENTER).await.body.contains("not saved: cron"));
        let r = b
            .post(
                path,
                &[
                    ("csrf_token", &csrf),
                    ("cron", "*/30 * * * *"),
                    ("enabled", "1"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert!(b.get(CENTER).await.body.contains("value=\"*/30 * * * *\""));

        // A technician cannot open the centre.
        let tech = app.caller(Role::Technician, None).await;
        let tb = Browser::new(&app);
        tb.login(&tech.email).await;
        assert_eq!(tb.get(CENTER).await.status, StatusCode::FORBIDDEN);
    }
);
