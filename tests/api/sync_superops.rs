//! SuperOps, PSA and RMM, as an admin syncs it: the app talks GraphQL to the SuperOps
//! simulator through the real clients, syncs are started over HTTP, and what Codex then
//! serves must equal what the simulator holds, field for field; reruns change nothing,
//! upstream changes converge with the fewest requests, and rate limits (HTTP 200 with
//! `rate_limit_exceeded`), faults and refused credentials lose, duplicate or mark
//! missing nothing.

use crate::both;
use crate::helpers::*;
use hivematrix::sim::dataset::{Dataset, SimTicket};
use hivematrix::sim::superops as so;
use hivematrix::sim::{DatasetSize, Faults, Sim, SimConfig, SimLimits};
use hivematrix::sync::engine::Connectors;
use hivematrix::sync::http::{ApiClient, RetryPolicy};
use hivematrix::sync::provider::{PsaProvider, RmmProvider};
use hivematrix::sync::superops::{self as client, SuperOpsConfig, SuperOpsPsa, SuperOpsRmm};
use hivematrix::time::to_db;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

const DETAIL: &str =
    "superops getTicket+getTicketConversationList+getTicketNoteList+getWorklogEntries";
const LIST_TICKETS: &str = "superops getTicketList";

async fn start_sim(limit: u32, window: Duration) -> (Arc<Sim>, String) {
    let sim = Sim::new(SimConfig {
        seed: 23,
        size: DatasetSize {
            companies: 8,
            contacts: 60,
            agents: 5,
            tickets: 120,
            devices: 70,
        },
        limits: SimLimits {
            superops_per_minute: limit,
            window,
            ..SimLimits::default()
        },
        ..SimConfig::default()
    });
    let addr = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (sim, format!("http://{addr}/superops/msp"))
}

async fn roomy_sim() -> (Arc<Sim>, String) {
    start_sim(100_000, Duration::from_secs(60)).await
}

/// The configuration an admin writes for this tenant: its custom-field columns.
fn config(sim: &Sim, url: &str) -> SuperOpsConfig {
    let creds = &sim.config.credentials;
    let mut c = SuperOpsConfig::new(url, &creds.superops_api_token, &creds.superops_subdomain);
    c.account_number_field = "udf1text".into();
    c.custom_fields = so::CLIENT_FIELD_COLUMNS
        .iter()
        .filter(|(name, _)| *name != "account_number")
        .map(|(name, col)| (col.to_string(), name.to_string()))
        .collect();
    c.per_minute = 100_000;
    c
}

fn policy() -> RetryPolicy {
    // Quick retries, so a listing that keeps failing gives up in seconds.
    RetryPolicy {
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        max_attempts: 12,
        ..RetryPolicy::default()
    }
}

/// Both clients on one account budget, as `connectors_from_settings` builds them.
fn connect_with(app: &TestApp, cfg: SuperOpsConfig) -> (Arc<SuperOpsPsa>, Arc<SuperOpsRmm>) {
    let budget = Arc::new(client::budget_for(&cfg));
    let api = ApiClient::new("superops", budget, policy());
    let psa = Arc::new(SuperOpsPsa::with_api(cfg.clone(), api.clone()).unwrap());
    let rmm = Arc::new(SuperOpsRmm::with_api(cfg, api).unwrap());
    let mut c = Connectors::default();
    c.psa.insert("superops".into(), psa.clone());
    c.rmm.insert("superops".into(), rmm.clone());
    app.sync.engine.set_connectors(c);
    app.start_sync_worker();
    (psa, rmm)
}

fn connect(app: &TestApp, sim: &Sim, url: &str) {
    connect_with(app, config(sim, url));
}

fn completed(job: &Value) {
    assert_eq!(job["status"], "completed", "{job:#}");
}

fn so_body() -> Value {
    json!({"provider": "superops"})
}

async fn codex_tickets(app: &TestApp, who: &Caller) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    let mut offset = 0;
    loop {
        let (s, page) = app
            .get(
                &format!("/codex/api/tickets?source=superops&limit=1000&offset={offset}"),
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

/// What the tenant's status names mean (written out, not derived from the mapping).
fn expected_status(code: i64) -> &'static str {
    match code {
        2 => "open",
        3 => "pending",
        4 => "resolved",
        5 => "closed",
        9 => "waiting_customer",
        10 => "waiting_third_party",
        16 => "billing_complete",
        19 => "update_needed",
        23 => "on_hold",
        26 => "customer_replied",
        other => panic!("the dataset has no status {other}"),
    }
}

fn expected_priority(code: i64) -> &'static str {
    ["low", "medium", "high", "urgent"][(code - 1) as usize]
}

fn at(t: chrono::DateTime<chrono::Utc>) -> String {
    to_db(so::so_instant(t))
}

fn live(data: &Dataset) -> Vec<&SimTicket> {
    data.tickets
        .iter()
        .filter(|t| !t.deleted && !t.spam)
        .collect()
}

fn accounts(data: &Dataset) -> HashMap<i64, String> {
    data.companies
        .iter()
        .filter_map(|c| Some((c.id, c.account_number.clone()?)))
        .collect()
}

fn assert_ticket(g: &Value, t: &SimTicket, account_of: &HashMap<i64, String>) {
    let id = t.id;
    assert_eq!(g["ticket_number"], t.id.to_string(), "ticket {id}");
    assert_eq!(g["subject"], t.subject.as_str(), "ticket {id}");
    assert_eq!(g["status"], expected_status(t.status), "ticket {id}");
    assert_eq!(g["status_text"], so::status_name(t.status), "ticket {id}");
    assert_eq!(g["priority"], expected_priority(t.priority), "ticket {id}");
    assert_eq!(g["ticket_type"], t.ticket_type.as_str(), "ticket {id}");
    assert_eq!(g["source"], so::source_name(t.source), "ticket {id}");
    assert_eq!(
        g["requester_external_id"],
        t.requester_id.to_string(),
        "ticket {id}"
    );
    assert_eq!(
        g["responder_external_id"].as_str(),
        t.responder_id.map(|r| r.to_string()).as_deref(),
        "ticket {id}"
    );
    assert_eq!(
        g["group_external_id"].as_str(),
        t.group_id.map(|r| r.to_string()).as_deref(),
        "ticket {id}"
    );
    assert_eq!(g["created_at"], at(t.created_at), "ticket {id}");
    assert_eq!(g["last_updated_at"], at(t.updated_at), "ticket {id}");
    assert_eq!(g["fr_due_by"], at(t.fr_due_by), "ticket {id}");
    assert_eq!(g["due_by"], at(t.due_by), "ticket {id}");
    assert_eq!(
        g["first_responded_at"].as_str(),
        t.first_responded_at.map(at).as_deref(),
        "ticket {id}"
    );
    assert_eq!(
        g["resolved_at"].as_str(),
        t.resolved_at.map(at).as_deref(),
        "ticket {id}"
    );
    assert_eq!(
        g["closed_at"].as_str(),
        t.closed_at.map(at).as_deref(),
        "ticket {id}"
    );
    let minutes: i64 = t.time_entries.iter().map(|e| e.minutes).sum();
    assert_eq!(g["minutes_spent"], minutes, "ticket {id}");
    assert_eq!(
        g["company_account_number"].as_str(),
        t.department_id
            .and_then(|d| account_of.get(&d))
            .map(String::as_str),
        "ticket {id}"
    );
}

both!(
    a_full_superops_psa_sync_equals_the_simulator_and_converges,
    |app| {
        let admin = app.admin().await;
        let (sim, url) = roomy_sim().await;
        connect(&app, &sim, &url);
        let (_, config) = app.get("/codex/api/psa/config", &admin).await;
        assert_eq!(config["default_provider"], "superops", "{config}");
        assert!(!config
            .to_string()
            .contains(&sim.config.credentials.superops_api_token));

        // Base: clients with an account number, their users, the active technicians.
        let job = app
            .sync_and_wait(&admin, "/codex/sync/psa", so_body())
            .await;
        completed(&job);
        let data = sim.data().clone();
        let account_of = accounts(&data);
        assert_eq!(
            job["progress"]["companies"]["created"].as_u64().unwrap() as usize,
            account_of.len()
        );
        assert_eq!(
            job["progress"]["companies"]["skipped"].as_u64().unwrap() as usize,
            data.companies.len() - account_of.len()
        );
        for c in data.companies.iter().filter(|c| c.account_number.is_some()) {
            let acct = c.account_number.as_deref().unwrap();
            let (s, got) = app
                .get(&format!("/codex/api/companies/{acct}"), &admin)
                .await;
            assert_eq!(s, StatusCode::OK, "{acct}");
            assert_eq!(got["name"], c.name.as_str());
            assert_eq!(got["external_source"], "superops");
            assert_eq!(got["external_id"], c.id.to_string());
            assert_eq!(got["domain_list"], json!(c.domains));
            for (key, field) in [
                ("billing_plan", "plan_selected"),
                ("contract_term", "contract_term"),
                ("managed_users", "managed_users"),
                ("phone_system", "phone_system"),
                ("email_system", "email_system"),
            ] {
                assert_eq!(
                    got[key].as_str(),
                    c.custom_fields.get(field).map(String::as_str),
                    "{acct} {key}"
                );
            }
            let head = data
                .contacts
                .iter()
                .find(|p| Some(p.id) == c.head_user_id)
                .map(|p| format!("{} {}", p.first_name, p.last_name));
            assert_eq!(got["head_name"].as_str(), head.as_deref(), "{acct}");
        }
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
            assert_eq!(got["active"], true);
            assert_eq!(
                got["work_phone_number"].as_str(),
                p.work_phone_number.as_deref()
            );
            let linked: Vec<&str> = got["companies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["account_number"].as_str().unwrap())
                .collect();
            let expected: Vec<&str> = p
                .department_ids
                .first()
                .and_then(|d| account_of.get(d))
                .map(String::as_str)
                .into_iter()
                .collect();
            assert_eq!(linked, expected, "{email}");
        }
        let (_, agents) = app
            .get("/codex/api/psa/agents?provider=superops", &admin)
            .await;
        assert_eq!(
            agents.as_array().unwrap().len(),
            data.agents.iter().filter(|a| a.active).count(),
            "{agents}"
        );
        let again = app
            .sync_and_wait(&admin, "/codex/sync/psa", so_body())
            .await;
        completed(&again);
        for collection in ["companies", "contacts", "agents"] {
            let p = &again["progress"][collection];
            let changed = p["created"].as_u64().unwrap_or(0) + p["updated"].as_u64().unwrap_or(0);
            assert_eq!(changed, 0, "{collection}: {again}");
        }

        // Tickets: every live ticket, normalised, with hours, conversations and notes;
        // the fewest requests: a listing page per 100 and one request per ticket.
        sim.stats.reset();
        let job = app
            .sync_and_wait(&admin, "/codex/sync/tickets", so_body())
            .await;
        completed(&job);
        let tickets = live(&data);
        assert_eq!(sim.stats.route(DETAIL), tickets.len() as u64);
        assert_eq!(
            sim.stats.route(LIST_TICKETS),
            tickets.len().div_ceil(100) as u64
        );
        assert_eq!(
            job["requests"].as_u64().unwrap(),
            sim.stats.requests.load(Ordering::Relaxed)
        );
        let got = codex_tickets(&app, &admin).await;
        assert_eq!(got.len(), tickets.len());
        for t in &tickets {
            assert_ticket(&got[&so::ticket_id(t)], t, &account_of);
        }
        let one = tickets
            .iter()
            .find(|t| t.conversations.iter().any(|c| c.private) && !t.time_entries.is_empty())
            .expect("a ticket with a note and time entries");
        let (_, detail) = app
            .get(&format!("/codex/api/ticket/{}", so::ticket_id(one)), &admin)
            .await;
        assert_eq!(
            detail["description"].as_str(),
            Some(one.description_html.as_str()),
            "{detail}"
        );
        assert_eq!(
            detail["conversations"].as_array().unwrap().len(),
            one.conversations.iter().filter(|c| !c.private).count(),
            "{detail}"
        );
        assert_eq!(
            detail["notes"].as_array().unwrap().len(),
            one.conversations.iter().filter(|c| c.private).count(),
            "{detail}"
        );
        let entries = detail["time_entries"].as_array().unwrap();
        assert_eq!(entries.len(), one.time_entries.len());

        // The same sync again changes nothing and fetches no detail.
        sim.stats.reset();
        let job = app
            .sync_and_wait(&admin, "/codex/sync/tickets", so_body())
            .await;
        completed(&job);
        assert_eq!(
            job["progress"]["tickets"]["updated"].as_u64().unwrap_or(0),
            0,
            "{job}"
        );
        assert_eq!(sim.stats.route(DETAIL), 0);

        // Two tickets change upstream: the incremental sync fetches exactly those.
        let changed: Vec<i64> = {
            let mut d = sim.data();
            let mut ids = Vec::new();
            for t in d.tickets.iter_mut().filter(|t| !t.deleted).take(2) {
                // Reopened: waiting on the customer, no longer resolved or closed.
                t.status = 9;
                t.resolved_at = None;
                t.closed_at = None;
                t.subject = format!("{} (waiting)", t.subject);
                t.updated_at = chrono::Utc::now();
                ids.push(t.id);
            }
            ids
        };
        sim.stats.reset();
        let job = app
            .sync_and_wait(&admin, "/codex/sync/tickets", so_body())
            .await;
        completed(&job);
        assert_eq!(job["progress"]["tickets"]["updated"], 2, "{job}");
        assert_eq!(sim.stats.route(DETAIL), 2);
        let got = codex_tickets(&app, &admin).await;
        let data = sim.data().clone();
        for t in data.tickets.iter().filter(|t| changed.contains(&t.id)) {
            let g = &got[&so::ticket_id(t)];
            assert_eq!(g["status"], "waiting_customer");
            assert_ticket(g, t, &account_of);
        }
        assert_eq!(got.len(), live(&data).len(), "nothing doubled");

        // The light sync: active tickets as listed; one closed and one deleted upstream
        // since are found by a detail read each, and nothing else is fetched.
        let active = |t: &&SimTicket| !matches!(t.status, 4 | 5 | 16) && !t.deleted;
        let (closed, deleted) = {
            let mut d = sim.data();
            let ids: Vec<i64> = d
                .tickets
                .iter()
                .filter(active)
                .map(|t| t.id)
                .take(2)
                .collect();
            let now = chrono::Utc::now();
            let t = d.ticket_mut(ids[0]).unwrap();
            t.status = 5;
            t.resolved_at = Some(now);
            t.closed_at = Some(now);
            t.updated_at = now;
            d.ticket_mut(ids[1]).unwrap().deleted = true;
            (ids[0], ids[1])
        };
        sim.stats.reset();
        let job = app
            .sync_and_wait(
                &admin,
                "/codex/sync/tickets",
                json!({"provider": "superops", "light": true}),
            )
            .await;
        completed(&job);
        assert_eq!(sim.stats.route(DETAIL), 2, "{job}");
        let data = sim.data().clone();
        let got = codex_tickets(&app, &admin).await;
        let t = data.tickets.iter().find(|t| t.id == closed).unwrap();
        assert_ticket(&got[&so::ticket_id(t)], t, &account_of);
        assert_eq!(got[&so::ticket_id(t)]["status"], "closed");
        let gone = data.tickets.iter().find(|t| t.id == deleted).unwrap();
        assert!(
            got.get(&so::ticket_id(gone))
                .is_none_or(|g| g["deleted_at"].is_string()),
            "the deleted ticket is marked"
        );
    }
);

both!(superops_rmm_sites_and_assets_and_the_account_push, |app| {
    let admin = app.admin().await;
    let (sim, url) = roomy_sim().await;
    let mut cfg = config(&sim, &url);
    // Every read of account numbers goes upstream, so the push sees the change below.
    cfg.account_cache = Duration::ZERO;
    connect_with(&app, cfg);
    completed(
        &app.sync_and_wait(&admin, "/codex/sync/psa", so_body())
            .await,
    );
    let job = app
        .sync_and_wait(&admin, "/codex/sync/rmm", so_body())
        .await;
    completed(&job);
    let data = sim.data().clone();
    let account_of = accounts(&data);
    // A site is linked through its client's account number.
    let site_account: HashMap<String, (String, String)> = data
        .sites
        .iter()
        .filter_map(|s| {
            let c = so::site_client(&data, s)?;
            Some((
                s.uid.clone(),
                (s.id.to_string(), account_of.get(&c.id)?.clone()),
            ))
        })
        .collect();
    let expected: Vec<_> = data
        .devices
        .iter()
        .filter(|d| !d.deleted && site_account.contains_key(&d.site_uid))
        .collect();
    assert!(expected.len() > 20, "the dataset links most devices");
    let (_, assets) = app.get("/codex/api/assets?limit=1000", &admin).await;
    let by_id: HashMap<&str, &Value> = assets
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["external_id"].as_str().unwrap(), a))
        .collect();
    assert_eq!(by_id.len(), expected.len());
    for d in &expected {
        let a = by_id[d.id.to_string().as_str()];
        let (site_id, acct) = &site_account[&d.site_uid];
        let site = data.sites.iter().find(|s| s.uid == d.site_uid).unwrap();
        let h = &d.hostname;
        assert_eq!(a["external_source"], "superops", "{h}");
        assert_eq!(a["hostname"], h.as_str());
        assert_eq!(a["company_account_number"], acct.as_str(), "{h}");
        assert_eq!(a["rmm_site_uid"], site_id.as_str(), "{h}");
        assert_eq!(a["rmm_site_name"], site.name.as_str(), "{h}");
        assert_eq!(a["operating_system"], d.operating_system.as_str(), "{h}");
        assert_eq!(a["hardware_type"], d.category.as_str(), "{h}");
        assert_eq!(a["device_type"], d.device_type.as_str(), "{h}");
        assert_eq!(a["manufacturer"], so::asset_manufacturer(d), "{h}");
        assert_eq!(a["model"], so::asset_model(d), "{h}");
        assert_eq!(a["serial_number"], so::asset_serial(d), "{h}");
        assert_eq!(a["online"], d.online, "{h}");
        assert_eq!(a["ext_ip_address"], d.ext_ip_address.as_str(), "{h}");
        assert_eq!(a["domain"].as_str(), d.domain.as_deref(), "{h}");
        assert_eq!(
            a["last_logged_in_user"].as_str(),
            d.last_logged_in_user.as_deref(),
            "{h}"
        );
        assert_eq!(a["patch_status"], d.patch_status.as_str(), "{h}");
        assert_eq!(a["last_seen"], at(d.last_seen), "{h}");
        assert_eq!(a["last_audit_date"], at(d.last_audit_date), "{h}");
        let uptime = (d.last_seen - d.last_reboot).num_seconds();
        let reboot = so::so_instant(d.last_seen) - chrono::Duration::seconds(uptime);
        assert_eq!(a["last_reboot"], to_db(reboot), "{h}");
        assert_eq!(
            a["warranty_expires"].as_str(),
            d.warranty_date.as_deref(),
            "{h}"
        );
        let udfs: BTreeMap<String, String> = serde_json::from_value(a["udfs"].clone()).unwrap();
        assert_eq!(udfs, d.udfs, "{h}");
        let backup = d.udfs.get("udf6").map(|b| b.parse::<i64>().unwrap());
        assert_eq!(a["backup_usage_bytes"].as_i64(), backup, "{h}");
    }
    let job = app
        .sync_and_wait(&admin, "/codex/sync/rmm", so_body())
        .await;
    completed(&job);
    assert_eq!(
        job["progress"]["devices"]["unchanged"].as_u64().unwrap() as usize,
        expected.len(),
        "{job}"
    );

    // The account number was lost upstream on a client with two sites: the push writes
    // it back once (the second site then already holds it).
    let company = data
        .companies
        .iter()
        .find(|c| {
            c.account_number.is_some()
                && data
                    .sites
                    .iter()
                    .filter(|s| so::site_client(&data, s).is_some_and(|x| x.id == c.id))
                    .count()
                    == 2
        })
        .unwrap()
        .clone();
    {
        let mut d = sim.data();
        let c = d.companies.iter_mut().find(|c| c.id == company.id).unwrap();
        c.account_number = None;
        c.custom_fields.remove("account_number");
    }
    sim.stats.reset();
    let job = app
        .sync_and_wait(&admin, "/codex/sync/push-account-numbers", so_body())
        .await;
    completed(&job);
    assert_eq!(sim.stats.route("superops updateClient"), 1);
    assert_eq!(job["progress"]["site_variables"]["created"], 1, "{job}");
    assert_eq!(
        job["progress"]["site_variables"]["unchanged"]
            .as_u64()
            .unwrap() as usize,
        site_account.len() - 1,
        "{job}"
    );
    let now = sim
        .data()
        .companies
        .iter()
        .find(|c| c.id == company.id)
        .unwrap()
        .clone();
    assert_eq!(now.account_number, company.account_number);
    assert_eq!(
        now.custom_fields.get("account_number"),
        company.account_number.as_ref()
    );
});

both!(
    superops_rate_limits_and_faults_lose_and_duplicate_nothing,
    |app| {
        let admin = app.admin().await;
        // 40 requests a second server-side against a client budget of 400: the client
        // meets SuperOps' 200-with-rate_limit_exceeded refusals and must wait them out.
        let (sim, url) = start_sim(40, Duration::from_secs(1)).await;
        let mut cfg = config(&sim, &url);
        cfg.per_minute = 400;
        cfg.window = Duration::from_secs(1);
        connect_with(&app, cfg);
        completed(
            &app.sync_and_wait(&admin, "/codex/sync/psa", so_body())
                .await,
        );
        sim.set_faults(Faults {
            error_rate: 0.1,
            reset_rate: 0.08,
            truncate_rate: 0.08,
            throttle_next: 2,
            throttle_retry_after_secs: 1,
            ..Faults::default()
        });
        let job = app
            .sync_and_wait(
                &admin,
                "/codex/sync/tickets",
                json!({"provider": "superops", "full": true}),
            )
            .await;
        completed(&job);
        sim.set_faults(Faults::default());
        assert!(
            job["retries"].as_u64().unwrap() > 0,
            "faults were met: {job}"
        );
        assert!(
            sim.stats.throttled.load(Ordering::Relaxed) > 0,
            "the server's budget refused some requests"
        );
        assert!(job["throttled"].as_u64().unwrap() > 2, "{job}");
        let data = sim.data().clone();
        let account_of = accounts(&data);
        let got = codex_tickets(&app, &admin).await;
        let tickets = live(&data);
        assert_eq!(got.len(), tickets.len(), "nothing lost, nothing doubled");
        for t in &tickets {
            assert_ticket(&got[&so::ticket_id(t)], t, &account_of);
        }
    }
);

both!(a_failing_superops_listing_marks_nothing_missing, |app| {
    let admin = app.admin().await;
    let (sim, url) = roomy_sim().await;
    connect(&app, &sim, &url);
    completed(
        &app.sync_and_wait(&admin, "/codex/sync/psa", so_body())
            .await,
    );
    let count = |v: &Value| v.as_array().unwrap().len();
    let (_, before) = app
        .get(
            "/codex/api/contacts?include_inactive=true&limit=1000",
            &admin,
        )
        .await;
    sim.set_faults(Faults {
        fail_paths: vec!["getClientUserList".into()],
        ..Faults::default()
    });
    let job = app
        .sync_and_wait(&admin, "/codex/sync/psa", so_body())
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    let (_, after) = app
        .get(
            "/codex/api/contacts?include_inactive=true&limit=1000",
            &admin,
        )
        .await;
    assert_eq!(count(&after), count(&before));
    assert!(after
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["active"] == true && c["deleted_at"].is_null()));
    sim.set_faults(Faults::default());
    let job = app
        .sync_and_wait(&admin, "/codex/sync/psa", so_body())
        .await;
    completed(&job);
    assert_eq!(
        job["progress"]["contacts"]["missing"].as_u64().unwrap_or(0),
        0,
        "{job}"
    );
    // A client that really left is marked missing after a complete listing.
    let gone = {
        let mut d = sim.data();
        let i = d
            .companies
            .iter()
            .position(|c| c.account_number.is_some())
            .unwrap();
        d.companies.remove(i)
    };
    let job = app
        .sync_and_wait(&admin, "/codex/sync/psa", so_body())
        .await;
    completed(&job);
    assert_eq!(job["progress"]["companies"]["missing"], 1, "{job}");
    let (s, c) = app
        .get(
            &format!(
                "/codex/api/companies/{}",
                gone.account_number.as_deref().unwrap()
            ),
            &admin,
        )
        .await;
    assert!(
        s == StatusCode::NOT_FOUND || c["deleted_at"].is_string(),
        "{s} {c}"
    );
});

both!(refused_superops_credentials_fail_the_job_clearly, |app| {
    let admin = app.admin().await;
    let (sim, url) = roomy_sim().await;
    let mut cfg = config(&sim, &url);
    cfg.api_token = "not-the-token".into();
    connect_with(&app, cfg);
    let job = app
        .sync_and_wait(&admin, "/codex/sync/psa", so_body())
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    let err = job["error"].as_str().unwrap_or_default();
    assert!(err.contains("401") && err.contains("token"), "{err}");
    assert!(!err.contains("not-the-token"), "{err}");
    assert_eq!(
        sim.stats.requests.load(Ordering::Relaxed),
        1,
        "an auth failure is not retried"
    );

    let mut cfg = config(&sim, &url);
    cfg.subdomain = "elsewhere".into();
    connect_with(&app, cfg);
    let job = app
        .sync_and_wait(&admin, "/codex/sync/rmm", so_body())
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    let err = job["error"].as_str().unwrap_or_default();
    assert!(err.contains("400") && err.contains("subdomain"), "{err}");
});

/// Below the engine: the clients' own contracts (no database).
#[tokio::test]
async fn superops_clients_page_by_list_info_and_never_retry_mutations() {
    let (sim, url) = roomy_sim().await;
    let cfg = config(&sim, &url);
    let api = ApiClient::new("superops", Arc::new(client::budget_for(&cfg)), policy());
    let psa = SuperOpsPsa::with_api(cfg.clone(), api.clone()).unwrap();
    // 60 users: a page of 100 holds them; the last page says hasMore = null.
    let page = psa.contacts(None).await.unwrap();
    assert_eq!(page.items.len(), sim.data().contacts.len());
    assert!(page.next.is_none());
    // 120 tickets: two pages, the cursor is the next page number.
    let first = psa
        .tickets(
            &hivematrix::sync::provider::TicketFilter::UpdatedSince(None),
            None,
        )
        .await
        .unwrap();
    assert_eq!(first.items.len(), 100);
    let next = first.next.clone().unwrap();
    assert_eq!(next.0, "2");
    let second = psa
        .tickets(
            &hivematrix::sync::provider::TicketFilter::UpdatedSince(None),
            Some(next),
        )
        .await
        .unwrap();
    assert_eq!(second.items.len(), 20);
    assert!(second.next.is_none());
    // A ticket that does not exist is None, not an error.
    assert!(psa.ticket_detail("1").await.unwrap().is_none());

    // A document the schema refuses comes back as HTTP 200 with `errors` and no data:
    // final, not retried.
    let gql = client::Gql::new(&cfg, api.clone()).unwrap();
    sim.stats.reset();
    let err = gql
        .query(
            "a bad query",
            "query { getClientList(input: {page: 1}) { clients { nope } } }",
            json!({}),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("undefined"), "{err}");
    assert_eq!(sim.stats.requests.load(Ordering::Relaxed), 1);
    // A business error sits beside the data: the caller sees both.
    let reply = gql
        .query(
            "a page too large",
            "query q($i: ListInfoInput!) { getClientList(input: $i) { clients { accountId } } }",
            json!({"i": {"page": 1, "pageSize": 500}}),
        )
        .await
        .unwrap();
    assert!(reply.data["getClientList"].is_null());
    assert!(
        reply.errors[0].to_string().contains("invalid_param"),
        "{:?}",
        reply.errors
    );

    // A mutation that meets a 5xx is not repeated.
    let rmm = SuperOpsRmm::with_api(cfg, api).unwrap();
    let sites = rmm.sites(None).await.unwrap();
    assert!(sites.next.is_none());
    // The account-wide asset listing and the per-site ones hold the same devices.
    let all = rmm.all_devices(None).await.unwrap();
    assert!(all.next.is_none());
    let mut per_site = Vec::new();
    for s in &sites.items {
        let page = rmm.site_devices(&s.uid, None).await.unwrap();
        assert!(page.items.iter().all(|d| d.site_uid == s.uid));
        per_site.extend(page.items);
    }
    per_site.sort_by(|a, b| a.uid.cmp(&b.uid));
    let mut all = all.items;
    all.sort_by(|a, b| a.uid.cmp(&b.uid));
    assert_eq!(per_site, all);
    assert!(!all.is_empty());
    let site = sites.items[0].uid.clone();
    sim.stats.reset();
    sim.set_faults(Faults {
        fail_paths: vec!["updateClient".into()],
        ..Faults::default()
    });
    let err = rmm
        .set_site_account_number(&site, "424242")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("500"), "{err}");
    assert_eq!(sim.stats.route("superops updateClient"), 1, "sent once");
    sim.set_faults(Faults::default());
    rmm.set_site_account_number(&site, "424242").await.unwrap();
    assert_eq!(
        rmm.site_account_number(&site).await.unwrap().as_deref(),
        Some("424242")
    );
}

both!(
    superops_settings_entered_over_the_api_run_both_syncs,
    |app| {
        let admin = app.admin().await;
        let (sim, url) = roomy_sim().await;
        app.start_sync_worker();
        let token = sim.config.credentials.superops_api_token.clone();
        let sub = sim.config.credentials.superops_subdomain.clone();
        const PSA: &str = "/codex/api/sync/providers/psa/superops";
        const RMM: &str = "/codex/api/sync/providers/rmm/superops";

        // A URL that is not http(s) builds no client: refused, nothing stored.
        let (s, b) = app
            .put(
                PSA,
                &admin,
                json!({"url": "ftp://x/msp", "api_token": token, "subdomain": sub}),
            )
            .await;
        assert!(s.is_client_error(), "{s} {b}");
        let (_, view) = app.get(PSA, &admin).await;
        assert_eq!(view["configured"], false, "{view}");

        // The settings API takes scalars: the column map as `col=name, …` text.
        let columns = so::CLIENT_FIELD_COLUMNS
            .iter()
            .filter(|(name, _)| *name != "account_number")
            .map(|(name, col)| format!("{col}={name}"))
            .collect::<Vec<_>>()
            .join(", ");
        let settings = json!({
            "url": url, "api_token": token, "subdomain": sub,
            "account_number_field": "udf1text", "per_minute": 100000,
            "custom_fields": columns,
        });
        let (s, view) = app.put(PSA, &admin, settings.clone()).await;
        assert_eq!(s, StatusCode::OK, "{view}");
        assert_eq!(view["secrets"]["api_token"], true, "{view}");
        assert!(
            !view.to_string().contains(&token),
            "secret returned: {view}"
        );
        let (s, view) = app.put(RMM, &admin, settings).await;
        assert_eq!(s, StatusCode::OK, "{view}");

        completed(
            &app.sync_and_wait(&admin, "/codex/sync/psa", so_body())
                .await,
        );
        let data = sim.data().clone();
        let c = data
            .companies
            .iter()
            .find(|c| c.account_number.is_some())
            .unwrap();
        let (_, got) = app
            .get(
                &format!(
                    "/codex/api/companies/{}",
                    c.account_number.as_deref().unwrap()
                ),
                &admin,
            )
            .await;
        assert_eq!(got["name"], c.name.as_str());
        assert_eq!(
            got["billing_plan"].as_str(),
            c.custom_fields.get("plan_selected").map(String::as_str),
            "the stored custom-field map applies"
        );
        let job = app
            .sync_and_wait(&admin, "/codex/sync/rmm", so_body())
            .await;
        completed(&job);
        assert!(
            job["progress"]["devices"]["created"].as_u64().unwrap() > 0,
            "{job}"
        );
    }
);
