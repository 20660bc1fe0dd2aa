//! The demo dataset (deterministic, refuses non-empty databases) and the bulk export
//! (`/codex/api/companies/bulk`): shape, counts, ticket year filter, scoping, paging and
//! a query count that does not grow with the number of companies.

use crate::both;
use crate::helpers::*;
use hivematrix::auth::Role;
use hivematrix::codex::bulk::{self, BulkParams};
use hivematrix::demo::{self, DemoArgs};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Row;

fn small(seed: u64) -> DemoArgs {
    DemoArgs {
        companies: 5,
        contacts: 40,
        assets: 60,
        tickets: 100,
        seed,
    }
}

fn backend_of(app: &TestApp) -> Backend {
    match app.db.backend {
        hivematrix::db::Backend::Sqlite => Backend::Sqlite,
        hivematrix::db::Backend::Postgres => Backend::Postgres,
    }
}

async fn load(app: &TestApp, args: &DemoArgs) {
    let report = demo::generate_report(&app.db, args)
        .await
        .expect("demo data");
    assert_eq!(report.companies, args.companies as u64);
    assert_eq!(report.contacts, args.contacts as u64);
    assert_eq!(report.assets, args.assets as u64);
    assert_eq!(report.tickets, args.tickets as u64);
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(&app.db.pool)
        .await
        .expect(sql)
        .try_get(0)
        .unwrap()
}

/// GET with headers: (status, X-Total-Count, body).
async fn get_full(app: &TestApp, path: &str, who: &Caller) -> (StatusCode, Option<i64>, Value) {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(&who.token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let total = r
        .headers()
        .get("x-total-count")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (status, total, r.json().await.unwrap_or(Value::Null))
}

/// Nulls every value that is a date or time: those follow the clock, not the seed.
fn strip_times(v: &mut Value) {
    match v {
        Value::String(s) => {
            let b = s.as_bytes();
            if b.len() >= 10
                && b[4] == b'-'
                && b[7] == b'-'
                && b[..4].iter().all(u8::is_ascii_digit)
            {
                *v = Value::Null;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_times),
        Value::Object(o) => o.values_mut().for_each(strip_times),
        _ => {}
    }
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

fn bundles(v: &Value) -> &Vec<Value> {
    v.as_array().expect("a list of bundles")
}

both!(demo_data_is_deterministic_and_refuses_a_second_run, |app| {
    let Some(other) = spawn(backend_of(&app)).await else {
        return;
    };
    load(&app, &small(1)).await;
    load(&other, &small(1)).await;
    let (a_admin, b_admin) = (app.admin().await, other.admin().await);
    let path = "/codex/api/companies/bulk?include_tickets=true";
    let (s, mut a) = app.get(path, &a_admin).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let (_, mut b) = other.get(path, &b_admin).await;
    strip_times(&mut a);
    strip_times(&mut b);
    assert_eq!(bundles(&a).len(), 5);
    let hosts = |v: &Value| -> Vec<String> {
        bundles(v)
            .iter()
            .flat_map(|c| c["assets"].as_array().unwrap().iter())
            .map(|a| a["hostname"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(hosts(&a).len(), 60);
    assert_eq!(hosts(&a), hosts(&b), "same hostnames");
    assert_eq!(a, b, "same seed, same content (dates aside)");
    for table in [
        "contacts",
        "ticket_time_entries",
        "ticket_conversations",
        "psa_agents",
        "billing_plans",
        "plan_features",
        "rmm_site_links",
        "asset_contacts",
        "contact_companies",
    ] {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        assert_eq!(
            count(&app, &sql).await,
            count(&other, &sql).await,
            "{table}"
        );
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM billing_plans").await, 12);

    let err = demo::generate(&app.db, &small(2)).await.unwrap_err();
    assert!(err.to_string().contains("already has 5 companies"), "{err}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM companies").await, 5);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM contacts").await, 40);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM tickets").await, 100);
});

both!(bulk_nests_everything_per_company, |app| {
    load(&app, &small(3)).await;
    let tech = app.caller(Role::Technician, None).await;
    let (s, total, v) = get_full(&app, "/codex/api/companies/bulk", &tech).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(total, Some(5));
    let list = bundles(&v);
    assert_eq!(list.len(), 5);
    let names: Vec<&str> = list
        .iter()
        .map(|b| b["company"]["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "ordered by company name");
    assert_eq!(
        keys(&list[0]),
        ["assets", "company", "contacts", "locations"],
        "no tickets unless asked"
    );
    assert_eq!(
        keys(&list[0]["company"]),
        [
            "account_number",
            "billing_plan",
            "company_main_number",
            "company_start_date",
            "compliance_level",
            "contract_end_date",
            "contract_start_date",
            "contract_term_length",
            "description",
            "domains",
            "email_system",
            "id",
            "name",
            "phone_system",
            "profit_or_non_profit",
            "support_level"
        ]
    );
    let mut assets = 0;
    for b in list {
        let id = b["company"]["id"].as_i64().unwrap();
        let n = |table: &str, col: &str| format!("SELECT COUNT(*) FROM {table} WHERE {col} = {id}");
        let a = b["assets"].as_array().unwrap();
        assert_eq!(
            a.len() as i64,
            count(&app, &n("assets", "company_id")).await
        );
        assert_eq!(
            b["contacts"].as_array().unwrap().len() as i64,
            count(&app, &n("contact_companies", "company_id")).await
        );
        assert_eq!(
            b["locations"].as_array().unwrap().len() as i64,
            count(&app, &n("locations", "company_id")).await
        );
        assert!(b["company"]["domains"].as_str().unwrap().starts_with("[\""));
        let primaries = b["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["is_primary"] == true)
            .count();
        assert_eq!(primaries, 1, "one primary contact per company");
        assets += a.len();
    }
    assert_eq!(assets, 60);
    let asset = list
        .iter()
        .flat_map(|b| b["assets"].as_array().unwrap())
        .find(|a| a["backup_data_bytes"].as_i64().unwrap() > 0)
        .expect("some asset has backups");
    assert_eq!(
        keys(asset),
        [
            "antivirus_product",
            "backup_data_bytes",
            "backup_usage_tb",
            "device_type",
            "domain",
            "ext_ip_address",
            "hardware_type",
            "hostname",
            "id",
            "int_ip_address",
            "last_logged_in_user",
            "last_seen",
            "online",
            "operating_system"
        ]
    );
    let tb: f64 = asset["backup_usage_tb"].as_str().unwrap().parse().unwrap();
    let bytes = asset["backup_data_bytes"].as_f64().unwrap();
    assert!((tb - bytes / 1_099_511_627_776.0).abs() < 0.006);
    assert!(asset["online"].is_boolean());
    let contact = &list[0]["contacts"][0];
    assert_eq!(
        keys(contact),
        [
            "active",
            "email",
            "employment_type",
            "id",
            "is_primary",
            "mobile_phone_number",
            "name",
            "secondary_emails",
            "title",
            "work_phone_number"
        ]
    );
});

both!(bulk_tickets_filter_by_year, |app| {
    load(&app, &small(4)).await;
    let admin = app.admin().await;
    let (s, all) = app
        .get("/codex/api/companies/bulk?include_tickets=true", &admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{all}");
    let tickets: Vec<&Value> = bundles(&all)
        .iter()
        .flat_map(|b| b["tickets"].as_array().unwrap())
        .collect();
    assert_eq!(tickets.len(), 100);
    let t = tickets
        .iter()
        .find(|t| !t["conversations"].as_array().unwrap().is_empty())
        .expect("some ticket has replies");
    for k in [
        "ticket_id",
        "ticket_number",
        "subject",
        "description",
        "description_text",
        "status",
        "priority",
        "requester_email",
        "requester_name",
        "created_at",
        "last_updated_at",
        "closed_at",
        "total_hours_spent",
        "notes",
    ] {
        assert!(t.get(k).is_some(), "ticket field {k}");
    }
    assert!(t["conversations"][0]["body"].is_string());
    let replies: usize = tickets
        .iter()
        .map(|t| {
            t["conversations"].as_array().unwrap().len() + t["notes"].as_array().unwrap().len()
        })
        .sum();
    assert_eq!(
        replies as i64,
        count(&app, "SELECT COUNT(*) FROM ticket_conversations").await
    );

    // The oldest ticket is about two years old: its year has only part of the data.
    let year = tickets
        .iter()
        .map(|t| &t["last_updated_at"].as_str().unwrap()[..4])
        .min()
        .unwrap()
        .to_string();
    let (s, v) = app
        .get(
            &format!("/codex/api/companies/bulk?include_tickets=true&year={year}"),
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let in_year: Vec<&Value> = bundles(&v)
        .iter()
        .flat_map(|b| b["tickets"].as_array().unwrap())
        .collect();
    assert!(
        !in_year.is_empty() && in_year.len() < 100,
        "{} of 100",
        in_year.len()
    );
    assert!(in_year
        .iter()
        .all(|t| t["last_updated_at"].as_str().unwrap().starts_with(&year)));
    let expected = count(
        &app,
        &format!("SELECT COUNT(*) FROM tickets WHERE last_updated_at LIKE '{year}-%'"),
    )
    .await;
    assert_eq!(in_year.len() as i64, expected);
    assert_eq!(
        bundles(&v).len(),
        5,
        "companies without tickets that year stay listed"
    );

    let (s, b) = app
        .get(
            "/codex/api/companies/bulk?include_tickets=true&year=20x6",
            &admin,
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["year"].is_string(), "{b}");
    let (s, b) = app
        .get(
            "/codex/api/companies/bulk?include_tickets=maybe&year=1800&sort=nope",
            &admin,
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    for f in ["include_tickets", "year", "sort"] {
        assert!(b["errors"][f].is_string(), "{f}: {b}");
    }
});

both!(bulk_scopes_clients_and_hides_deleted_rows, |app| {
    load(&app, &small(5)).await;
    let admin = app.admin().await;
    let (s, b) = app
        .call(
            reqwest::Method::GET,
            "/codex/api/companies/bulk",
            None,
            None,
        )
        .await;
    assert_problem(s, &b, StatusCode::UNAUTHORIZED);

    let (_, all) = app.get("/codex/api/companies/bulk", &admin).await;
    let first = &bundles(&all)[0]["company"];
    let (own_id, own_acct) = (
        first["id"].as_i64().unwrap(),
        first["account_number"].as_str().unwrap().to_string(),
    );
    let client = app.caller(Role::Client, Some(own_id)).await;
    let (s, total, mine) = get_full(
        &app,
        "/codex/api/companies/bulk?include_tickets=true",
        &client,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(total, Some(1));
    assert_eq!(bundles(&mine).len(), 1);
    assert_eq!(bundles(&mine)[0]["company"]["id"].as_i64(), Some(own_id));
    let billing = app.caller(Role::Billing, None).await;
    let (s, v) = app.get("/codex/api/companies/bulk", &billing).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(bundles(&v).len(), 5, "every staff role reads everything");

    // A soft-deleted asset and a soft-deleted company disappear.
    let victim = bundles(&all)[1]["assets"][0]["id"]
        .as_i64()
        .or(bundles(&all)[2]["assets"][0]["id"].as_i64())
        .unwrap();
    sqlx::query("UPDATE assets SET deleted_at = '2026-01-01T00:00:00.000000Z' WHERE id = $1")
        .bind(victim)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (s, _) = app
        .delete(&format!("/codex/api/companies/{own_acct}"), &admin)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, total, v) = get_full(&app, "/codex/api/companies/bulk", &admin).await;
    assert_eq!(total, Some(4));
    assert!(bundles(&v)
        .iter()
        .all(|b| b["company"]["id"].as_i64() != Some(own_id)));
    let assets: Vec<i64> = bundles(&v)
        .iter()
        .flat_map(|b| b["assets"].as_array().unwrap())
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert!(!assets.contains(&victim));
    let (_, mine) = app.get("/codex/api/companies/bulk", &client).await;
    assert_eq!(
        bundles(&mine).len(),
        0,
        "the client's deleted company is gone too"
    );
});

both!(bulk_pages_over_companies, |app| {
    load(&app, &small(6)).await;
    let admin = app.admin().await;
    let (_, all) = app.get("/codex/api/companies/bulk", &admin).await;
    let r = app
        .client
        .get(app.url("/codex/api/companies/bulk?limit=2&offset=1"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-total-count"], "5");
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(r.headers()["link"].to_str().unwrap().contains("offset=3"));
    let page: Value = r.json().await.unwrap();
    assert_eq!(bundles(&page).as_slice(), &bundles(&all)[1..3]);
    let (_, desc) = app
        .get(
            "/codex/api/companies/bulk?sort=account_number&order=desc",
            &admin,
        )
        .await;
    let accts: Vec<&str> = bundles(&desc)
        .iter()
        .map(|b| b["company"]["account_number"].as_str().unwrap())
        .collect();
    assert!(accts.windows(2).all(|w| w[0] > w[1]), "{accts:?}");
    let (s, b) = app
        .get("/codex/api/companies/bulk?limit=0&offset=-1", &admin)
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
});

both!(bulk_query_count_does_not_grow_with_companies, |app| {
    let Some(big) = spawn(backend_of(&app)).await else {
        return;
    };
    load(
        &app,
        &DemoArgs {
            companies: 2,
            contacts: 10,
            assets: 10,
            tickets: 20,
            seed: 7,
        },
    )
    .await;
    load(
        &big,
        &DemoArgs {
            companies: 20,
            contacts: 100,
            assets: 200,
            tickets: 300,
            seed: 7,
        },
    )
    .await;
    let mut p = BulkParams::all(None);
    p.include_tickets = true;
    let small_run = bulk::export(&app.db, &p).await.unwrap();
    let big_run = bulk::export(&big.db, &p).await.unwrap();
    assert_eq!(
        (small_run.companies.len(), big_run.companies.len()),
        (2, 20)
    );
    assert!(
        big_run
            .companies
            .iter()
            .filter(|b| !b.assets.is_empty())
            .count()
            > 10
    );
    assert_eq!(
        small_run.queries, big_run.queries,
        "one query per collection, not per company"
    );
    assert_eq!(big_run.queries, 19);
    p.include_tickets = false;
    assert_eq!(bulk::export(&big.db, &p).await.unwrap().queries, 11);
});
