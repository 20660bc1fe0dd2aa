//! Company locations: CRUD, validation, company scoping, roles, legacy envelopes, audit.

use crate::both;
use crate::helpers::*;
use hivematrix::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const LIST: &str = "/codex/api/companies/700001/locations";

fn item(id: &Value) -> String {
    format!("{LIST}/{}", id.as_i64().expect("location id"))
}

/// Two companies, the first with two locations; returns (admin, first company, ids).
async fn setup(app: &TestApp) -> (Caller, Value, Vec<Value>) {
    let admin = app.admin().await;
    let own = app.company(&admin, "700001", "Loc Owner").await;
    app.company(&admin, "700002", "Other Co").await;
    let mut ids = vec![];
    for (name, addr) in [("Warehouse", "9 Dock Rd"), ("Branch Office", "2 High St")] {
        let (s, l) = app
            .post(LIST, &admin, json!({"name": name, "address": addr}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{l}");
        ids.push(l["id"].clone());
    }
    (admin, own, ids)
}

async fn header_total(app: &TestApp, path: &str, who: &Caller) -> String {
    let resp = app
        .client
        .get(app.url(path))
        .bearer_auth(&who.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .to_string()
}

both!(create_read_update_delete, |app| {
    let (_admin, _, _) = setup(&app).await;
    let tech = app.caller(Role::Technician, None).await;
    let (s, l) = app
        .post(
            LIST,
            &tech,
            json!({"name": "  HQ  ", "phone_number": "+1 (555) 010-2030"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    assert_eq!(l["name"], "HQ");
    assert_eq!(l["address"], Value::Null, "address is optional");
    assert_eq!(l["company_account_number"], "700001");

    let (s, got) = app.get(&item(&l["id"]), &tech).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["phone_number"], "+1 (555) 010-2030");

    // PUT patches: absent fields stay, "" clears.
    let (s, up) = app
        .put(
            &item(&l["id"]),
            &tech,
            json!({"address": "1 Main St", "phone_number": ""}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(
        (&up["name"], &up["address"], &up["phone_number"]),
        (&json!("HQ"), &json!("1 Main St"), &Value::Null)
    );
    let (s, up) = app
        .call(
            Method::PATCH,
            &item(&l["id"]),
            Some(&tech),
            Some(json!({"name": "Head Office"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(
        (&up["name"], &up["address"]),
        (&json!("Head Office"), &json!("1 Main St"))
    );

    let (s, _) = app.delete(&item(&l["id"]), &tech).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = app.get(&item(&l["id"]), &tech).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, b) = app.delete(&item(&l["id"]), &tech).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
});

both!(list_paginates_filters_and_sorts, |app| {
    let (admin, _, _) = setup(&app).await;
    let (s, list) = app.get(LIST, &admin).await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].clone())
        .collect();
    assert_eq!(names, [json!("Branch Office"), json!("Warehouse")]);
    assert_eq!(header_total(&app, LIST, &admin).await, "2");

    let (_, list) = app
        .get(&format!("{LIST}?sort=name&order=desc&limit=1"), &admin)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "Warehouse");
    assert_eq!(
        header_total(&app, &format!("{LIST}?limit=1"), &admin).await,
        "2"
    );

    let (_, list) = app.get(&format!("{LIST}?search=DOCK"), &admin).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "Warehouse");
    let (_, list) = app.get(&format!("{LIST}?search=%25"), &admin).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        0,
        "wildcards match literally"
    );

    let (s, b) = app.get(&format!("{LIST}?sort=address;drop"), &admin).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["sort"].is_string());
    let (s, b) = app.get(&format!("{LIST}?limit=5000"), &admin).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, other) = app
        .get("/codex/api/companies/700002/locations", &admin)
        .await;
    assert_eq!(other, json!([]));
});

both!(
    invalid_input_is_422_with_every_field_and_changes_nothing,
    |app| {
        let (admin, _, ids) = setup(&app).await;
        let (s, b) = app
            .post(
                LIST,
                &admin,
                json!({"address": "x".repeat(256), "phone_number": "call me"}),
            )
            .await;
        assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
        for f in ["name", "address", "phone_number"] {
            assert!(b["errors"][f].is_string(), "{f} missing in {b}");
        }
        let (s, b) = app
            .post(LIST, &admin, json!({"name": "x".repeat(151)}))
            .await;
        assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(b["errors"]["name"].is_string());
        let (s, b) = app
            .post(LIST, &admin, json!({"name": "A", "colour": "red"}))
            .await;
        assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);

        let (s, b) = app
            .put(
                &item(&ids[0]),
                &admin,
                json!({"name": "", "phone_number": "nope"}),
            )
            .await;
        assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(b["errors"]["name"].is_string() && b["errors"]["phone_number"].is_string());
        let (_, got) = app.get(&item(&ids[0]), &admin).await;
        assert_eq!(got["name"], "Warehouse", "unchanged");
        assert_eq!(
            header_total(&app, LIST, &admin).await,
            "2",
            "nothing created"
        );
    }
);

both!(other_companies_locations_are_not_found, |app| {
    let (admin, _, ids) = setup(&app).await;
    let elsewhere = format!(
        "/codex/api/companies/700002/locations/{}",
        ids[0].as_i64().unwrap()
    );
    let (s, b) = app.get(&elsewhere, &admin).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, b) = app.put(&elsewhere, &admin, json!({"name": "Hijack"})).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, b) = app.delete(&elsewhere, &admin).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (_, got) = app.get(&item(&ids[0]), &admin).await;
    assert_eq!(
        got["name"], "Warehouse",
        "untouched through the wrong company"
    );

    let (s, b) = app
        .get("/codex/api/companies/999999/locations", &admin)
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, b) = app
        .post(
            "/codex/api/companies/999999/locations",
            &admin,
            json!({"name": "X"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, b) = app.get(&format!("{LIST}/999999"), &admin).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
});

both!(roles_and_client_scope, |app| {
    let (_admin, own, ids) = setup(&app).await;
    let client = app.caller(Role::Client, own["id"].as_i64()).await;
    let (s, list) = app.get(LIST, &client).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (s, _) = app.get(&item(&ids[0]), &client).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app
        .get("/codex/api/companies/700002/locations", &client)
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);

    let billing = app.caller(Role::Billing, None).await;
    for who in [&client, &billing] {
        let (s, b) = app.post(LIST, who, json!({"name": "Mine"})).await;
        assert_problem(s, &b, StatusCode::FORBIDDEN);
        let (s, b) = app.put(&item(&ids[0]), who, json!({"name": "Mine"})).await;
        assert_problem(s, &b, StatusCode::FORBIDDEN);
        let (s, b) = app.delete(&item(&ids[0]), who).await;
        assert_problem(s, &b, StatusCode::FORBIDDEN);
    }
    let (s, b) = app.call(Method::GET, LIST, None, None).await;
    assert_problem(s, &b, StatusCode::UNAUTHORIZED);
    let (s, b) = app
        .call(Method::POST, LIST, None, Some(json!({"name": "X"})))
        .await;
    assert_problem(s, &b, StatusCode::UNAUTHORIZED);
    let (_, got) = app.get(&item(&ids[0]), &client).await;
    assert_eq!(got["name"], "Warehouse");
});

both!(legacy_envelopes, |app| {
    let (admin, own, _) = setup(&app).await;
    let legacy = "/codex/companies/700001/locations";
    let (s, b) = app.get(legacy, &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["success"], true);
    assert_eq!(b["locations"].as_array().unwrap().len(), 2);
    let first = &b["locations"][0];
    for f in ["id", "name", "address", "phone_number"] {
        assert!(first.get(f).is_some(), "{f} missing in {first}");
    }

    let (s, b) = app
        .post(
            legacy,
            &admin,
            json!({"name": "Annex", "address": "3 Side St", "phone_number": "555-0100"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["success"], true);
    assert_eq!(b["location"]["name"], "Annex");
    let id = b["location"]["id"].as_i64().unwrap();

    let client = app.caller(Role::Client, own["id"].as_i64()).await;
    let (s, b) = app.post(legacy, &client, json!({"name": "X"})).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
    let (s, b) = app
        .post(legacy, &admin, json!({"address": "no name"}))
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);

    let (s, b) = app.delete(&format!("{legacy}/{id}"), &admin).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"success": true})));
    let (s, b) = app
        .delete(&format!("/codex/companies/700002/locations/{id}"), &admin)
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    assert_eq!(header_total(&app, LIST, &admin).await, "2");
});

both!(writes_are_audited_with_before_and_after, |app| {
    let (admin, _, ids) = setup(&app).await;
    let (s, _) = app
        .put(&item(&ids[0]), &admin, json!({"name": "Depot"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.delete(&item(&ids[0]), &admin).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, log) = app
        .get(
            &format!("/codex/api/audit?entity=location&entity_id={}", ids[0]),
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let entries = log["entries"].as_array().unwrap();
    let actions: Vec<_> = entries.iter().map(|e| e["action"].clone()).collect();
    assert_eq!(actions, [json!("delete"), json!("update"), json!("create")]);
    assert_eq!(entries[0]["before"]["name"], "Depot");
    assert_eq!(entries[0]["after"], Value::Null);
    assert_eq!(entries[1]["before"]["name"], "Warehouse");
    assert_eq!(entries[1]["after"]["name"], "Depot");
    assert_eq!(entries[0]["actor_email"], json!(admin.email));
});

both!(bulk_reader_gets_many_companies_in_one_call, |app| {
    let (admin, own, _) = setup(&app).await;
    let other = app.company(&admin, "700003", "Third").await;
    let (s, _) = app
        .post(
            "/codex/api/companies/700003/locations",
            &admin,
            json!({"name": "Lab"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let ids = [own["id"].as_i64().unwrap(), other["id"].as_i64().unwrap()];
    let all = hivematrix::codex::locations::list_for_companies(&app.db, &ids)
        .await
        .unwrap();
    let got: Vec<_> = all
        .iter()
        .map(|l| (l.company_account_number.as_str(), l.name.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("700001", "Branch Office"),
            ("700001", "Warehouse"),
            ("700003", "Lab")
        ]
    );
    let none = hivematrix::codex::locations::list_for_companies(&app.db, &[])
        .await
        .unwrap();
    assert!(none.is_empty());
});
