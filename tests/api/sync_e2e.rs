//! The whole sync as an admin runs it: the app talks to the Freshservice and Datto
//! simulators through the real clients, syncs are started over HTTP, and what Codex
//! then serves must equal what the simulators hold, field for field; reruns change
//! nothing, upstream changes converge, and faults lose or duplicate nothing.

use crate::both;
use crate::helpers::*;
use hivematrix::sim::{DatasetSize, Faults, Sim, SimConfig, SimLimits};
use hivematrix::sync::datto::{self, DattoClient, DattoConfig};
use hivematrix::sync::engine::Connectors;
use hivematrix::sync::freshservice::{self as fs, FreshserviceClient, FreshserviceConfig};
use hivematrix::sync::http::{ApiClient, RetryPolicy};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

async fn start_sim() -> (Arc<Sim>, String) {
    let sim = Sim::new(SimConfig {
        seed: 11,
        size: DatasetSize {
            companies: 8,
            contacts: 60,
            agents: 5,
            tickets: 120,
            devices: 70,
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

fn connect(app: &TestApp, sim: &Sim, base: &str) {
    let creds = &sim.config.credentials;
    let mut fs_cfg =
        FreshserviceConfig::new(format!("{base}/freshservice"), &creds.freshservice_api_key);
    fs_cfg.per_minute = 100_000;
    let datto_cfg = DattoConfig {
        url: format!("{base}/datto"),
        api_key: creds.datto_api_key.clone(),
        api_secret: creds.datto_api_secret.clone(),
        per_minute: 100_000,
        ..DattoConfig::default()
    };
    // Quick retries, so a listing that keeps failing gives up in seconds. With the
    // fault test's 35 % failure rate per request, 12 attempts make a give-up about
    // 3·10⁻⁶ per request, so a run of ~400 requests converges (6 gave up in 1 of 3).
    let policy = RetryPolicy {
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        max_attempts: 12,
        ..RetryPolicy::default()
    };
    let fs_api = ApiClient::new(
        "freshservice",
        Arc::new(fs::budget_for(&fs_cfg)),
        policy.clone(),
    );
    let datto_api = ApiClient::new(
        "datto",
        Arc::new(datto::budget(datto_cfg.per_minute, Duration::from_secs(60))),
        policy,
    );
    let mut c = Connectors::default();
    c.psa.insert(
        "freshservice".into(),
        Arc::new(FreshserviceClient::with_api(fs_cfg, fs_api).unwrap()),
    );
    c.rmm.insert(
        "datto".into(),
        Arc::new(DattoClient::with_api(datto_cfg, datto_api).unwrap()),
    );
    app.sync.engine.set_connectors(c);
    app.start_sync_worker();
}

fn completed(job: &Value) {
    assert_eq!(job["status"], "completed", "{job:#}");
}

/// Every ticket Codex holds for the source, by PSA id.
async fn codex_tickets(app: &TestApp, who: &Caller) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    let mut offset = 0;
    loop {
        let (s, page) = app
            .get(
                &format!("/codex/api/tickets?source=freshservice&limit=1000&offset={offset}"),
                who,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let list = page["tickets"].as_array().unwrap().clone();
        if list.is_empty() {
            break;
        }
        offset += list.len();
        for t in list {
            out.insert(t["external_id"].as_str().unwrap().to_string(), t);
        }
    }
    out
}

both!(
    a_full_sync_reproduces_the_vendors_and_converges_after_changes,
    |app| {
        let admin = app.admin().await;
        let (sim, base) = start_sim().await;
        connect(&app, &sim, &base);
        let (s, config) = app.get("/codex/api/psa/config", &admin).await;
        assert_eq!(s, StatusCode::OK, "{config}");
        assert_eq!(config["default_provider"], "freshservice");
        assert_eq!(
            config["providers"]["freshservice"]["ticket_url_template"],
            format!("{base}/freshservice/a/tickets/{{ticket_id}}")
        );
        assert!(!config
            .to_string()
            .contains(&sim.config.credentials.freshservice_api_key));

        // Base: companies with account numbers, contacts with their links, agents.
        let job = app
            .sync_and_wait(&admin, "/codex/sync/psa", json!({}))
            .await;
        completed(&job);
        let data = sim.data().clone();
        let with_number: Vec<_> = data
            .companies
            .iter()
            .filter(|c| c.account_number.is_some())
            .collect();
        assert_eq!(
            job["progress"]["companies"]["created"].as_u64().unwrap() as usize,
            with_number.len()
        );
        assert_eq!(
            job["progress"]["companies"]["skipped"].as_u64().unwrap() as usize,
            data.companies.len() - with_number.len()
        );
        for c in &with_number {
            let acct = c.account_number.as_deref().unwrap();
            let (s, got) = app
                .get(&format!("/codex/api/companies/{acct}"), &admin)
                .await;
            assert_eq!(s, StatusCode::OK, "{acct}");
            assert_eq!(got["name"], c.name.as_str());
            assert_eq!(got["external_id"], c.id.to_string());
            assert_eq!(got["description"].as_str(), c.description.as_deref());
            assert_eq!(got["domain_list"], json!(c.domains));
            assert_eq!(
                got["billing_plan"].as_str(),
                c.custom_fields.get("plan_selected").map(String::as_str)
            );
            assert_eq!(
                got["contract_term"].as_str(),
                c.custom_fields.get("contract_term").map(String::as_str)
            );
            assert_eq!(
                got["managed_users"].as_str(),
                c.custom_fields.get("managed_users").map(String::as_str)
            );
            assert_eq!(
                got["phone_system"].as_str(),
                c.custom_fields.get("phone_system").map(String::as_str)
            );
            assert_eq!(
                got["email_system"].as_str(),
                c.custom_fields.get("email_system").map(String::as_str)
            );
            assert_eq!(got["workspace_id"], c.workspace_id);
        }
        let account_of: HashMap<i64, &str> = with_number
            .iter()
            .map(|c| (c.id, c.account_number.as_deref().unwrap()))
            .collect();
        for p in data.contacts.iter().filter(|p| p.primary_email.is_some()) {
            let email = p.primary_email.as_deref().unwrap();
            let (_, found) = app
                .get(
                    &format!("/codex/api/contacts?search={email}&include_inactive=true"),
                    &admin,
                )
                .await;
            let list = found.as_array().unwrap();
            assert_eq!(list.len(), 1, "{email}: {found}");
            let got = &list[0];
            assert_eq!(got["first_name"], p.first_name.as_str());
            assert_eq!(got["last_name"], p.last_name.as_str());
            assert_eq!(got["active"], p.active);
            assert_eq!(got["vip_user"], p.vip_user);
            assert_eq!(got["job_title"].as_str(), p.job_title.as_deref());
            assert_eq!(
                got["work_phone_number"].as_str(),
                p.work_phone_number.as_deref()
            );
            let mut linked: Vec<&str> = got["companies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["account_number"].as_str().unwrap())
                .collect();
            linked.sort();
            let mut expected: Vec<&str> = p
                .department_ids
                .iter()
                .filter_map(|d| account_of.get(d).copied())
                .collect();
            expected.sort();
            assert_eq!(linked, expected, "{email}");
        }
        let named = with_number
            .iter()
            .find(|c| c.head_user_id.is_some())
            .unwrap();
        let head = data
            .contacts
            .iter()
            .find(|p| Some(p.id) == named.head_user_id)
            .unwrap();
        let (_, got) = app
            .get(
                &format!(
                    "/codex/api/companies/{}",
                    named.account_number.as_deref().unwrap()
                ),
                &admin,
            )
            .await;
        assert_eq!(
            got["head_name"],
            format!("{} {}", head.first_name, head.last_name)
        );
        // The same base sync again changes nothing.
        let again = app
            .sync_and_wait(&admin, "/codex/sync/psa", json!({}))
            .await;
        completed(&again);
        for collection in ["companies", "contacts", "agents"] {
            let p = &again["progress"][collection];
            let changed = p["created"].as_u64().unwrap_or(0) + p["updated"].as_u64().unwrap_or(0);
            assert_eq!(changed, 0, "{collection}: {again}");
        }
        let (_, agents) = app
            .get("/codex/api/psa/agents?provider=freshservice", &admin)
            .await;
        assert_eq!(agents.as_array().unwrap().len(), data.agents.len());

        // Tickets: every live ticket with its hours, conversations and status.
        let job = app
            .sync_and_wait(&admin, "/codex/sync/tickets", json!({}))
            .await;
        completed(&job);
        let got = codex_tickets(&app, &admin).await;
        let live: Vec<_> = data
            .tickets
            .iter()
            .filter(|t| !t.deleted && !t.spam)
            .collect();
        assert_eq!(got.len(), live.len());
        for t in &live {
            let g = &got[&t.id.to_string()];
            assert_eq!(g["subject"], t.subject.as_str());
            assert_eq!(g["status"], fs::status(t.status).0, "ticket {}", t.id);
            assert_eq!(g["priority"], fs::priority(t.priority));
            let minutes: i64 = t.time_entries.iter().map(|e| e.minutes).sum();
            let hours = g["total_hours_spent"].as_f64().unwrap();
            assert!(
                (hours - minutes as f64 / 60.0).abs() < 0.006,
                "ticket {} hours {hours} vs {minutes} min",
                t.id
            );
            if let Some(dept) = t.department_id {
                assert_eq!(
                    g["company_account_number"].as_str(),
                    account_of.get(&dept).copied(),
                    "ticket {}",
                    t.id
                );
            }
        }
        let one = live.iter().find(|t| t.conversations.len() >= 2).unwrap();
        let (_, detail) = app
            .get(&format!("/codex/api/ticket/{}", one.id), &admin)
            .await;
        let convs = detail["conversations"].as_array().unwrap().len()
            + detail["notes"].as_array().unwrap().len();
        assert_eq!(convs, one.conversations.len());
        assert_eq!(
            detail["time_entries"].as_array().unwrap().len(),
            one.time_entries.len()
        );

        // The same sync again: nothing changes and no ticket detail is fetched.
        sim.stats.reset();
        let job = app
            .sync_and_wait(&admin, "/codex/sync/tickets", json!({}))
            .await;
        completed(&job);
        assert_eq!(
            job["progress"]["tickets"]["updated"].as_u64().unwrap_or(0),
            0,
            "{job}"
        );
        assert_eq!(sim.stats.route("freshservice GET /tickets/{id}"), 0);
        assert_eq!(
            job["requests"].as_u64().unwrap(),
            sim.stats
                .requests
                .load(std::sync::atomic::Ordering::Relaxed)
        );

        // Two tickets change upstream: the incremental sync fetches exactly those.
        {
            let mut d = sim.data();
            for t in d.tickets.iter_mut().filter(|t| !t.deleted).take(2) {
                t.status = 5;
                t.subject = format!("{} (done)", t.subject);
                t.updated_at = chrono::Utc::now();
            }
        }
        sim.stats.reset();
        let job = app
            .sync_and_wait(&admin, "/codex/sync/tickets", json!({}))
            .await;
        completed(&job);
        assert_eq!(job["progress"]["tickets"]["updated"], 2, "{job}");
        assert_eq!(sim.stats.route("freshservice GET /tickets/{id}"), 2);
        let got = codex_tickets(&app, &admin).await;
        for t in sim.data().tickets.iter().filter(|t| !t.deleted).take(2) {
            assert_eq!(got[&t.id.to_string()]["status"], "closed");
            assert!(got[&t.id.to_string()]["subject"]
                .as_str()
                .unwrap()
                .ends_with("(done)"));
        }

        // RMM: linked sites' devices become assets with every UDF.
        let job = app
            .sync_and_wait(&admin, "/codex/sync/rmm", json!({}))
            .await;
        completed(&job);
        let data = sim.data().clone();
        let site_company: HashMap<&str, &str> = data
            .sites
            .iter()
            .filter_map(|s| {
                let v = s.variables.iter().find(|v| v.name == "AccountNumber")?;
                with_number
                    .iter()
                    .any(|c| c.account_number.as_deref() == Some(v.value.as_str()))
                    .then_some((s.uid.as_str(), v.value.as_str()))
            })
            .collect();
        let expected: Vec<_> = data
            .devices
            .iter()
            .filter(|d| !d.deleted && site_company.contains_key(d.site_uid.as_str()))
            .collect();
        let (_, assets) = app.get("/codex/api/assets?limit=1000", &admin).await;
        let by_uid: HashMap<&str, &Value> = assets
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["external_id"].as_str().unwrap(), a))
            .collect();
        assert_eq!(by_uid.len(), expected.len());
        for d in &expected {
            let a = by_uid[d.uid.as_str()];
            assert_eq!(a["hostname"], d.hostname.as_str());
            assert_eq!(
                a["company_account_number"],
                site_company[d.site_uid.as_str()]
            );
            assert_eq!(a["operating_system"], d.operating_system.as_str());
            assert_eq!(a["hardware_type"], d.category.as_str());
            assert_eq!(a["online"], d.online);
            assert_eq!(a["int_ip_address"], d.int_ip_address.as_str());
            let udfs: BTreeMap<String, String> = serde_json::from_value(a["udfs"].clone()).unwrap();
            assert_eq!(udfs, d.udfs, "{}", d.hostname);
            let backup = d.udfs.get("udf6").map(|b| b.parse::<i64>().unwrap());
            assert_eq!(a["backup_usage_bytes"].as_i64(), backup, "{}", d.hostname);
        }
        let job = app
            .sync_and_wait(&admin, "/codex/sync/rmm", json!({}))
            .await;
        completed(&job);
        assert_eq!(
            job["progress"]["devices"]["unchanged"].as_u64().unwrap() as usize,
            expected.len(),
            "{job}"
        );
        // Devices come from the account-wide listing, never one listing per site.
        assert!(sim.stats.route("datto GET /api/v2/account/devices") >= 2);
        assert_eq!(sim.stats.route("datto GET /api/v2/site/{uid}/devices"), 0);

        // A device removed upstream is marked deleted after the next complete listing;
        // the others stay as they were.
        let gone = expected[0].uid.clone();
        sim.data()
            .devices
            .iter_mut()
            .find(|d| d.uid == gone)
            .unwrap()
            .deleted = true;
        let job = app
            .sync_and_wait(&admin, "/codex/sync/rmm", json!({}))
            .await;
        completed(&job);
        assert_eq!(job["progress"]["devices"]["missing"], 1, "{job}");
        let (_, assets) = app.get("/codex/api/assets?limit=1000", &admin).await;
        let live: Vec<&str> = assets
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["external_id"].as_str().unwrap())
            .collect();
        assert_eq!(live.len(), expected.len() - 1);
        assert!(!live.contains(&gone.as_str()));
    }
);

both!(faults_on_the_wire_lose_and_duplicate_nothing, |app| {
    let admin = app.admin().await;
    let (sim, base) = start_sim().await;
    connect(&app, &sim, &base);
    completed(
        &app.sync_and_wait(&admin, "/codex/sync/psa", json!({}))
            .await,
    );
    sim.set_faults(Faults {
        error_rate: 0.15,
        reset_rate: 0.1,
        truncate_rate: 0.1,
        throttle_next: 3,
        throttle_retry_after_secs: 1,
        ..Faults::default()
    });
    let job = app
        .sync_and_wait(&admin, "/codex/sync/tickets", json!({"full": true}))
        .await;
    completed(&job);
    assert!(
        job["retries"].as_u64().unwrap() > 0,
        "faults were met: {job}"
    );
    assert!(job["throttled"].as_u64().unwrap() >= 3, "{job}");
    sim.set_faults(Faults::default());
    let got = codex_tickets(&app, &admin).await;
    let data = sim.data().clone();
    let live: Vec<_> = data
        .tickets
        .iter()
        .filter(|t| !t.deleted && !t.spam)
        .collect();
    assert_eq!(got.len(), live.len(), "nothing lost, nothing doubled");
    for t in &live {
        let minutes: i64 = t.time_entries.iter().map(|e| e.minutes).sum();
        let hours = got[&t.id.to_string()]["total_hours_spent"]
            .as_f64()
            .unwrap();
        assert!(
            (hours - minutes as f64 / 60.0).abs() < 0.006,
            "ticket {}",
            t.id
        );
    }
});

both!(
    a_listing_that_keeps_failing_fails_the_job_and_the_rerun_converges,
    |app| {
        let admin = app.admin().await;
        let (sim, base) = start_sim().await;
        connect(&app, &sim, &base);
        completed(
            &app.sync_and_wait(&admin, "/codex/sync/psa", json!({}))
                .await,
        );
        let (_, before) = app
            .get(
                "/codex/api/contacts?include_inactive=true&limit=1000",
                &admin,
            )
            .await;
        let before = before.as_array().unwrap().len();
        // Requesters keep failing: the base sync fails and marks no contact missing.
        sim.set_faults(Faults {
            fail_paths: vec!["/requesters".into()],
            ..Faults::default()
        });
        let job = app
            .sync_and_wait(&admin, "/codex/sync/psa", json!({}))
            .await;
        assert_eq!(job["status"], "failed", "{job}");
        let (_, after) = app
            .get(
                "/codex/api/contacts?include_inactive=true&limit=1000",
                &admin,
            )
            .await;
        assert_eq!(after.as_array().unwrap().len(), before);
        sim.set_faults(Faults::default());
        let job = app
            .sync_and_wait(&admin, "/codex/sync/psa", json!({}))
            .await;
        completed(&job);
        assert_eq!(
            job["progress"]["contacts"]["missing"].as_u64().unwrap_or(0),
            0,
            "{job}"
        );
    }
);
