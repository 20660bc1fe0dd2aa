//! Ledger over HTTP: bills, dashboard, invoices, exports, overrides, snapshots, bulk
//! jobs and contract alignment, on both databases.

use crate::both;
use crate::helpers::*;
use hivematrix::auth::Role;
use hivematrix::codex::tickets::store as tickets;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PERIOD: &str = "year=2025&month=10";

/// A plan, a billed company (two active contacts, one inactive, a desktop, a server, a
/// ticket with 90 minutes in October 2025 and 30 in September, two line items) and a
/// company without a plan.
async fn estate(app: &TestApp, admin: &Caller) -> Value {
    let (s, plan) = app
        .post(
            "/codex/api/billing-plans",
            admin,
            json!({"plan_name": "Premium", "term_length": "1 Year", "per_user_cost": "10.00",
                   "per_workstation_cost": "5.00", "per_server_cost": "50.00",
                   "per_hour_ticket_cost": "100.00", "support_level": "All Inclusive"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    let (s, acme) = app
        .post(
            "/codex/api/companies",
            admin,
            json!({"account_number": "810101", "name": "Acme, Inc.", "billing_plan": "Premium",
                   "contract_term_length": "1-Year"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{acme}");
    app.company(admin, "810102", "No Plan Ltd").await;
    for (email, active) in [
        ("ann@acme.test", true),
        ("bob@acme.test", true),
        ("old@acme.test", false),
    ] {
        let (s, b) = app
            .post(
                "/codex/api/contacts",
                admin,
                json!({"email": email, "first_name": email.split('@').next().unwrap(),
                       "active": active, "company_account_numbers": ["810101"]}),
            )
            .await;
        assert!(s.is_success(), "{b}");
    }
    for (host, hw) in [("WS-1", "Desktop"), ("SRV-1", "Server")] {
        let (s, b) = app
            .post(
                "/codex/api/assets",
                admin,
                json!({"company_account_number": "810101", "hostname": host, "hardware_type": hw}),
            )
            .await;
        assert!(s.is_success(), "{b}");
    }
    let (s, t) = app
        .post(
            "/codex/api/tickets",
            admin,
            json!({"subject": "Mail", "company_account_number": "810101"}),
        )
        .await;
    assert!(s.is_success(), "{t}");
    let entry = |id: &str, minutes: i64, at: &str| tickets::TimeEntry {
        external_id: id.into(),
        minutes,
        billable: true,
        executed_at: Some(at.into()),
        ..Default::default()
    };
    tickets::replace_time_entries(
        &app.db,
        t["id"].as_i64().unwrap(),
        &[
            entry("e1", 90, "2025-10-15T10:00:00Z"),
            entry("e2", 30, "2025-09-30T23:59:00Z"),
        ],
    )
    .await
    .unwrap();
    for body in [
        json!({"name": "Licence", "monthly_fee": "25.00"}),
        json!({"name": "Upgrade", "one_off_fee": 100, "one_off_year": 2025, "one_off_month": 10}),
    ] {
        let (s, b) = app
            .post("/ledger/api/overrides/line-items/810101", admin, body)
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    acme
}

async fn raw(
    app: &TestApp,
    path: &str,
    who: &Caller,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(&who.token)
        .send()
        .await
        .unwrap();
    let (s, h) = (r.status(), r.headers().clone());
    (s, h, r.bytes().await.unwrap().to_vec())
}

/// Sum of the Amount column (the last field; no amount contains a comma).
fn csv_total(csv: &str) -> rust_decimal::Decimal {
    csv.split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.rsplit(',')
                .next()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        })
        .sum()
}

both!(
    ledger_total_agrees_everywhere_and_no_company_vanishes,
    |app| {
        let admin = app.admin().await;
        let billing = app.caller(Role::Billing, None).await;
        estate(&app, &admin).await;

        let (s, bill) = app
            .get(&format!("/ledger/api/billing/810101?{PERIOD}"), &billing)
            .await;
        assert_eq!(s, StatusCode::OK, "{bill}");
        // 2 active users × 10 + desktop 5 + server 50 + 1.5 h × 100 + 25 + 100.
        assert_eq!(bill["total"], "350.00", "{bill}");
        assert_eq!(bill["invoice_number"], "810101-202510");
        let lines = bill["bill"]["lines"].as_array().unwrap();
        assert!(lines
            .iter()
            .all(|l| l["rule"].is_string() && l["source"].is_string()));
        assert!(
            lines
                .iter()
                .any(|l| l["name"] == "SRV-1" && l["kind"] == "Server"),
            "servers are not billed as workstations: {lines:?}"
        );

        let (s, dash) = app
            .get(&format!("/ledger/api/billing/dashboard?{PERIOD}"), &billing)
            .await;
        assert_eq!(s, StatusCode::OK, "{dash}");
        assert_eq!(dash["company_count"], 2);
        let row = |acct: &str| {
            dash["companies"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["account_number"] == acct)
                .cloned()
                .unwrap_or_else(|| panic!("{acct} missing from {dash}"))
        };
        assert_eq!(row("810101")["total_bill"], "350.00");
        assert_eq!(row("810101")["users"], 2);
        assert_eq!(row("810101")["hours"], "1.50");
        let none = row("810102");
        assert!(
            none["error"].as_str().unwrap().contains("no billing plan"),
            "{none}"
        );
        assert_eq!(none["total_bill"], "0.00");
        assert_eq!(dash["error_count"], 1);
        assert_eq!(dash["total_revenue"], "350.00");
        assert_eq!(dash["revenue_history"].as_array().unwrap().len(), 12);

        // A company without a plan: its bill says why; it cannot be invoiced.
        let (s, b) = app
            .get(&format!("/ledger/api/billing/810102?{PERIOD}"), &billing)
            .await;
        assert_eq!(s, StatusCode::OK);
        assert!(b["error"].as_str().unwrap().contains("no billing plan"));
        let (s, b) = app
            .get(
                &format!("/ledger/invoice/810102/download?{PERIOD}"),
                &billing,
            )
            .await;
        assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);

        let (s, h, csv) = raw(
            &app,
            &format!("/ledger/invoice/810101/download?{PERIOD}"),
            &billing,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert!(h["content-type"].to_str().unwrap().starts_with("text/csv"));
        assert!(h["content-disposition"]
            .to_str()
            .unwrap()
            .contains("Acme_Inc_2025-10.csv"));
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv.starts_with(
        "InvoiceNo,Customer,InvoiceDate,DueDate,Item(Product/Service),Description,Qty,Rate,Amount\r\n"
    ));
        assert!(csv.contains("810101-202510,\"Acme, Inc.\",2025-10-31,2025-11-30,"));
        assert_eq!(csv_total(&csv).to_string(), "350.00");

        let (s, sum) = app
            .get(
                &format!("/ledger/api/invoice/810101/summary?{PERIOD}"),
                &billing,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{sum}");
        assert_eq!(sum["total_amount"], "350.00");
        assert_eq!(sum["is_archived"], false);
        assert_eq!(
            sum["total_lines"].as_u64().unwrap() as usize,
            csv.split("\r\n").filter(|l| !l.is_empty()).count() - 1
        );

        // Accept: the snapshot has the same total and exactly the CSV the invoice had.
        let (s, acc) = app
            .post(
                "/ledger/api/bill/accept",
                &billing,
                json!({"account_number": "810101", "year": 2025, "month": 10, "notes": "ok"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{acc}");
        assert_eq!(acc["snapshot"]["total_amount"], "350.00");
        let id = acc["snapshot"]["id"].as_i64().unwrap();
        let (_, _, stored) = raw(
            &app,
            &format!("/ledger/archive/api/snapshots/{id}/csv"),
            &billing,
        )
        .await;
        assert_eq!(
            String::from_utf8(stored).unwrap(),
            csv,
            "stored CSV is byte-exact"
        );
        let (_, _, by_number) = raw(
            &app,
            "/ledger/archive/api/snapshot/810101-202510/csv",
            &billing,
        )
        .await;
        assert_eq!(String::from_utf8(by_number).unwrap(), csv);
        let (_, detail) = app
            .get(&format!("/ledger/archive/api/snapshots/{id}"), &billing)
            .await;
        assert_eq!(detail["billing_data"]["totals"]["total"], "350.00");
        assert_eq!(detail["created_by"], billing.email.as_str());
        assert_eq!(detail["notes"], "ok");
        let (_, dash) = app
            .get(&format!("/ledger/api/billing/dashboard?{PERIOD}"), &billing)
            .await;
        assert_eq!(dash["archived_count"], 1);
        let oct = dash["revenue_history"]
            .as_array()
            .unwrap()
            .last()
            .cloned()
            .unwrap();
        assert_eq!(
            oct,
            json!({"period": "2025-10", "total": "350.00", "invoices": 1})
        );
        let (_, sum) = app
            .get(
                &format!("/ledger/api/invoice/810101/summary?{PERIOD}"),
                &billing,
            )
            .await;
        assert_eq!(sum["is_archived"], true);

        // Next month's dashboard shows the change against the issued October total.
        let (_, nov) = app
            .get("/ledger/api/billing/dashboard?year=2025&month=11", &billing)
            .await;
        let r = nov["companies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["account_number"] == "810101")
            .cloned()
            .unwrap();
        assert_eq!(r["previous_total"], "350.00");
        // November: users 20 + assets 55 + licence 25, no hours, no one-off.
        assert_eq!(r["total_bill"], "100.00");
        assert_eq!(r["change"], "-250.00");
    }
);

both!(ledger_snapshots_cannot_be_changed, |app| {
    let admin = app.admin().await;
    let billing = app.caller(Role::Billing, None).await;
    let tech = app.caller(Role::Technician, None).await;
    estate(&app, &admin).await;
    let accept = json!({"account_number": "810101", "year": 2025, "month": 10});
    let (s, b) = app
        .post("/ledger/api/bill/accept", &tech, accept.clone())
        .await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
    let (s, acc) = app
        .post("/ledger/api/bill/accept", &billing, accept.clone())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{acc}");
    let id = acc["snapshot"]["id"].as_i64().unwrap();
    let path = format!("/ledger/archive/api/snapshots/{id}");
    let (_, before) = app.get(&path, &admin).await;
    let (_, _, csv_before) = raw(&app, &format!("{path}/csv"), &admin).await;

    // Change the inputs: the snapshot must not follow.
    let (s, _) = app
        .put(
            "/ledger/api/overrides/client/810101",
            &billing,
            json!({"per_user_cost": "99.00"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for (m, p) in [
        (Method::PUT, path.clone()),
        (Method::PATCH, path.clone()),
        (Method::DELETE, path.clone()),
        (
            Method::PUT,
            "/ledger/archive/api/snapshot/810101-202510".to_string(),
        ),
        (
            Method::DELETE,
            "/ledger/archive/api/snapshot/810101-202510".to_string(),
        ),
        (Method::PUT, format!("{path}/csv")),
        (Method::DELETE, format!("{path}/void")),
    ] {
        let (s, b) = app
            .call(
                m.clone(),
                &p,
                Some(&admin),
                Some(json!({"total_amount": "1.00"})),
            )
            .await;
        assert!(
            s == StatusCode::METHOD_NOT_ALLOWED || s == StatusCode::NOT_FOUND,
            "{m} {p}: {s} {b}"
        );
    }
    let (s, b) = app
        .post("/ledger/api/bill/accept", &admin, accept.clone())
        .await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    let (_, after) = app.get(&path, &admin).await;
    assert_eq!(before, after, "nothing changed the snapshot");
    let (_, _, csv_after) = raw(&app, &format!("{path}/csv"), &admin).await;
    assert_eq!(csv_before, csv_after);
    let (_, v) = app.get(&format!("{path}/verify"), &admin).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["content_hash"], before["content_hash"]);

    // Void needs a reason and the billing role; then the month can be re-issued.
    let (s, b) = app.post(&format!("{path}/void"), &billing, json!({})).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = app
        .post(&format!("{path}/void"), &tech, json!({"reason": "x"}))
        .await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
    let (s, voided) = app
        .post(
            &format!("{path}/void"),
            &billing,
            json!({"reason": "wrong user rate"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{voided}");
    assert_eq!(voided["status"], "voided");
    assert_eq!(voided["void"]["reason"], "wrong user rate");
    assert_eq!(voided["content_hash"], before["content_hash"]);
    let (s, b) = app
        .post(
            &format!("{path}/void"),
            &billing,
            json!({"reason": "again"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    let (s, again) = app.post("/ledger/api/bill/accept", &billing, accept).await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    assert_eq!(again["snapshot"]["revision"], 2);
    assert_eq!(again["snapshot"]["invoice_number"], "810101-202510");
    // 2 users at the new 99.00 rate: 198 + 55 + 150 + 125.
    assert_eq!(again["snapshot"]["total_amount"], "528.00");

    // Both are kept and searchable.
    let (_, all) = app
        .get(
            "/ledger/archive/api/snapshots/search?account_number=810101",
            &billing,
        )
        .await;
    assert_eq!(all["total"], 2, "{all}");
    let (_, issued) = app
        .get(
            "/ledger/archive/api/snapshots/search?status=issued&min_amount=500",
            &billing,
        )
        .await;
    assert_eq!(issued["total"], 1);
    assert_eq!(issued["results"][0]["revision"], 2);
    let (_, none) = app
        .get(
            "/ledger/archive/api/snapshots/search?max_amount=100",
            &billing,
        )
        .await;
    assert_eq!(none["total"], 0);
    let (_, by_name) = app
        .get(
            "/ledger/archive/api/snapshots/search?company=acme&year=2025&month=10",
            &billing,
        )
        .await;
    assert_eq!(by_name["total"], 2);
    let (_, by_inv) = app
        .get(
            "/ledger/archive/api/snapshots/search?invoice_number=810101-202510&status=voided",
            &billing,
        )
        .await;
    assert_eq!(by_inv["total"], 1);
    let (s, b) = app
        .get(
            "/ledger/archive/api/snapshots/search?min_amount=abc",
            &billing,
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, comp) = app
        .get("/ledger/archive/api/snapshots/company/810101", &billing)
        .await;
    assert_eq!(comp["total_snapshots"], 2);
    let (_, current) = app
        .get("/ledger/archive/api/snapshot/810101-202510", &billing)
        .await;
    assert_eq!(
        current["revision"], 2,
        "the issued revision is the invoice's snapshot"
    );
    let (s, b) = app.get("/ledger/archive/api/snapshots/search", &tech).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
});

both!(ledger_overrides_validate_and_apply, |app| {
    let admin = app.admin().await;
    let billing = app.caller(Role::Billing, None).await;
    let tech = app.caller(Role::Technician, None).await;
    estate(&app, &admin).await;
    let bill = |who: &Caller| {
        let path = format!("/ledger/api/billing/810101?{PERIOD}");
        let app = &app;
        let who = who.token.clone();
        async move {
            let r = app
                .client
                .get(app.url(&path))
                .bearer_auth(who)
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        }
    };

    // Client override: bad input is a 422 naming the field, and nothing changes.
    let path = "/ledger/api/overrides/client/810101";
    let (s, b) = app
        .put(
            path,
            &billing,
            json!({"per_user_cost": "1.234", "per_vm_cost": "x", "nonsense": 1}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    for f in ["per_user_cost", "per_vm_cost", "nonsense"] {
        assert!(b["errors"][f].is_string(), "{b}");
    }
    let (_, o) = app.get(path, &tech).await;
    assert!(o["overrides"]["rates"]["per_user_cost"].is_null(), "{o}");
    let (s, b) = app.put(path, &tech, json!({"per_user_cost": "1.00"})).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
    let (s, o) = app
        .put(
            path,
            &billing,
            json!({"per_user_cost": "20", "prepaid_hours_monthly": "1.00"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{o}");
    assert_eq!(o["overrides"]["rates"]["per_user_cost"], "20.00");
    // 2 × 20 + 55 + 0.5 h × 100 + 125.
    assert_eq!(bill(&tech).await["total"], "270.00");
    let (_, o) = app
        .put(path, &billing, json!({"prepaid_hours_monthly": null}))
        .await;
    assert!(o["overrides"]["rates"]["prepaid_hours_monthly"].is_null());
    assert_eq!(o["overrides"]["rates"]["per_user_cost"], "20.00");
    // A plan/term override that matches no plan is an error on the bill, not a vanishing.
    app.put(path, &billing, json!({"contract_term": "3-Year"}))
        .await;
    let b = bill(&tech).await;
    assert!(b["error"].as_str().unwrap().contains("3 Year"), "{b}");
    let (s, _) = app.delete(path, &billing).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(bill(&tech).await["total"], "350.00");

    // Per-asset: the server billed as No Charge; then custom.
    let (_, assets) = app.get("/codex/api/companies/810101/assets", &admin).await;
    let list = assets
        .as_array()
        .or(assets["assets"].as_array())
        .cloned()
        .unwrap();
    let srv = list.iter().find(|a| a["hostname"] == "SRV-1").unwrap()["id"]
        .as_i64()
        .unwrap();
    let ap = format!("/ledger/api/overrides/asset/{srv}");
    let (s, b) = app
        .put(&ap, &billing, json!({"billing_type": "Custom"}))
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["custom_cost"].is_string());
    let (s, b) = app
        .put(&ap, &billing, json!({"billing_type": "Printer"}))
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = app
        .put(
            "/ledger/api/overrides/asset/999999",
            &billing,
            json!({"billing_type": "VM"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, _) = app
        .put(&ap, &billing, json!({"billing_type": "No Charge"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(bill(&tech).await["total"], "300.00");
    let (_, o) = app
        .put(
            &ap,
            &billing,
            json!({"billing_type": "Custom", "custom_cost": 12.5}),
        )
        .await;
    assert_eq!(o["override"]["custom_cost"], "12.50");
    assert_eq!(bill(&tech).await["total"], "312.50");
    let (_, g) = app.get(&ap, &tech).await;
    assert_eq!(g["override"]["billing_type"], "Custom");
    assert_eq!(g["orphaned"], false);

    // Per-user: one contact free.
    let (_, people) = app
        .get("/codex/api/companies/810101/contacts", &admin)
        .await;
    let people = people
        .as_array()
        .or(people["contacts"].as_array())
        .cloned()
        .unwrap();
    let ann = people
        .iter()
        .find(|p| p["email"] == "ann@acme.test")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, o) = app
        .put(
            &format!("/ledger/api/overrides/user/{ann}"),
            &billing,
            json!({"billing_type": "free"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{o}");
    assert_eq!(o["override"]["billing_type"], "No Charge");
    assert_eq!(bill(&tech).await["total"], "302.50");

    // Manual asset and user.
    let mp = "/ledger/api/overrides/manual-assets/810101";
    let (s, b) = app
        .post(mp, &billing, json!({"billing_type": "Firewall"}))
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["hostname"].is_string());
    let (s, fw) = app
        .post(
            mp,
            &billing,
            json!({"hostname": "FW-1", "billing_type": "Custom", "custom_cost": "30"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{fw}");
    assert_eq!(bill(&tech).await["total"], "332.50");
    let fw_id = fw["id"].as_i64().unwrap();
    let (s, fw2) = app
        .put(
            &format!("{mp}/{fw_id}"),
            &billing,
            json!({"hostname": "FW-1", "billing_type": "No Charge"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{fw2}");
    assert!(fw2["custom_cost"].is_null());
    let (_, list) = app.get(mp, &tech).await;
    assert_eq!(list["manual_assets"].as_array().unwrap().len(), 1);
    let (s, mu) = app
        .post(
            "/ledger/api/overrides/manual-users/810101",
            &billing,
            json!({"full_name": "Contractor", "billing_type": "Paid"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{mu}");
    assert_eq!(bill(&tech).await["total"], "312.50");
    let (s, _) = app
        .delete(
            &format!("/ledger/api/overrides/manual-users/810101/{}", mu["id"]),
            &billing,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .delete(
            &format!("/ledger/api/overrides/manual-users/810101/{}", mu["id"]),
            &billing,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Line items: exactly one fee; months checked; yearly billed only in its month.
    let lp = "/ledger/api/overrides/line-items/810101";
    let (s, b) = app
        .post(
            lp,
            &billing,
            json!({"name": "Both", "monthly_fee": 1, "yearly_fee": 2, "yearly_bill_month": 1}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = app
        .post(
            lp,
            &billing,
            json!({"name": "Y", "yearly_fee": 2, "yearly_bill_month": 13}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["yearly_bill_month"].is_string());
    let (s, y) = app
        .post(
            lp,
            &billing,
            json!({"name": "Domain", "yearly_fee": "-2.50", "yearly_bill_month": 10}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{y}");
    // The manual user is gone again (302.50); the yearly credit is due in October.
    assert_eq!(bill(&tech).await["total"], "300.00");
    let (s, y2) = app
        .put(
            &format!("{lp}/{}", y["id"]),
            &billing,
            json!({"yearly_fee": 10, "yearly_bill_month": 11}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{y2}");
    assert_eq!(y2["name"], "Domain");
    assert_eq!(bill(&tech).await["total"], "302.50");
    let (_, items) = app.get(lp, &tech).await;
    assert_eq!(items["line_items"].as_array().unwrap().len(), 3);

    // Feature overrides go through Codex's single store.
    let (s, _) = app
        .post(
            "/codex/api/feature-options",
            &admin,
            json!({"feature_category": "antivirus", "option_value": "EDR"}),
        )
        .await;
    assert!(s.is_success());
    let (s, f) = app
        .put(
            "/ledger/api/overrides/features/810101",
            &billing,
            json!({"antivirus": "SentinelOne"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    assert_eq!(f["feature_overrides"][0]["value"], "SentinelOne");
    let (_, codex) = app
        .get("/codex/api/companies/810101/feature-overrides", &admin)
        .await;
    assert_eq!(codex["overrides"]["antivirus"], "SentinelOne");
    let (s, _) = app
        .delete("/ledger/api/overrides/features/810101/antivirus", &billing)
        .await;
    assert_eq!(s, StatusCode::OK);

    // Every write is audited under the ledger module.
    let (_, audit) = app
        .get("/codex/api/audit?module=ledger&limit=200", &admin)
        .await;
    let n = audit
        .as_array()
        .or(audit["entries"].as_array())
        .map_or(0, |a| a.len());
    assert!(n >= 10, "{audit}");
});

both!(ledger_orphaned_overrides_are_reported_not_applied, |app| {
    let admin = app.admin().await;
    let billing = app.caller(Role::Billing, None).await;
    estate(&app, &admin).await;
    let (_, assets) = app.get("/codex/api/companies/810101/assets", &admin).await;
    let list = assets
        .as_array()
        .or(assets["assets"].as_array())
        .cloned()
        .unwrap();
    let ws = list.iter().find(|a| a["hostname"] == "WS-1").unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, _) = app
        .put(
            &format!("/ledger/api/overrides/asset/{ws}"),
            &billing,
            json!({"billing_type": "Custom", "custom_cost": "99"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.delete(&format!("/codex/api/assets/{ws}"), &admin).await;
    assert!(s.is_success());
    let (_, b) = app
        .get(&format!("/ledger/api/billing/810101?{PERIOD}"), &billing)
        .await;
    // The desktop is gone: 20 + 50 + 150 + 125, and the override is reported.
    assert_eq!(b["total"], "345.00", "{b}");
    assert_eq!(b["orphaned_overrides"][0]["id"], ws);
    assert!(b["bill"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("not applied")));
    let (_, o) = app.get("/ledger/api/overrides/orphans", &billing).await;
    assert_eq!(o["count"], 1, "{o}");
    let (_, g) = app
        .get(&format!("/ledger/api/overrides/asset/{ws}"), &billing)
        .await;
    assert_eq!(g["orphaned"], true);
    let (_, d) = app
        .get(&format!("/ledger/api/billing/dashboard?{PERIOD}"), &billing)
        .await;
    let row = d["companies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["account_number"] == "810101")
        .cloned()
        .unwrap();
    assert_eq!(row["orphaned_overrides"], 1);
});

both!(ledger_exports_and_bulk_jobs, |app| {
    let admin = app.admin().await;
    let billing = app.caller(Role::Billing, None).await;
    estate(&app, &admin).await;
    app.company(&admin, "810103", "Acme, Inc").await;
    let (s, _) = app
        .put(
            "/codex/api/companies/810103",
            &admin,
            json!({"billing_plan": "Premium", "contract_term_length": "1 Year"}),
        )
        .await;
    assert!(s.is_success());

    let (s, h, zip) = raw(
        &app,
        &format!("/ledger/invoices/bulk/download?{PERIOD}"),
        &billing,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(h["content-disposition"]
        .to_str()
        .unwrap()
        .contains("invoices_2025-10.zip"));
    assert_eq!(
        h["x-ledger-skipped"], "810102",
        "the company without a plan is named"
    );
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut names: Vec<String> = (0..z.len())
        .map(|i| z.by_index(i).unwrap().name().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["Acme_Inc_2025-10.csv", "Acme_Inc_2025-10_2.csv"]);
    let (s, h, qb) = raw(
        &app,
        &format!("/ledger/client/810101/export/quickbooks?{PERIOD}"),
        &billing,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(h["content-disposition"]
        .to_str()
        .unwrap()
        .contains("quickbooks_export_810101_2025-10.csv"));
    assert!(String::from_utf8(qb).unwrap().contains("810101-202510"));
    let r = app
        .client
        .post(app.url("/ledger/export/all_bills"))
        .bearer_auth(&billing.token)
        .json(&json!({"year": 2025, "month": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("all_invoices_2025-10.zip"));

    // Bulk acceptance: a durable job with a result per company.
    let (s, b) = app
        .post(
            "/ledger/archive/api/snapshots/bulk/create",
            &billing,
            json!({"year": 2025}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, job) = app
        .post(
            "/ledger/archive/api/snapshots/bulk/create",
            &billing,
            json!({"year": 2025, "month": 10}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let path = format!("/ledger/archive/api/scheduler/jobs/{}", job["id"]);
    let mut done = Value::Null;
    for _ in 0..100 {
        let (_, j) = app.get(&path, &billing).await;
        if j["status"] == "completed" || j["status"] == "failed" {
            done = j;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["accepted"], 2);
    assert_eq!(done["failed"], 1);
    let failed = done["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "failed")
        .cloned()
        .unwrap();
    assert_eq!(failed["account_number"], "810102");
    // Running it again skips what is archived.
    let again = hivematrix::ledger::jobs::enqueue(
        &app.db,
        "manual",
        hivematrix::ledger::BillingPeriod::new(2025, 10).unwrap(),
        None,
        Some("test"),
    )
    .await
    .unwrap();
    hivematrix::ledger::jobs::run_queued(&app.db).await.unwrap();
    let (_, j) = app
        .get(
            &format!("/ledger/archive/api/scheduler/jobs/{}", again.id),
            &billing,
        )
        .await;
    assert_eq!(j["skipped"], 2, "{j}");
    assert_eq!(j["accepted"], 0);
    let (_, list) = app
        .get("/ledger/archive/api/scheduler/jobs", &billing)
        .await;
    assert_eq!(list["total"], 2);

    // The schedule: validated, and it fires once per period whoever ticks.
    let (s, b) = app
        .post(
            "/ledger/archive/api/scheduler/config",
            &billing,
            json!({"hour": 24}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, cfg) = app
        .post(
            "/ledger/archive/api/scheduler/config",
            &billing,
            json!({"enabled": true, "day_of_month": 3, "hour": 4}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{cfg}");
    assert!(cfg["next_run_at"].is_string());
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let tick = |s: &'static str| {
        let db = app.db.clone();
        async move { hivematrix::ledger::jobs::tick(&db, at(s)).await.unwrap() }
    };
    assert!(tick("2025-12-03T03:59:00Z").await.is_none(), "not yet");
    let fired = tick("2025-12-03T04:00:00Z").await.expect("due");
    assert_eq!((fired.billing_year, fired.billing_month), (2025, 11));
    assert!(tick("2025-12-03T05:00:00Z").await.is_none(), "fires once");
    hivematrix::ledger::jobs::run_queued(&app.db).await.unwrap();
    let (_, cfg) = app
        .get("/ledger/archive/api/scheduler/config", &billing)
        .await;
    assert_eq!(cfg["last_run"]["status"], "completed", "{cfg}");
    assert_eq!(cfg["last_run"]["accepted"], 2);
});

both!(ledger_rules_settings_and_contract_alignment, |app| {
    let admin = app.admin().await;
    let billing = app.caller(Role::Billing, None).await;
    estate(&app, &admin).await;
    let (_, rules) = app.get("/ledger/api/classification-rules", &billing).await;
    let mut list = rules["rules"].as_array().unwrap().clone();
    assert!(list.len() > 5);
    let (s, b) = app
        .put(
            "/ledger/api/classification-rules",
            &billing,
            json!({"rules": list}),
        )
        .await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
    let (s, b) = app
        .put(
            "/ledger/api/classification-rules",
            &admin,
            json!({"rules": [{"name": "x", "class": "Toaster"}]}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    // Desktops billed as No Charge by a rule put first.
    list.insert(
        0,
        json!({"name": "Free desktops", "category": "desktop", "class": "No Charge"}),
    );
    let (s, r) = app
        .put(
            "/ledger/api/classification-rules",
            &admin,
            json!({"rules": list}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (_, b) = app
        .get(&format!("/ledger/api/billing/810101?{PERIOD}"), &billing)
        .await;
    assert_eq!(b["total"], "345.00");

    // The user rule: inactive contacts billed when set to all_contacts.
    let (s, b) = app
        .put(
            "/ledger/api/settings",
            &billing,
            json!({"user_rule": "some"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, st) = app
        .put(
            "/ledger/api/settings",
            &billing,
            json!({"user_rule": "all_contacts"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!(st["user_rule"], "all_contacts");
    let (_, b) = app
        .get(&format!("/ledger/api/billing/810101?{PERIOD}"), &billing)
        .await;
    assert_eq!(b["total"], "355.00");
    app.put(
        "/ledger/api/settings",
        &billing,
        json!({"user_rule": "active_only"}),
    )
    .await;

    // Contract alignment: compare, dry run, apply, verify.
    let (s, cur) = app
        .get("/ledger/api/contract/current-settings/810101", &billing)
        .await;
    assert_eq!(s, StatusCode::OK, "{cur}");
    assert_eq!(cur["line_items"].as_array().unwrap().len(), 2);
    let terms =
        json!({"per_user_rate": 12, "hourly_rate": "100", "support_level": "All Inclusive"});
    let (s, cmp) = app
        .post(
            "/ledger/api/contract/compare",
            &billing,
            json!({"account_number": "810101", "terms": terms}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{cmp}");
    assert_eq!(
        cmp["discrepancies_found"], 1,
        "only the user rate differs: {cmp}"
    );
    assert_eq!(cmp["discrepancies"][0]["field"], "per_user_cost");
    let adj = json!({"per_user_cost": "12.00",
                     "add_manual_assets": [{"hostname": "SW-1", "billing_type": "Switch"}]});
    let (s, dry) = app
        .post(
            "/ledger/api/contract/align",
            &billing,
            json!({"account_number": "810101", "adjustments": adj}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{dry}");
    assert_eq!(dry["dry_run"], true);
    let (_, still) = app
        .post(
            "/ledger/api/contract/verify",
            &billing,
            json!({"account_number": "810101", "terms": terms}),
        )
        .await;
    assert_eq!(still["aligned"], false, "a dry run changes nothing");
    let (s, done) = app
        .post(
            "/ledger/api/contract/align",
            &billing,
            json!({"account_number": "810101", "adjustments": adj, "dry_run": false}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["success"], true, "{done}");
    assert_eq!(done["changes_applied"], 2);
    let (_, ok) = app
        .post(
            "/ledger/api/contract/verify",
            &billing,
            json!({"account_number": "810101", "terms": terms}),
        )
        .await;
    assert_eq!(ok["aligned"], true, "{ok}");
    let (s, b) = app
        .post(
            "/ledger/api/contract/compare",
            &billing,
            json!({"account_number": "810101", "terms": {"bogus": 1}}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
});

// On generated data (varied plans, terms, devices, contacts and hours), every company's
// total is the same on the dashboard, the bill, the invoice CSV, the summary and the
// snapshot a bulk job stores.
both!(ledger_totals_agree_for_every_demo_company, |app| {
    let admin = app.admin().await;
    let args = hivematrix::demo::DemoArgs {
        companies: 12,
        contacts: 120,
        assets: 200,
        tickets: 400,
        seed: 7,
    };
    hivematrix::demo::generate(&app.db, &args).await.unwrap();
    let now = chrono::Utc::now();
    let q = format!(
        "year={}&month={}",
        chrono::Datelike::year(&now),
        chrono::Datelike::month(&now)
    );
    let (s, dash) = app
        .get(&format!("/ledger/api/billing/dashboard?{q}"), &admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{dash}");
    let rows = dash["companies"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 12, "no company vanishes");
    let (s, job) = app
        .post(
            "/ledger/archive/api/snapshots/bulk/create",
            &admin,
            json!({"year": chrono::Datelike::year(&now), "month": chrono::Datelike::month(&now)}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    hivematrix::ledger::jobs::run_queued(&app.db).await.unwrap();
    let mut job_done = Value::Null;
    for _ in 0..100 {
        let (_, j) = app
            .get(
                &format!("/ledger/archive/api/scheduler/jobs/{}", job["id"]),
                &admin,
            )
            .await;
        if j["status"] == "completed" {
            job_done = j;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(job_done["status"], "completed", "{job_done}");
    let mut priced = 0;
    for r in &rows {
        let acct = r["account_number"].as_str().unwrap();
        let (_, bill) = app
            .get(&format!("/ledger/api/billing/{acct}?{q}"), &admin)
            .await;
        assert_eq!(bill["total"], r["total_bill"], "{acct}");
        if r["error"].is_string() {
            continue;
        }
        priced += 1;
        let (_, _, csv) = raw(
            &app,
            &format!("/ledger/invoice/{acct}/download?{q}"),
            &admin,
        )
        .await;
        let csv = String::from_utf8(csv).unwrap();
        assert_eq!(
            csv_total(&csv).to_string(),
            r["total_bill"].as_str().unwrap(),
            "{acct}"
        );
        let (_, sum) = app
            .get(&format!("/ledger/api/invoice/{acct}/summary?{q}"), &admin)
            .await;
        assert_eq!(sum["total_amount"], r["total_bill"], "{acct}");
        let (_, snap) = app
            .get(
                &format!(
                    "/ledger/archive/api/snapshot/{}",
                    r["invoice_number"].as_str().unwrap()
                ),
                &admin,
            )
            .await;
        assert_eq!(snap["total_amount"], r["total_bill"], "{acct}");
        let (_, _, stored) = raw(
            &app,
            &format!("/ledger/archive/api/snapshots/{}/csv", snap["id"]),
            &admin,
        )
        .await;
        assert_eq!(String::from_utf8(stored).unwrap(), csv, "{acct}");
    }
    assert!(priced > 0, "the demo data prices some companies");
    assert_eq!(job_done["accepted"], priced);
});
