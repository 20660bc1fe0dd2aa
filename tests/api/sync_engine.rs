//! The sync engine through its HTTP triggers, against an in-memory PSA that pages one
//! record at a time: what lands in Codex, idempotent reruns, missing records, failures
//! that mark nothing, and resuming from the checkpoint.

use crate::both;
use crate::helpers::*;
use async_trait::async_trait;
use hivematrix::auth::Role;
use hivematrix::sync::engine::Connectors;
use hivematrix::sync::provider::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A PSA held in memory. `fail_contacts_at` makes the contacts listing fail once at that
/// page; `fetches` records every cursor asked for.
#[derive(Default)]
struct MemoryPsa {
    companies: Mutex<Vec<PsaCompany>>,
    contacts: Mutex<Vec<PsaContact>>,
    fail_contacts_at: Mutex<Option<usize>>,
    fetches: Mutex<Vec<String>>,
}

fn page<T: Clone>(all: &[T], cursor: Option<Cursor>) -> Page<T> {
    let i: usize = cursor.map(|c| c.0.parse().unwrap()).unwrap_or(0);
    Page {
        items: all.get(i).cloned().into_iter().collect(),
        next: (i + 1 < all.len()).then(|| Cursor((i + 1).to_string())),
    }
}

#[async_trait]
impl PsaProvider for MemoryPsa {
    fn source(&self) -> &'static str {
        "memorypsa"
    }
    async fn companies(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaCompany>> {
        Ok(page(&self.companies.lock().unwrap(), cursor))
    }
    async fn contacts(&self, cursor: Option<Cursor>) -> ProviderResult<Page<PsaContact>> {
        let at: usize = cursor.as_ref().map(|c| c.0.parse().unwrap()).unwrap_or(0);
        self.fetches.lock().unwrap().push(format!("contacts@{at}"));
        let mut fail = self.fail_contacts_at.lock().unwrap();
        if *fail == Some(at) {
            *fail = None;
            return Err(ProviderError::GaveUp {
                vendor: "memorypsa",
                attempts: 8,
                elapsed_secs: 300,
                last: "HTTP 503".into(),
            });
        }
        Ok(page(&self.contacts.lock().unwrap(), cursor))
    }
    async fn agents(&self, _cursor: Option<Cursor>) -> ProviderResult<Page<PsaAgent>> {
        Ok(Page {
            items: vec![],
            next: None,
        })
    }
    async fn tickets(
        &self,
        _f: &TicketFilter,
        _c: Option<Cursor>,
    ) -> ProviderResult<Page<PsaTicket>> {
        Ok(Page {
            items: vec![],
            next: None,
        })
    }
    async fn ticket_detail(&self, _id: &str) -> ProviderResult<Option<TicketDetail>> {
        Ok(None)
    }
}

fn company(ext: &str, acct: Option<&str>, name: &str) -> PsaCompany {
    let mut custom = std::collections::BTreeMap::new();
    custom.insert("plan_selected".to_string(), "Premium".to_string());
    custom.insert("contract_term".to_string(), "1 year".to_string());
    custom.insert("contract_start_date".to_string(), "2025-03-01".to_string());
    PsaCompany {
        external_id: ext.into(),
        name: name.into(),
        account_number: acct.map(str::to_string),
        domains: vec![format!("{}.example", ext)],
        custom_fields: custom,
        ..PsaCompany::default()
    }
}

fn contact(ext: &str, email: Option<&str>, companies: &[&str]) -> PsaContact {
    PsaContact {
        external_id: ext.into(),
        first_name: Some("Ana".into()),
        last_name: Some(format!("Person{ext}")),
        email: email.map(str::to_string),
        active: true,
        company_external_ids: companies.iter().map(|c| c.to_string()).collect(),
        job_title: Some("Owner".into()),
        ..PsaContact::default()
    }
}

fn memory_psa() -> Arc<MemoryPsa> {
    let psa = MemoryPsa::default();
    *psa.companies.lock().unwrap() = vec![
        company("d1", Some("100001"), "Alder Dental"),
        company("d2", Some("100002"), "Birch Law"),
        company("d3", None, "No Number Yet"),
    ];
    *psa.contacts.lock().unwrap() = vec![
        contact("r1", Some("ana1@d1.example"), &["d1"]),
        contact("r2", Some("ana2@d2.example"), &["d2", "d1"]),
        contact("r3", None, &["d1"]),
        contact("r4", Some("ana4@d1.example"), &["d1"]),
    ];
    Arc::new(psa)
}

fn install(app: &TestApp, psa: Arc<MemoryPsa>) {
    let mut c = Connectors::default();
    c.psa.insert("memorypsa".into(), psa);
    app.sync.engine.set_connectors(c);
    app.start_sync_worker();
}

/// Triggers a base sync and waits for the job to finish; returns the job.
async fn run_base(app: &TestApp, admin: &Caller) -> Value {
    let (s, body) = app
        .call(reqwest::Method::POST, "/codex/sync/psa", Some(admin), None)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["success"], true);
    let id = body["job_id"].as_i64().unwrap();
    for _ in 0..200 {
        let (_, job) = app
            .get(&format!("/codex/admin/sync-jobs/{id}"), admin)
            .await;
        if job["finished_at"].is_string() {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not finish");
}

both!(
    base_sync_lands_companies_and_contacts_and_reruns_change_nothing,
    |app| {
        let admin = app.admin().await;
        install(&app, memory_psa());
        let job = run_base(&app, &admin).await;
        assert_eq!(job["status"], "completed", "{job}");
        let p = &job["progress"];
        assert_eq!(p["companies"]["created"], 2);
        assert_eq!(p["companies"]["skipped"], 1, "no account number");
        assert_eq!(p["contacts"]["created"], 3);
        assert_eq!(p["contacts"]["skipped"], 1, "no e-mail");
        assert!(
            job["output"]
                .as_str()
                .unwrap()
                .contains("companies: 2 seen"),
            "{job}"
        );

        let (_, c) = app.get("/codex/api/companies/100001", &admin).await;
        assert_eq!(c["name"], "Alder Dental");
        assert_eq!(c["billing_plan"], "Premium");
        assert_eq!(c["contract_term_length"], "1 Year");
        assert_eq!(c["contract_end_date"], "2026-02-28");
        assert_eq!(c["external_source"], "memorypsa");
        let company_id = c["id"].as_i64().unwrap();
        let (_, people) = app
            .get("/codex/api/companies/100001/contacts", &admin)
            .await;
        let emails: Vec<&str> = people
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["email"].as_str().unwrap())
            .collect();
        assert_eq!(emails.len(), 3, "{emails:?}");

        // The same sync again changes nothing and keeps every id.
        let job = run_base(&app, &admin).await;
        assert_eq!(job["status"], "completed");
        assert_eq!(job["progress"]["companies"]["unchanged"], 2, "{job}");
        assert_eq!(job["progress"]["contacts"]["unchanged"], 3);
        let (_, c) = app.get("/codex/api/companies/100001", &admin).await;
        assert_eq!(c["id"].as_i64().unwrap(), company_id);
    }
);

both!(
    records_gone_upstream_are_marked_not_deleted_and_empty_listings_mark_nothing,
    |app| {
        let admin = app.admin().await;
        let psa = memory_psa();
        install(&app, psa.clone());
        run_base(&app, &admin).await;

        psa.companies.lock().unwrap().remove(1);
        let job = run_base(&app, &admin).await;
        assert_eq!(job["progress"]["companies"]["missing"], 1, "{job}");
        let (s, c) = app.get("/codex/api/companies/100002", &admin).await;
        assert_eq!(s, StatusCode::OK, "kept, only marked");
        assert!(c["deleted_at"].is_string());

        // A PSA that suddenly lists nothing is broken, not empty: nothing is marked.
        psa.companies.lock().unwrap().clear();
        psa.contacts.lock().unwrap().clear();
        let job = run_base(&app, &admin).await;
        assert_eq!(job["status"], "completed");
        assert_eq!(
            job["progress"]["contacts"]["missing"].as_u64().unwrap_or(0),
            0,
            "{job}"
        );
        let (_, c) = app.get("/codex/api/companies/100001", &admin).await;
        assert!(c["deleted_at"].is_null());
    }
);

both!(
    a_failed_listing_marks_nothing_and_the_rerun_resumes_from_its_checkpoint,
    |app| {
        let admin = app.admin().await;
        let psa = memory_psa();
        *psa.fail_contacts_at.lock().unwrap() = Some(2);
        install(&app, psa.clone());
        let job = run_base(&app, &admin).await;
        assert_eq!(job["status"], "failed", "{job}");
        assert!(job["error"].as_str().unwrap().contains("503"));
        assert_eq!(
            job["progress"]["contacts"]["missing"].as_u64().unwrap_or(0),
            0
        );

        psa.fetches.lock().unwrap().clear();
        let job = run_base(&app, &admin).await;
        assert_eq!(job["status"], "completed", "{job}");
        let fetches = psa.fetches.lock().unwrap().clone();
        assert_eq!(
            fetches.first().map(String::as_str),
            Some("contacts@2"),
            "resumed: {fetches:?}"
        );
        // The contacts seen before the failure still count as seen: nobody is marked.
        assert_eq!(
            job["progress"]["contacts"]["missing"].as_u64().unwrap_or(0),
            0,
            "{job}"
        );
        let (_, people) = app
            .get("/codex/api/companies/100001/contacts", &admin)
            .await;
        assert_eq!(people.as_array().unwrap().len(), 3);
    }
);

both!(sync_endpoints_check_roles_and_configuration, |app| {
    let admin = app.admin().await;
    let tech = app.caller(Role::Technician, None).await;
    let billing = app.caller(Role::Billing, None).await;
    let (s, b) = app
        .call(reqwest::Method::POST, "/codex/sync/psa", Some(&admin), None)
        .await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    assert!(b["detail"].as_str().unwrap().contains("no PSA"));

    install(&app, memory_psa());
    let (s, b) = app
        .call(reqwest::Method::POST, "/codex/sync/psa", Some(&tech), None)
        .await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
    let (s, b) = app.post("/codex/sync/tickets", &billing, json!({})).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
    let (s, b) = app
        .post("/codex/sync/psa", &admin, json!({"provider": "superops"}))
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["provider"]
        .as_str()
        .unwrap()
        .contains("memorypsa"));
    let (s, b) = app
        .post(
            "/codex/sync/tickets",
            &tech,
            json!({"full": true, "light": true}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = app.post("/codex/sync/rmm", &admin, json!({})).await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    let (s, _) = app
        .call(reqwest::Method::POST, "/codex/sync/psa", None, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let job = run_base(&app, &admin).await;
    let id = job["id"].as_i64().unwrap();
    let (s, list) = app
        .get("/codex/admin/sync-jobs?provider=memorypsa", &tech)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list[0]["id"].as_i64(), Some(id));
    let (s, _) = app.get("/codex/admin/sync-jobs", &billing).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, st) = app.get(&format!("/codex/sync/status/{id}"), &tech).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (st["status"].as_str(), st["success"].as_bool()),
        (Some("completed"), Some(true))
    );
    let (s, b) = app.get("/codex/sync/status/999999", &tech).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, b) = app
        .call(
            reqwest::Method::POST,
            &format!("/codex/admin/sync-jobs/{id}/cancel"),
            Some(&admin),
            None,
        )
        .await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    let (s, b) = app
        .call(
            reqwest::Method::POST,
            &format!("/codex/admin/sync-jobs/{id}/cancel"),
            Some(&tech),
            None,
        )
        .await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
});
