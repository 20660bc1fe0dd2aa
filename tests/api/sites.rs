//! RMM site links.

use crate::both;
use crate::helpers::*;
use hivematrix::auth::Role;
use reqwest::StatusCode;
use serde_json::json;

both!(link_list_and_unlink_sites, |app| {
    let admin = app.admin().await;
    let own = app.company(&admin, "600001", "Site Owner").await;
    app.company(&admin, "600002", "Other").await;
    let tech = app.caller(Role::Technician, None).await;
    let (s, link) = app
        .post(
            "/codex/api/companies/600001/rmm-sites",
            &tech,
            json!({"rmm_provider": "Datto", "rmm_site_uid": "site-abc", "rmm_site_name": "Main"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    assert_eq!(link["rmm_provider"], "datto");
    assert_eq!(link["company_account_number"], "600001");

    // A site belongs to one company.
    let (s, b) = app
        .post(
            "/codex/api/companies/600002/rmm-sites",
            &admin,
            json!({"rmm_provider": "datto", "rmm_site_uid": "site-abc"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    let (s, b) = app
        .post(
            "/codex/api/companies/600002/rmm-sites",
            &admin,
            json!({"rmm_provider": "kaseya", "rmm_site_uid": ""}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["rmm_provider"].is_string() && b["errors"]["rmm_site_uid"].is_string());

    let client = app.caller(Role::Client, own["id"].as_i64()).await;
    let (s, list) = app
        .get("/codex/api/companies/600001/rmm-sites", &client)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (s, _) = app
        .get("/codex/api/companies/600002/rmm-sites", &client)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .post(
            "/codex/api/companies/600001/rmm-sites",
            &client,
            json!({"rmm_provider": "datto", "rmm_site_uid": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let id = link["id"].as_i64().unwrap();
    let (s, _) = app
        .delete(
            &format!("/codex/api/companies/600002/rmm-sites/{id}"),
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "not that company's link");
    let (s, _) = app
        .delete(
            &format!("/codex/api/companies/600001/rmm-sites/{id}"),
            &tech,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, list) = app
        .get("/codex/api/companies/600001/rmm-sites", &admin)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 0);
    let (s, _) = app
        .get("/codex/api/companies/999999/rmm-sites", &admin)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
});
