//! Companies: CRUD, validation, hierarchy, roles, client scoping, audit.

use crate::both;
use crate::helpers::*;
use hivematrix::auth::Role;
use reqwest::StatusCode;
use serde_json::json;

both!(create_read_update_delete, |app| {
    let admin = app.admin().await;
    let (s, c) = app
        .post("/codex/api/companies", &admin, json!({
            "account_number": "100200", "name": "Acme Dental", "domains": ["acme.com", "ACME.com", "acme.org"],
            "compliance_level": "HIPAA", "billing_plan": "Professional", "contract_term_length": "1-Year",
            "contract_start_date": "2025-03-01", "company_main_number": "+1 555 010 2000",
            "datto_portal_url": "https://portal.example.com/site/1"
        }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["account_number"], "100200");
    assert_eq!(c["compliance_level"], "hipaa");
    assert_eq!(c["domain_list"], json!(["acme.com", "acme.org"]));
    assert_eq!(c["domains"], "[\"acme.com\",\"acme.org\"]");
    assert_eq!(c["contract_term_length"], "1 Year");
    assert_eq!(c["contract_end_date"], "2026-02-28");
    assert_eq!(c["plan_selected"], "Professional");
    let id = c["id"].as_i64().unwrap();

    let (s, got) = app.get("/codex/api/companies/100200", &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, c);

    let (s, up) = app
        .put(
            "/codex/api/companies/100200",
            &admin,
            json!({"description": "Two offices", "datto_portal_url": null}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(up["description"], "Two offices");
    assert!(up["datto_portal_url"].is_null());
    assert_eq!(up["name"], "Acme Dental", "untouched fields stay");
    assert_eq!(up["id"].as_i64().unwrap(), id, "row id is stable");

    let r = app
        .client
        .patch(app.url("/codex/api/companies/100200"))
        .bearer_auth(&admin.token)
        .json(&json!({"name": "Acme Dental Group"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let (s, legacy) = app
        .put(
            "/codex/companies/100200/update",
            &admin,
            json!({"support_level": "All Inclusive"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(legacy["success"], true);
    assert_eq!(legacy["company"]["support_level"], "All Inclusive");

    let (s, _) = app.delete("/codex/api/companies/100200", &admin).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, list) = app.get("/codex/api/companies", &admin).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        0,
        "deleted companies are hidden"
    );
    let (_, list) = app
        .get("/codex/api/companies?include_deleted=true", &admin)
        .await;
    assert_eq!(
        list[0]["id"].as_i64().unwrap(),
        id,
        "but kept, with the same id"
    );
    assert!(list[0]["deleted_at"].is_string());
});

both!(account_numbers_are_generated_and_unique, |app| {
    let admin = app.admin().await;
    let (s, c) = app
        .post(
            "/codex/api/companies",
            &admin,
            json!({"name": "No Number Ltd"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let acct = c["account_number"].as_str().unwrap();
    assert_eq!(acct.len(), 6);
    assert!(acct.chars().all(|ch| ch.is_ascii_digit()));

    let (s, b) = app
        .post(
            "/codex/api/companies",
            &admin,
            json!({"name": "Dup", "account_number": acct}),
        )
        .await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    let (s, b) = app
        .put(
            &format!("/codex/api/companies/{acct}"),
            &admin,
            json!({"account_number": "999999"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["account_number"].is_string());
});

both!(validation_reports_every_field_and_changes_nothing, |app| {
    let admin = app.admin().await;
    app.company(&admin, "100300", "Valid Co").await;
    let (s, b) = app
        .put(
            "/codex/api/companies/100300",
            &admin,
            json!({
                "name": "", "compliance_level": "secret", "domains": ["not a domain"],
                "contract_start_date": "31/12/2025", "company_main_number": "call us",
                "datto_portal_url": "javascript:alert(1)", "contract_term_length": "forever",
                "parent_account_number": "404404"
            }),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = b["errors"].as_object().unwrap();
    for f in [
        "name",
        "compliance_level",
        "domains",
        "contract_start_date",
        "company_main_number",
        "datto_portal_url",
        "contract_term_length",
        "parent_account_number",
    ] {
        assert!(errors.contains_key(f), "missing error for {f}: {b}");
    }
    let (_, c) = app.get("/codex/api/companies/100300", &admin).await;
    assert_eq!(c["name"], "Valid Co");
    assert_eq!(c["compliance_level"], "standard");
    let (s, b) = app
        .post(
            "/codex/api/companies",
            &admin,
            json!({"account_number": "bad number!", "name": "X"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = app
        .post(
            "/codex/api/companies",
            &admin,
            json!({"description": "no name"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["name"].is_string());
});

both!(hierarchy_links_parents_and_refuses_cycles, |app| {
    let admin = app.admin().await;
    app.company(&admin, "200001", "Parent Holdings").await;
    let (s, child) = app
        .post("/codex/api/companies", &admin, json!({"account_number": "200002", "name": "Child Clinic", "parent_account_number": "200001"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(child["parent_account_number"], "200001");
    let (_, kids) = app.get("/codex/api/companies?parent=200001", &admin).await;
    assert_eq!(kids.as_array().unwrap().len(), 1);
    let (s, b) = app
        .put(
            "/codex/api/companies/200001",
            &admin,
            json!({"parent_account_number": "200002"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = app
        .put(
            "/codex/api/companies/200001",
            &admin,
            json!({"parent_account_number": "200001"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
});

both!(list_filters_sorts_and_paginates, |app| {
    let admin = app.admin().await;
    for (acct, name, plan) in [
        ("300001", "Zeta 100% Labs", "Pro"),
        ("300002", "Alpha Dental", "Basic"),
        ("300003", "Mid_Town Law", "Pro"),
    ] {
        let (s, _) = app
            .post(
                "/codex/api/companies",
                &admin,
                json!({"account_number": acct, "name": name, "billing_plan": plan}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let r = app
        .client
        .get(app.url("/codex/api/companies?limit=2"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-total-count"], "3");
    assert!(r.headers()["link"].to_str().unwrap().contains("offset=2"));
    let page: serde_json::Value = r.json().await.unwrap();
    let names: Vec<_> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alpha Dental", "Mid_Town Law"]);

    let (_, desc) = app
        .get(
            "/codex/api/companies?sort=account_number&order=desc",
            &admin,
        )
        .await;
    assert_eq!(desc[0]["account_number"], "300003");
    let (_, pro) = app
        .get("/codex/api/companies?billing_plan=Pro", &admin)
        .await;
    assert_eq!(pro.as_array().unwrap().len(), 2);
    // Wildcards in the search text match literally.
    let (_, pct) = app.get("/codex/api/companies?search=100%25", &admin).await;
    assert_eq!(pct.as_array().unwrap().len(), 1);
    let (_, us) = app.get("/codex/api/companies?search=_", &admin).await;
    assert_eq!(us.as_array().unwrap().len(), 1, "{us}");
    let (s, b) = app.get("/codex/api/companies?sort=password", &admin).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = app.get("/codex/api/companies?limit=5000", &admin).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
});

both!(roles_and_client_scope, |app| {
    let admin = app.admin().await;
    let own = app.company(&admin, "400001", "Own Co").await;
    app.company(&admin, "400002", "Other Co").await;
    let tech = app.caller(Role::Technician, None).await;
    let billing = app.caller(Role::Billing, None).await;
    let client = app.caller(Role::Client, own["id"].as_i64()).await;

    let (s, _) = app
        .post("/codex/api/companies", &tech, json!({"name": "Tech Made"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    for who in [&billing, &client] {
        let (s, b) = app
            .post("/codex/api/companies", who, json!({"name": "Nope"}))
            .await;
        assert_problem(s, &b, StatusCode::FORBIDDEN);
        let (s, _) = app
            .put(
                "/codex/api/companies/400001",
                who,
                json!({"name": "Hacked"}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = app.delete("/codex/api/companies/400001", who).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    let (_, all) = app.get("/codex/api/companies", &billing).await;
    assert_eq!(all.as_array().unwrap().len(), 3);

    let (_, mine) = app.get("/codex/api/companies", &client).await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["account_number"], "400001");
    let (s, _) = app.get("/codex/api/companies/400001", &client).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app.get("/codex/api/companies/400002", &client).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (_, c) = app.get("/codex/api/companies/400001", &admin).await;
    assert_eq!(c["name"], "Own Co");
});

both!(every_write_is_audited_with_before_and_after, |app| {
    let admin = app.admin().await;
    app.company(&admin, "500001", "Audit Me").await;
    app.put(
        "/codex/api/companies/500001",
        &admin,
        json!({"name": "Audited"}),
    )
    .await;
    app.delete("/codex/api/companies/500001", &admin).await;
    let (s, log) = app
        .get("/codex/api/audit?entity=company&entity_id=500001", &admin)
        .await;
    assert_eq!(s, StatusCode::OK);
    let entries = log["entries"].as_array().unwrap();
    let actions: Vec<_> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["delete", "update", "create"]);
    assert_eq!(entries[1]["before"]["name"], "Audit Me");
    assert_eq!(entries[1]["after"]["name"], "Audited");
    assert_eq!(entries[1]["actor_email"], admin.email.as_str());
    assert!(entries[1]["correlation_id"].is_string());
    assert_eq!(log["total"], 3);
    let (_, by_actor) = app
        .get(
            &format!("/codex/api/audit?actor={}&action=update", admin.email),
            &admin,
        )
        .await;
    assert_eq!(by_actor["total"], 1);
    let (s, b) = app.get("/codex/api/audit?since=yesterday", &admin).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);

    let tech = app.caller(Role::Technician, None).await;
    let (s, b) = app.get("/codex/api/audit", &tech).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
});
