//! The Ledger screens as billing staff use them in a browser: the dashboard, a bill,
//! a custom line item (a mistake first), acceptance into the archive, void with a
//! reason and re-issue; a technician may look but not change; a client sees nothing.

use crate::both;
use crate::helpers::*;
use crate::web::Browser;
use hivematrix::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

const ACCT: &str = "810201";
const BILL: &str = "/ledger/client/810201";

async fn estate(app: &TestApp, admin: &Caller) {
    let (s, plan) = app
        .post(
            "/codex/api/billing-plans",
            admin,
            json!({"plan_name": "Premium", "term_length": "1 Year", "per_user_cost": "10.00",
                   "per_workstation_cost": "5.00", "per_server_cost": "50.00"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    let (s, c) = app
        .post(
            "/codex/api/companies",
            admin,
            json!({"account_number": ACCT, "name": "Acme & \"Sons\"", "billing_plan": "Premium",
                   "contract_term_length": "1-Year"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    app.company(admin, "810202", "No Plan Ltd").await;
    let (s, b) = app
        .post(
            "/codex/api/contacts",
            admin,
            json!({"email": "ann@acme.test", "first_name": "Ann", "company_account_numbers": [ACCT]}),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let (s, b) = app
        .post(
            "/codex/api/assets",
            admin,
            json!({"company_account_number": ACCT, "hostname": "WS-1", "hardware_type": "Desktop"}),
        )
        .await;
    assert!(s.is_success(), "{b}");
}

async fn search(app: &TestApp, who: &Caller) -> Value {
    let (s, r) = app
        .get(
            &format!("/ledger/archive/api/snapshots/search?account_number={ACCT}"),
            who,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    r
}

both!(ledger_pages_bill_accept_archive_void_reissue, |app| {
    let admin = app.admin().await;
    estate(&app, &admin).await;
    let billing = app.caller(Role::Billing, None).await;
    let b = Browser::new(&app);
    let csrf = b.login(&billing.email).await;
    let (_, bill) = app
        .get(&format!("/ledger/api/billing/{ACCT}"), &admin)
        .await;
    let number = bill["invoice_number"].as_str().unwrap().to_string();
    let month = bill["billing_period"].as_str().unwrap().to_string();

    let d = b.get("/ledger").await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    assert!(
        d.body.contains("Acme &amp; &quot;Sons&quot;"),
        "escaped name"
    );
    assert!(!d.body.contains("Acme & \"Sons\""), "raw name");
    assert!(d.body.contains("No Plan Ltd"));
    assert!(d.body.contains("<svg"), "revenue chart");
    assert!(d.body.contains("Accept all"));
    assert!(d.body.contains("href=\"/ledger/client/810201?month="));
    assert!(d
        .body
        .contains(&bill["total"].as_str().unwrap().to_string()));

    let page = b.get(&format!("{BILL}?month={month}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("WS-1"), "asset line");
    assert!(page.body.contains("Download CSV"));

    // A mistake: the fee is not a number. The form says so; nothing is stored.
    let bad = b
        .post(
            &format!("{BILL}/line-items"),
            &[
                ("csrf_token", &csrf),
                ("month", &month),
                ("name", "Licence"),
                ("cadence", "monthly"),
                ("fee", "abc"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("f-fee-error"), "{}", bad.body);
    let (_, items) = app
        .get(&format!("/ledger/api/overrides/line-items/{ACCT}"), &admin)
        .await;
    assert_eq!(items["line_items"].as_array().unwrap().len(), 0);

    let ok = b
        .post(
            &format!("{BILL}/line-items"),
            &[
                ("csrf_token", &csrf),
                ("month", &month),
                ("name", "Licence"),
                ("cadence", "monthly"),
                ("fee", "25.00"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let page = b.get(&format!("{BILL}?month={month}")).await;
    assert!(page.body.contains("Line item Licence added."), "flash");
    assert!(page.body.contains("25.00"));

    let acc = b
        .post(
            &format!("{BILL}/accept"),
            &[
                ("csrf_token", &csrf),
                ("month", &month),
                ("notes", "first <run>"),
            ],
        )
        .await;
    assert_eq!(acc.status, StatusCode::SEE_OTHER, "{}", acc.body);
    let found = search(&app, &admin).await;
    assert_eq!(found["total"], 1, "{found}");
    let id = found["results"][0]["id"].as_i64().unwrap();

    let arch = b
        .get(&format!("/ledger/archive?invoice_number={number}"))
        .await;
    assert_eq!(arch.status, StatusCode::OK, "{}", arch.body);
    assert!(arch
        .body
        .contains(&format!("href=\"/ledger/archive/{id}\"")));
    let bad_period = b.get("/ledger/archive?period=13-2025").await;
    assert_eq!(bad_period.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_period.body.contains("must be YYYY-MM"));

    let detail = b.get(&format!("/ledger/archive/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert!(detail.body.contains("first &lt;run&gt;"), "escaped notes");
    assert!(detail
        .body
        .contains(&format!("/ledger/archive/api/snapshots/{id}/csv")));

    let no_reason = b
        .post(
            &format!("/ledger/archive/{id}/void"),
            &[("csrf_token", &csrf), ("reason", "")],
        )
        .await;
    assert_eq!(
        no_reason.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        no_reason.body
    );
    let voided = b
        .post(
            &format!("/ledger/archive/{id}/void"),
            &[("csrf_token", &csrf), ("reason", "wrong rate")],
        )
        .await;
    assert_eq!(voided.status, StatusCode::SEE_OTHER, "{}", voided.body);
    let again = b
        .post(
            &format!("/ledger/archive/{id}/reissue"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    let found = search(&app, &admin).await;
    assert_eq!(found["total"], 2, "{found}");
    let page = b.get(again.location()).await;
    assert!(page.body.contains("rev 2"), "{}", page.body);
});

both!(
    ledger_pages_technicians_read_and_clients_are_kept_out,
    |app| {
        let admin = app.admin().await;
        estate(&app, &admin).await;
        let tech = app.caller(Role::Technician, None).await;
        let b = Browser::new(&app);
        let csrf = b.login(&tech.email).await;
        let d = b.get("/ledger").await;
        assert_eq!(d.status, StatusCode::OK, "{}", d.body);
        assert!(
            !d.body.contains("Accept all"),
            "no write buttons for a technician"
        );
        let page = b.get(BILL).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let post = b
            .post(
                &format!("{BILL}/line-items"),
                &[("csrf_token", &csrf), ("name", "X"), ("fee", "1")],
            )
            .await;
        assert_eq!(post.status, StatusCode::FORBIDDEN);
        assert_eq!(b.get("/ledger/archive").await.status, StatusCode::FORBIDDEN);

        let c: Value = app
            .get(&format!("/codex/api/companies/{ACCT}"), &admin)
            .await
            .1;
        let client = app.caller(Role::Client, c["id"].as_i64()).await;
        let cb = Browser::new(&app);
        cb.login(&client.email).await;
        assert_eq!(cb.get("/ledger").await.status, StatusCode::FORBIDDEN);
        assert_eq!(cb.get(BILL).await.status, StatusCode::FORBIDDEN);
    }
);

both!(
    ledger_pages_override_editors_orphans_accept_all_and_downloads,
    |app| {
        let admin = app.admin().await;
        estate(&app, &admin).await;
        let (s, srv) = app
        .post(
            "/codex/api/assets",
            &admin,
            json!({"company_account_number": ACCT, "hostname": "SRV-9", "hardware_type": "Server"}),
        )
        .await;
        assert!(s.is_success(), "{srv}");
        let srv_id = srv["id"].as_i64().unwrap().to_string();
        let b = Browser::new(&app);
        let csrf = b.login(&admin.email).await;
        let (_, bill) = app
            .get(&format!("/ledger/api/billing/{ACCT}"), &admin)
            .await;
        let month = bill["billing_period"].as_str().unwrap().to_string();
        let (year, mon) = month.split_once('-').unwrap();
        let mon = mon.trim_start_matches('0');
        let post = |path: String, form: Vec<(&'static str, String)>| {
            let b = &b;
            let csrf = csrf.clone();
            let month = month.clone();
            async move {
                let mut f: Vec<(&str, String)> = vec![("csrf_token", csrf), ("month", month)];
                f.extend(form);
                let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
                b.post(&path, &f).await
            }
        };

        // Client rates: a bad amount is shown next to its field and not stored.
        let bad = post(
            format!("{BILL}/overrides"),
            vec![("per_user_cost", "abc".into())],
        )
        .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
        assert!(bad.body.contains("f-per_user_cost-error"), "{}", bad.body);
        let ok = post(
            format!("{BILL}/overrides"),
            vec![("per_user_cost", "20.00".into())],
        )
        .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
        let (_, o) = app
            .get(&format!("/ledger/api/overrides/client/{ACCT}"), &admin)
            .await;
        assert_eq!(o["overrides"]["rates"]["per_user_cost"], "20.00", "{o}");
        let page = b.get(BILL).await;
        assert!(page.body.contains("client override"), "line source");

        // Manual asset: hostname required, then added and billed.
        let bad = post(
            format!("{BILL}/manual/assets"),
            vec![("hostname", "".into()), ("billing_type", "Server".into())],
        )
        .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
        assert!(bad.body.contains("f-hostname-error"), "{}", bad.body);
        let ok = post(
            format!("{BILL}/manual/assets"),
            vec![
                ("hostname", "NAS-<1>".into()),
                ("billing_type", "Server".into()),
            ],
        )
        .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
        let ok = post(
            format!("{BILL}/manual/users"),
            vec![
                ("full_name", "Temp Worker".into()),
                ("billing_type", "Paid".into()),
            ],
        )
        .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
        let page = b.get(BILL).await;
        assert!(
            page.body.contains("NAS-&lt;1&gt;"),
            "escaped manual hostname"
        );
        assert!(page.body.contains("Temp Worker"));

        // Per-asset override: Custom needs a cost (error in the row), then one that works.
        let bad = post(
            format!("{BILL}/entity-override"),
            vec![
                ("kind", "asset".into()),
                ("id", srv_id.clone()),
                ("billing_type", "Custom".into()),
            ],
        )
        .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
        assert!(
            bad.body.contains("is required for billing type Custom"),
            "{}",
            bad.body
        );
        let ok = post(
            format!("{BILL}/entity-override"),
            vec![
                ("kind", "asset".into()),
                ("id", srv_id.clone()),
                ("billing_type", "Custom".into()),
                ("custom_cost", "33.00".into()),
            ],
        )
        .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
        let page = b.get(BILL).await;
        assert!(page.body.contains("asset override"));
        // A live override can be cleared from its row, and set again.
        assert!(page.body.contains("Clear override"), "{}", page.body);
        let ok = post(
            format!("{BILL}/remove"),
            vec![("kind", "asset-override".into()), ("id", srv_id.clone())],
        )
        .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
        assert!(!b.get(BILL).await.body.contains("asset override"));
        let ok = post(
            format!("{BILL}/entity-override"),
            vec![
                ("kind", "asset".into()),
                ("id", srv_id.clone()),
                ("billing_type", "Custom".into()),
                ("custom_cost", "33.00".into()),
            ],
        )
        .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);

        // The asset goes away: its override is listed as orphaned and can be removed.
        let (s, _) = app
            .delete(&format!("/codex/api/assets/{srv_id}"), &admin)
            .await;
        assert!(s.is_success());
        let page = b.get(BILL).await;
        assert!(page.body.contains("Orphaned overrides"), "{}", page.body);
        let ok = post(
            format!("{BILL}/remove"),
            vec![("kind", "asset-override".into()), ("id", srv_id.clone())],
        )
        .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
        assert!(!b.get(BILL).await.body.contains("Orphaned overrides"));

        // Downloads from the dashboard's buttons.
        let zip = b
            .get(&format!(
                "/ledger/invoices/bulk/download?year={year}&month={mon}"
            ))
            .await;
        assert_eq!(zip.status, StatusCode::OK);
        assert_eq!(zip.headers["content-type"], "application/zip");
        let qb = b.get(&format!("/ledger/quickbooks?month={month}")).await;
        assert_eq!(qb.status, StatusCode::OK, "{}", qb.body);
        assert_eq!(qb.headers["content-type"], "application/zip");

        // Accept all: a job whose progress panel polls until it is done.
        let go = post("/ledger/accept-all".into(), vec![]).await;
        assert_eq!(go.status, StatusCode::SEE_OTHER, "{}", go.body);
        let dash = b.get(go.location()).await;
        assert!(dash.body.contains("Accept all: job"), "{}", dash.body);
        let job = go.location().rsplit("job=").next().unwrap().to_string();
        let mut done = false;
        for _ in 0..50 {
            let p = b.get(&format!("/ledger/jobs/{job}/progress")).await;
            assert_eq!(p.status, StatusCode::OK);
            if p.body.contains("completed") {
                assert!(!p.body.contains("hx-trigger"), "stops polling when done");
                assert!(p.body.contains("1 accepted"), "{}", p.body);
                assert!(
                    p.body.contains("No Plan Ltd"),
                    "the skipped company is named"
                );
                done = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(done, "the job finished");
        let d = b.get(&format!("/ledger?month={month}")).await;
        assert!(d.body.contains("accepted"));
    }
);
