//! The route × role table: every JSON route of the OpenAPI document, called by every
//! role and without a token. A role the route allows gets past the role check (any
//! answer but 401/403; a client reading its own company's data gets 2xx); a role it
//! refuses gets 403, or 404 where a client asks for another company's record (whose
//! existence is not revealed). A route missing from the table fails the test, so new
//! routes must state their rule here.

use crate::both;
use crate::helpers::*;
use hivematrix::auth::Role;
use hivematrix::sync::jobs;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// No login at all: the route has its own secret (webhooks) or reveals nothing.
    Public,
    /// Every signed-in user (their own settings, their own identity).
    Anyone,
    /// Staff; a client too, limited to its own company (lists are filtered).
    Scoped,
    /// Staff; a client gets 404 (the record is another company's).
    OtherCompany,
    /// Admin, technician and billing.
    Staff,
    /// Admin and technician (master data and tickets, sync status).
    Master,
    /// Admin and billing.
    Billing,
    Admin,
}

impl Rule {
    fn allows(self, role: Role) -> bool {
        match self {
            Rule::Public | Rule::Anyone | Rule::Scoped => true,
            Rule::OtherCompany | Rule::Staff => role != Role::Client,
            Rule::Master => matches!(role, Role::Admin | Role::Technician),
            Rule::Billing => matches!(role, Role::Admin | Role::Billing),
            Rule::Admin => role == Role::Admin,
        }
    }
}

/// (method, OpenAPI path, path as called, rule). Deletes come last so the records the
/// other rows use still exist.
#[rustfmt::skip]
fn table() -> Vec<(&'static str, &'static str, &'static str, Rule)> {
    use Rule::*;
    vec![
        ("GET", "/codex/api/my/settings", "/codex/api/my/settings", Anyone),
        ("GET", "/api/me", "/api/me", Anyone),
        ("PUT", "/codex/api/my/settings", "/codex/api/my/settings", Anyone),
        ("GET", "/codex/api/public/user/theme", "/codex/api/public/user/theme?email={me}", Anyone),
        ("GET", "/codex/api/public/user/home-page", "/codex/api/public/user/home-page?email={me}", Anyone),
        // Companies and what hangs off them.
        ("GET", "/codex/api/companies", "/codex/api/companies", Scoped),
        ("POST", "/codex/api/companies", "/codex/api/companies", Master),
        ("GET", "/codex/api/companies/bulk", "/codex/api/companies/bulk", Scoped),
        ("GET", "/codex/api/companies/{account_number}", "/codex/api/companies/{own}", Scoped),
        ("GET", "/codex/api/companies/{account_number}", "/codex/api/companies/{other}", OtherCompany),
        ("PUT", "/codex/api/companies/{account_number}", "/codex/api/companies/{own}", Master),
        ("GET", "/codex/api/companies/{account_number}/assets", "/codex/api/companies/{own}/assets", Scoped),
        ("GET", "/codex/api/companies/{account_number}/assets", "/codex/api/companies/{other}/assets", OtherCompany),
        ("GET", "/codex/api/companies/{account_number}/contacts", "/codex/api/companies/{own}/contacts", Scoped),
        ("GET", "/codex/api/companies/{account_number}/users", "/codex/api/companies/{own}/users", Scoped),
        ("GET", "/codex/api/companies/{account_number}/users", "/codex/api/companies/{other}/users", OtherCompany),
        ("GET", "/codex/api/companies/{account_number}/tickets", "/codex/api/companies/{own}/tickets", Scoped),
        ("GET", "/codex/api/companies/{account_number}/tickets", "/codex/api/companies/{other}/tickets", OtherCompany),
        ("GET", "/codex/api/companies/{account_number}/locations", "/codex/api/companies/{own}/locations", Scoped),
        ("POST", "/codex/api/companies/{account_number}/locations", "/codex/api/companies/{own}/locations", Master),
        ("GET", "/codex/api/companies/{account_number}/locations/{id}", "/codex/api/companies/{own}/locations/{loc_own}", Scoped),
        ("GET", "/codex/api/companies/{account_number}/locations/{id}", "/codex/api/companies/{other}/locations/{loc_other}", OtherCompany),
        ("PUT", "/codex/api/companies/{account_number}/locations/{id}", "/codex/api/companies/{own}/locations/{loc_own}", Master),
        ("PATCH", "/codex/api/companies/{account_number}/locations/{id}", "/codex/api/companies/{own}/locations/{loc_own}", Master),
        ("GET", "/codex/api/companies/{account_number}/rmm-sites", "/codex/api/companies/{own}/rmm-sites", Scoped),
        ("POST", "/codex/api/companies/{account_number}/rmm-sites", "/codex/api/companies/{own}/rmm-sites", Master),
        ("GET", "/codex/api/companies/{account_number}/feature-overrides", "/codex/api/companies/{own}/feature-overrides", Scoped),
        ("PUT", "/codex/api/companies/{account_number}/feature-overrides", "/codex/api/companies/{own}/feature-overrides", Billing),
        // Contacts.
        ("GET", "/codex/api/contacts", "/codex/api/contacts", Scoped),
        ("POST", "/codex/api/contacts", "/codex/api/contacts", Master),
        ("GET", "/codex/api/contacts/{id}", "/codex/api/contacts/{contact_own}", Scoped),
        ("GET", "/codex/api/contacts/{id}", "/codex/api/contacts/{contact_other}", OtherCompany),
        ("PUT", "/codex/api/contacts/{id}", "/codex/api/contacts/{contact_own}", Master),
        ("PATCH", "/codex/api/contacts/{id}", "/codex/api/contacts/{contact_own}", Master),
        // Assets and RMM devices.
        ("GET", "/codex/api/assets", "/codex/api/assets", Scoped),
        ("POST", "/codex/api/assets", "/codex/api/assets", Master),
        ("GET", "/codex/api/assets/{id}", "/codex/api/assets/{asset_own}", Scoped),
        ("GET", "/codex/api/assets/{id}", "/codex/api/assets/{asset_other}", OtherCompany),
        ("PUT", "/codex/api/assets/{id}", "/codex/api/assets/{asset_own}", Master),
        ("GET", "/codex/api/assets/{id}/contacts", "/codex/api/assets/{asset_own}/contacts", Scoped),
        ("PUT", "/codex/api/assets/{id}/contacts", "/codex/api/assets/{asset_own}/contacts", Master),
        ("GET", "/codex/api/rmm/devices", "/codex/api/rmm/devices", Scoped),
        ("GET", "/codex/api/rmm/device/{device_id}", "/codex/api/rmm/device/device-{asset_own}", Scoped),
        ("GET", "/codex/api/rmm/device/{device_id}", "/codex/api/rmm/device/device-{asset_other}", OtherCompany),
        // Tickets and PSA agents.
        ("GET", "/codex/api/tickets", "/codex/api/tickets", Scoped),
        ("POST", "/codex/api/tickets", "/codex/api/tickets", Master),
        ("GET", "/codex/api/tickets/active", "/codex/api/tickets/active", Staff),
        ("GET", "/codex/api/tickets/{id}", "/codex/api/tickets/{ticket_own}", Scoped),
        ("GET", "/codex/api/tickets/{id}", "/codex/api/tickets/{ticket_other}", OtherCompany),
        ("PUT", "/codex/api/tickets/{id}", "/codex/api/tickets/{ticket_own}", Master),
        ("GET", "/codex/api/ticket/{id}", "/codex/api/ticket/{ticket_ext_own}?source=manual", Scoped),
        ("GET", "/codex/api/ticket/{id}", "/codex/api/ticket/{ticket_ext_other}?source=manual", OtherCompany),
        ("POST", "/codex/api/ticket/{id}/update", "/codex/api/ticket/{ticket_own}/update", Master),
        ("GET", "/codex/api/psa/agents", "/codex/api/psa/agents", Staff),
        ("GET", "/codex/api/psa/config", "/codex/api/psa/config", Staff),
        ("GET", "/codex/api/psa/tickets", "/codex/api/psa/tickets", Scoped),
        // Billing plans, features, options.
        ("GET", "/codex/api/billing-plans", "/codex/api/billing-plans", Staff),
        ("POST", "/codex/api/billing-plans", "/codex/api/billing-plans", Billing),
        ("GET", "/codex/api/billing-plans/export", "/codex/api/billing-plans/export", Staff),
        ("POST", "/codex/api/billing-plans/import", "/codex/api/billing-plans/import?dry_run=true", Billing),
        ("GET", "/codex/api/billing-plans/{id}", "/codex/api/billing-plans/{plan}", Staff),
        ("PUT", "/codex/api/billing-plans/{id}", "/codex/api/billing-plans/{plan}", Billing),
        ("POST", "/codex/api/billing-plans/{id}/copy-terms", "/codex/api/billing-plans/{plan}/copy-terms", Billing),
        ("PUT", "/codex/api/billing-plans/{id}/features", "/codex/api/billing-plans/{plan}/features", Billing),
        ("GET", "/codex/api/billing-plans/{plan_name}/{term_length}", "/codex/api/billing-plans/Premium/1%20Year", Staff),
        ("GET", "/codex/billing-plans/api/plans", "/codex/billing-plans/api/plans", Staff),
        ("GET", "/codex/billing-plans/api/plans/{plan_name}/{term_length}", "/codex/billing-plans/api/plans/Premium/1%20Year", Staff),
        ("GET", "/codex/billing-plans/api/feature-options", "/codex/billing-plans/api/feature-options", Staff),
        ("GET", "/codex/billing-plans/api/feature-categories", "/codex/billing-plans/api/feature-categories", Staff),
        ("GET", "/codex/api/feature-options", "/codex/api/feature-options", Staff),
        ("POST", "/codex/api/feature-options", "/codex/api/feature-options", Billing),
        ("PUT", "/codex/api/feature-options/{id}", "/codex/api/feature-options/{option}", Billing),
        ("GET", "/codex/api/feature-categories", "/codex/api/feature-categories", Staff),
        ("POST", "/codex/api/feature-categories", "/codex/api/feature-categories", Billing),
        // Administration: users' settings, audit, sync.
        ("GET", "/codex/api/users/{id}/settings", "/codex/api/users/{user}/settings", Admin),
        ("PUT", "/codex/api/users/{id}/settings", "/codex/api/users/{user}/settings", Admin),
        ("GET", "/codex/api/audit", "/codex/api/audit", Admin),
        ("GET", "/codex/admin/sync-jobs", "/codex/admin/sync-jobs", Master),
        ("GET", "/codex/admin/sync-jobs/{id}", "/codex/admin/sync-jobs/{job}", Master),
        ("GET", "/codex/sync/status/{job_id}", "/codex/sync/status/{job}", Master),
        ("GET", "/codex/admin/sync-schedules", "/codex/admin/sync-schedules", Master),
        ("PUT", "/codex/admin/sync-schedules/{provider}/{kind}", "/codex/admin/sync-schedules/freshservice/tickets", Admin),
        ("GET", "/codex/api/sync/providers", "/codex/api/sync/providers", Admin),
        ("GET", "/codex/api/sync/providers/{side}/{provider}", "/codex/api/sync/providers/psa/freshservice", Admin),
        ("PUT", "/codex/api/sync/providers/{side}/{provider}", "/codex/api/sync/providers/psa/freshservice", Admin),
        ("POST", "/codex/sync/psa", "/codex/sync/psa", Admin),
        ("POST", "/codex/sync/tickets", "/codex/sync/tickets", Master),
        ("POST", "/codex/sync/rmm", "/codex/sync/rmm", Admin),
        ("POST", "/codex/sync/push-account-numbers", "/codex/sync/push-account-numbers", Admin),
        ("POST", "/codex/admin/sync-jobs/{id}/cancel", "/codex/admin/sync-jobs/{job}/cancel", Admin),
        // Beacon: the board JSON (staff, or a display token: see tests/api/beacon.rs),
        // settings, display tokens.
        ("GET", "/beacon/api/tickets/{view}", "/beacon/api/tickets/helpdesk", Staff),
        ("GET", "/beacon/api/settings", "/beacon/api/settings", Staff),
        ("PUT", "/beacon/api/settings", "/beacon/api/settings", Admin),
        ("GET", "/beacon/api/display-tokens", "/beacon/api/display-tokens", Admin),
        ("POST", "/beacon/api/display-tokens", "/beacon/api/display-tokens", Admin),
        // Webhooks: no user login; the sender proves itself with the webhook secret
        // (none is configured here, so the hook answers 503 to everyone).
        ("GET", "/codex/webhooks/health", "/codex/webhooks/health", Public),
        ("POST", "/codex/webhooks/freshservice/ticket", "/codex/webhooks/freshservice/ticket", Public),
        // Ledger: bills, invoices, exports, archive, overrides, rules, jobs, contracts.
        ("GET", "/ledger/api/billing/dashboard", "/ledger/api/billing/dashboard", Staff),
        ("GET", "/ledger/api/billing/{account_number}", "/ledger/api/billing/{own}", Staff),
        ("GET", "/ledger/api/plans", "/ledger/api/plans", Staff),
        ("GET", "/ledger/api/invoice/{account_number}/summary", "/ledger/api/invoice/{own}/summary", Billing),
        ("GET", "/ledger/invoice/{account_number}/download", "/ledger/invoice/{own}/download", Billing),
        ("GET", "/ledger/client/{account_number}/export/quickbooks", "/ledger/client/{own}/export/quickbooks", Billing),
        ("GET", "/ledger/invoices/bulk/download", "/ledger/invoices/bulk/download", Billing),
        ("POST", "/ledger/export/all_bills", "/ledger/export/all_bills", Billing),
        ("POST", "/ledger/api/bill/accept", "/ledger/api/bill/accept", Billing),
        ("GET", "/ledger/api/bill/check-archived/{account_number}", "/ledger/api/bill/check-archived/{own}", Billing),
        ("GET", "/ledger/archive/api/snapshots/search", "/ledger/archive/api/snapshots/search", Billing),
        ("GET", "/ledger/archive/api/snapshots/company/{account_number}", "/ledger/archive/api/snapshots/company/{own}", Billing),
        ("GET", "/ledger/archive/api/snapshot/{invoice_number}", "/ledger/archive/api/snapshot/{own}-202501", Billing),
        ("GET", "/ledger/archive/api/snapshot/{invoice_number}/csv", "/ledger/archive/api/snapshot/{own}-202501/csv", Billing),
        ("GET", "/ledger/archive/api/snapshots/{id}", "/ledger/archive/api/snapshots/999999", Billing),
        ("GET", "/ledger/archive/api/snapshots/{id}/csv", "/ledger/archive/api/snapshots/999999/csv", Billing),
        ("GET", "/ledger/archive/api/snapshots/{id}/verify", "/ledger/archive/api/snapshots/999999/verify", Billing),
        ("POST", "/ledger/archive/api/snapshots/{id}/void", "/ledger/archive/api/snapshots/999999/void", Billing),
        ("POST", "/ledger/archive/api/snapshots/bulk/create", "/ledger/archive/api/snapshots/bulk/create", Billing),
        ("GET", "/ledger/archive/api/scheduler/jobs", "/ledger/archive/api/scheduler/jobs", Billing),
        ("GET", "/ledger/archive/api/scheduler/jobs/{id}", "/ledger/archive/api/scheduler/jobs/999999", Billing),
        ("GET", "/ledger/archive/api/scheduler/config", "/ledger/archive/api/scheduler/config", Billing),
        ("POST", "/ledger/archive/api/scheduler/config", "/ledger/archive/api/scheduler/config", Billing),
        ("GET", "/ledger/api/overrides/client/{account_number}", "/ledger/api/overrides/client/{own}", Staff),
        ("PUT", "/ledger/api/overrides/client/{account_number}", "/ledger/api/overrides/client/{own}", Billing),
        ("GET", "/ledger/api/overrides/asset/{id}", "/ledger/api/overrides/asset/{asset_own}", Staff),
        ("PUT", "/ledger/api/overrides/asset/{id}", "/ledger/api/overrides/asset/{asset_own}", Billing),
        ("GET", "/ledger/api/overrides/user/{id}", "/ledger/api/overrides/user/{contact_own}", Staff),
        ("PUT", "/ledger/api/overrides/user/{id}", "/ledger/api/overrides/user/{contact_own}", Billing),
        ("GET", "/ledger/api/overrides/manual-assets/{account_number}", "/ledger/api/overrides/manual-assets/{own}", Staff),
        ("POST", "/ledger/api/overrides/manual-assets/{account_number}", "/ledger/api/overrides/manual-assets/{own}", Billing),
        ("PUT", "/ledger/api/overrides/manual-assets/{account_number}/{id}", "/ledger/api/overrides/manual-assets/{own}/999999", Billing),
        ("GET", "/ledger/api/overrides/manual-users/{account_number}", "/ledger/api/overrides/manual-users/{own}", Staff),
        ("POST", "/ledger/api/overrides/manual-users/{account_number}", "/ledger/api/overrides/manual-users/{own}", Billing),
        ("PUT", "/ledger/api/overrides/manual-users/{account_number}/{id}", "/ledger/api/overrides/manual-users/{own}/999999", Billing),
        ("GET", "/ledger/api/overrides/line-items/{account_number}", "/ledger/api/overrides/line-items/{own}", Staff),
        ("POST", "/ledger/api/overrides/line-items/{account_number}", "/ledger/api/overrides/line-items/{own}", Billing),
        ("PUT", "/ledger/api/overrides/line-items/{account_number}/{id}", "/ledger/api/overrides/line-items/{own}/999999", Billing),
        ("GET", "/ledger/api/overrides/features/{account_number}", "/ledger/api/overrides/features/{own}", Staff),
        ("PUT", "/ledger/api/overrides/features/{account_number}", "/ledger/api/overrides/features/{own}", Billing),
        ("GET", "/ledger/api/overrides/orphans", "/ledger/api/overrides/orphans", Staff),
        ("GET", "/ledger/api/classification-rules", "/ledger/api/classification-rules", Staff),
        ("PUT", "/ledger/api/classification-rules", "/ledger/api/classification-rules", Admin),
        ("GET", "/ledger/api/settings", "/ledger/api/settings", Staff),
        ("PUT", "/ledger/api/settings", "/ledger/api/settings", Billing),
        ("GET", "/ledger/api/contract/current-settings/{account_number}", "/ledger/api/contract/current-settings/{own}", Staff),
        ("POST", "/ledger/api/contract/compare", "/ledger/api/contract/compare", Staff),
        ("POST", "/ledger/api/contract/verify", "/ledger/api/contract/verify", Staff),
        ("POST", "/ledger/api/contract/align", "/ledger/api/contract/align", Billing),
        // Deletes, on records no later row needs.
        ("DELETE", "/ledger/api/overrides/client/{account_number}", "/ledger/api/overrides/client/{own}", Billing),
        ("DELETE", "/ledger/api/overrides/asset/{id}", "/ledger/api/overrides/asset/{asset_own}", Billing),
        ("DELETE", "/ledger/api/overrides/user/{id}", "/ledger/api/overrides/user/{contact_own}", Billing),
        ("DELETE", "/ledger/api/overrides/manual-assets/{account_number}/{id}", "/ledger/api/overrides/manual-assets/{own}/999999", Billing),
        ("DELETE", "/ledger/api/overrides/manual-users/{account_number}/{id}", "/ledger/api/overrides/manual-users/{own}/999999", Billing),
        ("DELETE", "/ledger/api/overrides/line-items/{account_number}/{id}", "/ledger/api/overrides/line-items/{own}/999999", Billing),
        ("DELETE", "/ledger/api/overrides/features/{account_number}/{feature_type}", "/ledger/api/overrides/features/{own}/antivirus", Billing),
        ("DELETE", "/codex/api/companies/{account_number}/locations/{id}", "/codex/api/companies/{other}/locations/{loc_other}", Master),
        ("DELETE", "/codex/api/companies/{account_number}/rmm-sites/{id}", "/codex/api/companies/{other}/rmm-sites/{site_other}", Master),
        ("DELETE", "/codex/api/contacts/{id}", "/codex/api/contacts/{contact_other}", Master),
        ("DELETE", "/codex/api/assets/{id}", "/codex/api/assets/{asset_other}", Master),
        ("DELETE", "/codex/api/feature-options/{id}", "/codex/api/feature-options/{option}", Billing),
        ("DELETE", "/codex/api/billing-plans/{id}", "/codex/api/billing-plans/{plan}", Billing),
        ("DELETE", "/codex/api/companies/{account_number}", "/codex/api/companies/{other}", Master),
        ("DELETE", "/codex/api/sync/providers/{side}/{provider}", "/codex/api/sync/providers/rmm/datto", Admin),
        ("DELETE", "/beacon/api/display-tokens/{id}", "/beacon/api/display-tokens/{display_id}", Admin),
    ]
}

fn id(v: &Value) -> String {
    v["id"].as_i64().expect("id").to_string()
}

/// Two companies with a location, contact, asset, ticket and site link each; a plan,
/// a feature option and a queued sync job.
async fn records(app: &TestApp, admin: &Caller) -> HashMap<&'static str, String> {
    let mut r = HashMap::new();
    for (key, acct) in [("own", "810001"), ("other", "810002")] {
        let c = app.company(admin, acct, &format!("Company {acct}")).await;
        r.insert(key, acct.to_string());
        r.insert(if key == "own" { "own_id" } else { "other_id" }, id(&c));
        let post = |path: String, body: Value| async move {
            let (s, b) = app.post(&path, admin, body).await;
            assert!(s.is_success(), "{path}: {s} {b}");
            b
        };
        let loc = post(
            format!("/codex/api/companies/{acct}/locations"),
            json!({"name": "HQ", "address": "1 Main St"}),
        )
        .await;
        let person = post(
            "/codex/api/contacts".into(),
            json!({"email": format!("p{acct}@example.com"), "first_name": "Pat", "company_account_numbers": [acct]}),
        )
        .await;
        let asset = post(
            "/codex/api/assets".into(),
            json!({"company_account_number": acct, "hostname": format!("WS-{acct}")}),
        )
        .await;
        let ticket = post(
            "/codex/api/tickets".into(),
            json!({"subject": "Printer", "company_account_number": acct}),
        )
        .await;
        let site = post(
            format!("/codex/api/companies/{acct}/rmm-sites"),
            json!({"rmm_provider": "datto", "rmm_site_uid": format!("site-{acct}")}),
        )
        .await;
        let own = key == "own";
        r.insert(if own { "loc_own" } else { "loc_other" }, id(&loc));
        r.insert(
            if own { "contact_own" } else { "contact_other" },
            id(&person),
        );
        r.insert(if own { "asset_own" } else { "asset_other" }, id(&asset));
        r.insert(if own { "ticket_own" } else { "ticket_other" }, id(&ticket));
        r.insert(
            if own {
                "ticket_ext_own"
            } else {
                "ticket_ext_other"
            },
            ticket["external_id"]
                .as_str()
                .expect("external id")
                .to_string(),
        );
        r.insert(if own { "site_own" } else { "site_other" }, id(&site));
    }
    let (s, plan) = app
        .post(
            "/codex/api/billing-plans",
            admin,
            json!({"plan_name": "Premium", "term_length": "1 Year", "per_user_cost": "12.50"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    r.insert("plan", id(&plan));
    let (s, option) = app
        .post(
            "/codex/api/feature-options",
            admin,
            json!({"feature_category": "antivirus", "option_value": "EDR"}),
        )
        .await;
    assert!(s.is_success(), "{option}");
    r.insert("option", id(&option));
    let job = jobs::enqueue(
        &app.db,
        &jobs::NewJob {
            provider: "freshservice",
            kind: "base",
            triggered_by: "manual",
            full_sync: false,
            requested_by: None,
        },
    )
    .await
    .unwrap();
    r.insert("job", job.id.to_string());
    r.insert("user", admin.user_id.to_string());
    let (s, display) = app
        .post(
            "/beacon/api/display-tokens",
            admin,
            json!({"name": "Wall screen"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{display}");
    r.insert("display_id", id(&display));
    r.insert(
        "display",
        display["token"].as_str().expect("token").to_string(),
    );
    r
}

fn fill(template: &str, records: &HashMap<&'static str, String>, me: &str) -> String {
    let mut out = template.replace("{me}", me);
    for (k, v) in records {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    assert!(!out.contains('{'), "unfilled placeholder in {out}");
    out
}

both!(every_route_enforces_its_role_rule, |app| {
    let admin = app.admin().await;
    let records = records(&app, &admin).await;
    let own_id: i64 = records["own_id"].parse().unwrap();
    let callers = [
        (Role::Client, app.caller(Role::Client, Some(own_id)).await),
        (Role::Billing, app.caller(Role::Billing, None).await),
        (Role::Technician, app.caller(Role::Technician, None).await),
        (Role::Admin, admin),
    ];

    // Every documented route has a rule.
    let (_, doc) = app.get("/openapi.json", &callers[3].1).await;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let covered: BTreeSet<(String, String)> = table()
        .iter()
        .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "routes without a role rule: {missing:?}"
    );

    let mut wrong = Vec::new();
    for (method, _, template, rule) in table() {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let body = (m != Method::GET && m != Method::DELETE).then(|| json!({}));
        let anon_path = fill(template, &records, "nobody@example.com");
        let (s, _) = app.call(m.clone(), &anon_path, None, body.clone()).await;
        let anon_ok = match rule {
            Rule::Public => s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN,
            _ => s == StatusCode::UNAUTHORIZED,
        };
        if !anon_ok {
            wrong.push(format!("{method} {anon_path} without a token: {s}"));
        }
        for (role, who) in &callers {
            let path = fill(template, &records, &who.email);
            let (s, b) = app.call(m.clone(), &path, Some(who), body.clone()).await;
            let ok = if rule.allows(*role) {
                let own_read = *role == Role::Client && m == Method::GET && rule == Rule::Scoped;
                if own_read {
                    s.is_success()
                } else {
                    s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN
                }
            } else if *role == Role::Client && rule == Rule::OtherCompany {
                s == StatusCode::NOT_FOUND
            } else {
                s == StatusCode::FORBIDDEN || (*role == Role::Client && s == StatusCode::NOT_FOUND)
            };
            if !ok {
                wrong.push(format!("{method} {path} as {role} ({rule:?}): {s} {b}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
});

/// The page routes (HTML) and their rules: (method, path as registered, path as called,
/// rule). `hivematrix::web::page_routes()` lists every page route; one missing here
/// fails the test.
#[rustfmt::skip]
fn page_table() -> Vec<(&'static str, &'static str, &'static str, Rule)> {
    use Rule::*;
    vec![
        ("GET", "/", "/", Anyone),
        ("GET", "/settings", "/settings", Anyone),
        ("POST", "/settings", "/settings", Anyone),
        ("POST", "/settings/theme", "/settings/theme", Anyone),
        ("GET", "/codex", "/codex", Scoped),
        ("GET", "/codex/audit", "/codex/audit", Admin),
        ("GET", "/codex/admin/sync", "/codex/admin/sync", Admin),
        ("GET", "/codex/admin/sync/panel", "/codex/admin/sync/panel", Admin),
        ("POST", "/codex/admin/sync/run", "/codex/admin/sync/run", Admin),
        ("GET", "/codex/admin/sync/jobs/{id}", "/codex/admin/sync/jobs/1", Admin),
        ("POST", "/codex/admin/sync/providers/{side}/{provider}", "/codex/admin/sync/providers/psa/freshservice", Admin),
        ("POST", "/codex/admin/sync/providers/{side}/{provider}/remove", "/codex/admin/sync/providers/psa/freshservice/remove", Admin),
        ("POST", "/codex/admin/sync/schedules/{provider}/{kind}", "/codex/admin/sync/schedules/freshservice/tickets", Admin),
        ("GET", "/ledger", "/ledger", Staff),
        ("POST", "/ledger/accept-all", "/ledger/accept-all", Billing),
        ("GET", "/ledger/jobs/{id}/progress", "/ledger/jobs/1/progress", Billing),
        ("GET", "/ledger/quickbooks", "/ledger/quickbooks", Billing),
        ("GET", "/ledger/client/{account}", "/ledger/client/{own}", Staff),
        ("POST", "/ledger/client/{account}/accept", "/ledger/client/{own}/accept", Billing),
        ("POST", "/ledger/client/{account}/overrides", "/ledger/client/{own}/overrides", Billing),
        ("POST", "/ledger/client/{account}/entity-override", "/ledger/client/{own}/entity-override", Billing),
        ("POST", "/ledger/client/{account}/manual/{kind}", "/ledger/client/{own}/manual/assets", Billing),
        ("POST", "/ledger/client/{account}/line-items", "/ledger/client/{own}/line-items", Billing),
        ("POST", "/ledger/client/{account}/remove", "/ledger/client/{own}/remove", Billing),
        ("GET", "/ledger/archive", "/ledger/archive", Billing),
        ("GET", "/ledger/archive/{id}", "/ledger/archive/1", Billing),
        ("POST", "/ledger/archive/{id}/void", "/ledger/archive/1/void", Billing),
        ("POST", "/ledger/archive/{id}/reissue", "/ledger/archive/1/reissue", Billing),
        ("GET", "/beacon", "/beacon", Staff),
        ("GET", "/beacon/helpdesk", "/beacon/helpdesk", Staff),
        ("GET", "/beacon/professional-services", "/beacon/professional-services", Staff),
        ("GET", "/beacon/helpdesk/board", "/beacon/helpdesk/board", Staff),
        ("GET", "/beacon/professional-services/board", "/beacon/professional-services/board", Staff),
        ("GET", "/beacon/tickets/{source}/{id}", "/beacon/tickets/manual/{ticket_ext_own}", Staff),
        ("POST", "/beacon/sync", "/beacon/sync", Master),
        ("GET", "/beacon/sync/progress", "/beacon/sync/progress?jobs={job}", Master),
        // Wall screens: no login, but a display token (without one: 401).
        ("GET", "/beacon/display", "/beacon/display?token={display}", Public),
        ("GET", "/beacon/display/{view}", "/beacon/display/helpdesk?token={display}", Public),
        ("GET", "/beacon/display/{view}/board", "/beacon/display/helpdesk/board?token={display}", Public),
        ("GET", "/beacon/settings", "/beacon/settings", Admin),
        ("POST", "/beacon/settings", "/beacon/settings", Admin),
        ("POST", "/beacon/settings/display-tokens", "/beacon/settings/display-tokens", Admin),
        // Last: it revokes the display token the rows above use.
        ("POST", "/beacon/settings/display-tokens/{id}/revoke", "/beacon/settings/display-tokens/{display_id}/revoke", Admin),
        ("GET", "/search", "/search?q=Company", Scoped),
        ("GET", "/codex/companies", "/codex/companies", Scoped),
        ("GET", "/codex/companies/new", "/codex/companies/new", Master),
        ("POST", "/codex/companies/new", "/codex/companies/new", Master),
        ("GET", "/codex/companies/{account_number}", "/codex/companies/{own}", Scoped),
        ("GET", "/codex/companies/{account_number}/tabs/{tab}", "/codex/companies/{own}/tabs/contacts", Scoped),
        ("GET", "/codex/companies/{account_number}/edit", "/codex/companies/{own}/edit", Master),
        ("POST", "/codex/companies/{account_number}/edit", "/codex/companies/{own}/edit", Master),
        ("POST", "/codex/companies/{account_number}/features", "/codex/companies/{own}/features", Billing),
        ("GET", "/codex/contacts", "/codex/contacts", Scoped),
        ("GET", "/codex/contacts/new", "/codex/contacts/new", Master),
        ("POST", "/codex/contacts/new", "/codex/contacts/new", Master),
        ("GET", "/codex/contacts/{id}", "/codex/contacts/{contact_own}", Scoped),
        ("GET", "/codex/contacts/{id}/edit", "/codex/contacts/{contact_own}/edit", Master),
        ("POST", "/codex/contacts/{id}/edit", "/codex/contacts/{contact_own}/edit", Master),
        ("GET", "/codex/assets", "/codex/assets", Scoped),
        ("GET", "/codex/assets/new", "/codex/assets/new", Master),
        ("POST", "/codex/assets/new", "/codex/assets/new", Master),
        ("GET", "/codex/assets/{id}", "/codex/assets/{asset_own}", Scoped),
        ("GET", "/codex/assets/{id}/edit", "/codex/assets/{asset_own}/edit", Master),
        ("POST", "/codex/assets/{id}/contacts", "/codex/assets/{asset_own}/contacts", Master),
        ("POST", "/codex/assets/{id}/edit", "/codex/assets/{asset_own}/edit", Master),
        ("GET", "/codex/billing-plans", "/codex/billing-plans", Staff),
        ("POST", "/codex/billing-plans/import", "/codex/billing-plans/import", Billing),
        ("GET", "/admin/users", "/admin/users", Admin),
        ("POST", "/admin/users/new", "/admin/users/new", Admin),
        ("POST", "/admin/users/{id}/role", "/admin/users/{user}/role", Admin),
        ("POST", "/admin/users/{id}/enable", "/admin/users/{user}/enable", Admin),
        ("POST", "/admin/users/{id}/password", "/admin/users/{user}/password", Admin),
        // The admin's own account: refused with a message, never disabled.
        ("POST", "/admin/users/{id}/disable", "/admin/users/{user}/disable", Admin),
        ("GET", "/settings/tokens", "/settings/tokens", Anyone),
        ("POST", "/settings/tokens/new", "/settings/tokens/new", Anyone),
        ("POST", "/settings/tokens/{id}/revoke", "/settings/tokens/999999/revoke", Anyone),
        // Deletes last: the rows above still need the records.
        ("POST", "/codex/assets/{id}/delete", "/codex/assets/{asset_own}/delete", Master),
        ("POST", "/codex/contacts/{id}/delete", "/codex/contacts/{contact_own}/delete", Master),
        ("POST", "/codex/companies/{account_number}/delete", "/codex/companies/{own}/delete", Master),
    ]
}

both!(every_page_enforces_its_role_rule, |app| {
    use hivematrix::web::Access;
    let admin = app.admin().await;
    let records = records(&app, &admin).await;
    let own_id: i64 = records["own_id"].parse().unwrap();
    let callers = [
        (Role::Client, app.caller(Role::Client, Some(own_id)).await),
        (Role::Billing, app.caller(Role::Billing, None).await),
        (Role::Technician, app.caller(Role::Technician, None).await),
        (Role::Admin, admin),
    ];
    let table = page_table();
    let mut wrong = Vec::new();
    // The registry and the table agree, rule for rule.
    for r in hivematrix::web::page_routes() {
        let expected = table
            .iter()
            .find(|(m, p, _, _)| *m == r.method && *p == r.path)
            .map(|row| row.3);
        let registered = match r.access {
            Access::Public => Rule::Public,
            Access::Anyone => Rule::Anyone,
            Access::Scoped => Rule::Scoped,
            Access::Staff => Rule::Staff,
            Access::Master => Rule::Master,
            Access::Billing => Rule::Billing,
            Access::Admin => Rule::Admin,
        };
        if expected != Some(registered) {
            wrong.push(format!(
                "{} {}: registered {registered:?}, table {expected:?}",
                r.method, r.path
            ));
        }
    }
    let html = |m: &str, path: &str, token: Option<&str>| {
        let m = Method::from_bytes(m.as_bytes()).unwrap();
        let mut req = app
            .client
            .request(m.clone(), app.url(path))
            .header("accept", "text/html");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if m == Method::POST {
            req = req.form(&[("x", "")]);
        }
        async move { req.send().await.expect("request").status() }
    };
    for (method, _, template, rule) in &table {
        let path = fill(template, &records, "nobody@example.com");
        let s = html(method, &path, None).await;
        let anon_ok = match (rule, *method) {
            (Rule::Public, _) => s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN,
            // Browsers are sent to the login page; posts without a session get 401.
            (_, "GET") => s == StatusCode::SEE_OTHER,
            _ => s == StatusCode::UNAUTHORIZED,
        };
        if !anon_ok {
            wrong.push(format!("{method} {path} without a login: {s}"));
        }
        for (role, who) in &callers {
            let s = html(method, &path, Some(&who.token)).await;
            let ok = if rule.allows(*role) {
                s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN && !s.is_server_error()
            } else {
                s == StatusCode::FORBIDDEN
            };
            if !ok {
                wrong.push(format!("{method} {path} as {role} ({rule:?}): {s}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
});
