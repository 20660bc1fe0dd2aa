//! Contacts: CRUD, validation, company and asset links, per-company lists, search and
//! pagination, roles and client scoping, legacy envelopes, and the sync API.

use crate::both;
use crate::helpers::*;
use hivematrix::auth::Role;
use hivematrix::codex::contacts::{self, ContactUpsert};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;

/// GET returning the body and the `X-Total-Count` / `Link` headers.
async fn get_paged(app: &TestApp, path: &str, who: &Caller) -> (Value, i64, Option<String>) {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(&who.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    let total = r.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let link = r
        .headers()
        .get("link")
        .map(|l| l.to_str().unwrap().to_string());
    (r.json().await.unwrap(), total, link)
}

async fn contact(app: &TestApp, who: &Caller, body: Value) -> Value {
    let (s, c) = app.post("/codex/api/contacts", who, body).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    c
}

async fn count_contacts(app: &TestApp) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM contacts")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

/// An asset row straight in the table (the assets API is another module's).
async fn asset(app: &TestApp, company_id: i64, hostname: &str) -> i64 {
    sqlx::query(
        "INSERT INTO assets (company_id, hostname, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id",
    )
    .bind(company_id)
    .bind(hostname)
    .bind(hivematrix::time::now_db())
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
    .try_get(0)
    .unwrap()
}

fn accounts(c: &Value) -> Vec<(String, bool)> {
    c["companies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["account_number"].as_str().unwrap().to_string(),
                l["is_primary"].as_bool().unwrap(),
            )
        })
        .collect()
}

both!(create_read_update_delete, |app| {
    let admin = app.admin().await;
    app.company(&admin, "700001", "Acme").await;
    let c = contact(
        &app,
        &admin,
        json!({
            "first_name": "Ann", "last_name": "Lee", "email": "Ann.Lee@Acme.com",
            "secondary_emails": "ann@home.org, ANN@home.org", "title": "Office Manager",
            "mobile_phone_number": "+1 555 010 1000", "company_account_numbers": ["700001"]
        }),
    )
    .await;
    assert_eq!(c["name"], "Ann Lee", "derived from first and last");
    assert_eq!(c["email"], "ann.lee@acme.com");
    assert_eq!(c["primary_email"], "ann.lee@acme.com");
    assert_eq!(c["secondary_emails"], json!(["ann@home.org"]));
    assert_eq!(c["job_title"], "Office Manager");
    assert_eq!(c["title"], "Office Manager");
    assert_eq!(c["employment_type"], "Full Time");
    assert_eq!(c["active"], true);
    assert_eq!(accounts(&c), vec![("700001".to_string(), true)]);
    let id = c["id"].as_i64().unwrap();
    let path = format!("/codex/api/contacts/{id}");

    let (s, got) = app.get(&path, &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, c);

    let (s, up) = app
        .put(
            &path,
            &admin,
            json!({"last_name": "Lee-Smith", "mobile_phone_number": null, "vip_user": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(
        up["name"], "Ann Lee-Smith",
        "a derived name follows the parts"
    );
    assert!(up["mobile_phone_number"].is_null());
    assert_eq!(up["vip_user"], true);
    assert_eq!(
        accounts(&up),
        vec![("700001".to_string(), true)],
        "links stay when not sent"
    );

    let (s, up) = app
        .call(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"name": "Annie"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(up["name"], "Annie");
    let (_, up) = app.put(&path, &admin, json!({"first_name": "Anne"})).await;
    assert_eq!(up["name"], "Annie", "a chosen name is kept");

    let (s, _) = app.delete(&path, &admin).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, gone) = app.get(&path, &admin).await;
    assert!(gone["deleted_at"].is_string());
    assert_eq!(gone["active"], false);
    assert_eq!(gone["id"].as_i64(), Some(id), "row id is stable");
    let (list, total, _) =
        get_paged(&app, "/codex/api/contacts?include_inactive=true", &admin).await;
    assert_eq!((total, list.as_array().unwrap().len()), (0, 0));
    let (list, _, _) = get_paged(
        &app,
        "/codex/api/contacts?include_inactive=true&include_deleted=true",
        &admin,
    )
    .await;
    assert_eq!(list[0]["id"].as_i64(), Some(id));

    let (_, back) = app.put(&path, &admin, json!({"active": true})).await;
    assert!(back["deleted_at"].is_null(), "active: true restores");
    let (s, b) = app.get("/codex/api/contacts/999999", &admin).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, b) = app
        .put("/codex/api/contacts/999999", &admin, json!({"name": "x"}))
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, b) = app.delete("/codex/api/contacts/999999", &admin).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);

    let (s, audit) = app
        .get(
            &format!("/codex/api/audit?entity=contact&entity_id={id}"),
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        audit["total"], 6,
        "create, 3 updates, delete, restore: {audit}"
    );
});

both!(name_falls_back_to_the_email_local_part, |app| {
    let admin = app.admin().await;
    let c = contact(&app, &admin, json!({"email": "frontdesk@clinic.org"})).await;
    assert_eq!(c["name"], "frontdesk");
    assert_eq!(c["companies"], json!([]));
});

both!(validation_reports_every_field_and_changes_nothing, |app| {
    let admin = app.admin().await;
    let co = app.company(&admin, "700010", "Valid Co").await;
    let (s, b) = app
        .post(
            "/codex/api/contacts",
            &admin,
            json!({
                "email": "not-an-email", "mobile_phone_number": "call me",
                "secondary_emails": ["ok@x.com", "bad"], "company_account_numbers": ["700010", "NOPE1", "NOPE2"],
                "asset_ids": [424242]
            }),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let e = &b["errors"];
    for f in [
        "email",
        "mobile_phone_number",
        "secondary_emails",
        "company_account_numbers",
        "asset_ids",
    ] {
        assert!(e[f].is_string(), "missing error for {f}: {b}");
    }
    let companies_msg = e["company_account_numbers"].as_str().unwrap();
    assert!(
        companies_msg.contains("NOPE1")
            && companies_msg.contains("NOPE2")
            && !companies_msg.contains("700010")
    );
    assert!(e["asset_ids"].as_str().unwrap().contains("424242"));
    assert_eq!(count_contacts(&app).await, 0, "nothing created");

    let (s, b) = app
        .post(
            "/codex/api/contacts",
            &admin,
            json!({"first_name": "No Mail"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["errors"]["email"], "is required");
    let (s, b) = app
        .post(
            "/codex/api/contacts",
            &admin,
            json!({"email": "a@x.com", "colour": "red"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);

    let c = contact(
        &app,
        &admin,
        json!({"email": "keep@x.com", "company_account_numbers": ["700010"]}),
    )
    .await;
    let path = format!("/codex/api/contacts/{}", c["id"]);
    let (s, b) = app
        .put(
            &path,
            &admin,
            json!({"email": "broken", "name": "Changed", "company_account_numbers": ["MISSING"],
                   "primary_company": "700010"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["email"].is_string() && b["errors"]["company_account_numbers"].is_string());
    let (_, after) = app.get(&path, &admin).await;
    assert_eq!(after, c, "a rejected update changes nothing");
    assert_eq!(after["companies"][0]["company_id"], co["id"]);

    let (s, b) = app
        .put(
            &path,
            &admin,
            json!({"email": "a@x.com", "primary_email": "b@x.com"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["primary_email"].is_string());
    let (s, b) = app.get("/codex/api/contacts?sort=password", &admin).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = app.get("/codex/api/contacts?limit=5000", &admin).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
});

both!(duplicate_email_is_a_conflict, |app| {
    let admin = app.admin().await;
    contact(&app, &admin, json!({"email": "dup@x.com"})).await;
    let (s, b) = app
        .post(
            "/codex/api/contacts",
            &admin,
            json!({"email": " DUP@X.com "}),
        )
        .await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    assert_eq!(count_contacts(&app).await, 1);
    let other = contact(&app, &admin, json!({"email": "other@x.com"})).await;
    let path = format!("/codex/api/contacts/{}", other["id"]);
    let (s, b) = app.put(&path, &admin, json!({"email": "Dup@x.com"})).await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    let (_, same) = app.get(&path, &admin).await;
    assert_eq!(same["email"], "other@x.com");
    let (s, _) = app
        .put(&path, &admin, json!({"email": "OTHER@x.com"}))
        .await;
    assert_eq!(s, StatusCode::OK, "its own address is not a duplicate");
});

both!(company_links_are_replaced_and_one_is_primary, |app| {
    let admin = app.admin().await;
    for (a, n) in [("710001", "Alpha"), ("710002", "Beta"), ("710003", "Gamma")] {
        app.company(&admin, a, n).await;
    }
    let c = contact(
        &app,
        &admin,
        json!({"email": "multi@x.com", "company_account_numbers": ["710001", "710002", "710001"],
               "primary_company": "710002"}),
    )
    .await;
    assert_eq!(
        accounts(&c),
        vec![("710002".into(), true), ("710001".into(), false)],
        "deduplicated, primary first"
    );
    let path = format!("/codex/api/contacts/{}", c["id"]);

    let (s, up) = app
        .put(
            &path,
            &admin,
            json!({"company_account_numbers": ["710003", "710001"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(
        accounts(&up),
        vec![("710003".into(), true), ("710001".into(), false)],
        "the old primary left the set, so the first listed is primary"
    );
    let (_, up) = app
        .put(&path, &admin, json!({"primary_company": "710001"}))
        .await;
    assert_eq!(
        accounts(&up),
        vec![("710001".into(), true), ("710003".into(), false)]
    );
    let (_, up) = app
        .put(
            &path,
            &admin,
            json!({"company_account_numbers": ["710003", "710001"]}),
        )
        .await;
    assert_eq!(
        accounts(&up)[0],
        ("710001".into(), true),
        "a primary still in the set stays primary"
    );
    let (s, b) = app
        .put(&path, &admin, json!({"primary_company": "710002"}))
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["primary_company"].is_string());
    let (_, up) = app
        .put(&path, &admin, json!({"primary_company": null}))
        .await;
    assert!(accounts(&up).iter().all(|(_, p)| !p), "primary cleared");

    let (list, total, _) = get_paged(&app, "/codex/api/contacts?company=710003", &admin).await;
    assert_eq!((total, list[0]["email"].clone()), (1, json!("multi@x.com")));
    let (_, total, _) = get_paged(&app, "/codex/api/contacts?company=710002", &admin).await;
    assert_eq!(total, 0);

    let (_, up) = app
        .put(&path, &admin, json!({"company_account_numbers": []}))
        .await;
    assert_eq!(up["companies"], json!([]));
});

both!(asset_links_are_replaced, |app| {
    let admin = app.admin().await;
    let co = app.company(&admin, "720001", "Assets Inc").await;
    let co_id = co["id"].as_i64().unwrap();
    let (a1, a2) = (
        asset(&app, co_id, "WS-01").await,
        asset(&app, co_id, "WS-02").await,
    );
    let c = contact(
        &app,
        &admin,
        json!({"email": "user@assets.com", "asset_ids": [a2, a1, a2]}),
    )
    .await;
    assert_eq!(c["asset_ids"], json!([a1, a2]));
    let path = format!("/codex/api/contacts/{}", c["id"]);
    let (_, up) = app.put(&path, &admin, json!({"asset_ids": [a2]})).await;
    assert_eq!(up["asset_ids"], json!([a2]));
    let (s, b) = app
        .put(&path, &admin, json!({"asset_ids": [a1, 999_999]}))
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["asset_ids"]
        .as_str()
        .unwrap()
        .contains("999999"));
    let (_, same) = app.get(&path, &admin).await;
    assert_eq!(same["asset_ids"], json!([a2]));
});

both!(per_company_list_includes_inactive, |app| {
    let admin = app.admin().await;
    let own = app.company(&admin, "730001", "Listed").await;
    app.company(&admin, "730002", "Elsewhere").await;
    contact(
        &app,
        &admin,
        json!({"email": "b@listed.com", "name": "Bea", "secondary_emails": ["b2@listed.com"],
               "company_account_numbers": ["730001"]}),
    )
    .await;
    contact(
        &app,
        &admin,
        json!({"email": "a@listed.com", "name": "Abe", "active": false, "company_account_numbers": ["730001"]}),
    )
    .await;
    let gone = contact(
        &app,
        &admin,
        json!({"email": "z@listed.com", "company_account_numbers": ["730001"]}),
    )
    .await;
    app.delete(&format!("/codex/api/contacts/{}", gone["id"]), &admin)
        .await;
    contact(
        &app,
        &admin,
        json!({"email": "x@else.com", "company_account_numbers": ["730002"]}),
    )
    .await;

    for route in ["contacts", "users"] {
        let (list, total, _) = get_paged(
            &app,
            &format!("/codex/api/companies/730001/{route}"),
            &admin,
        )
        .await;
        assert_eq!(total, 2, "inactive included, deleted not");
        assert_eq!(list[0]["name"], "Abe");
        assert_eq!(list[0]["active"], false);
        assert_eq!(
            list[1]["secondary_emails"], "[\"b2@listed.com\"]",
            "the original's JSON string"
        );
        assert_eq!(list[1]["secondary_email_list"], json!(["b2@listed.com"]));
        for f in [
            "id",
            "name",
            "email",
            "title",
            "employment_type",
            "mobile_phone_number",
            "work_phone_number",
            "companies",
        ] {
            assert!(list[1].get(f).is_some(), "field {f} missing");
        }
    }
    let (list, total, link) =
        get_paged(&app, "/codex/api/companies/730001/contacts?limit=1", &admin).await;
    assert_eq!((total, list.as_array().unwrap().len()), (2, 1));
    assert!(link.unwrap().contains("offset=1"));
    let (s, b) = app
        .get("/codex/api/companies/799999/contacts", &admin)
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);

    let client = app.caller(Role::Client, own["id"].as_i64()).await;
    let (_, total, _) = get_paged(&app, "/codex/api/companies/730001/users", &client).await;
    assert_eq!(total, 2);
    let (s, _) = app
        .get("/codex/api/companies/730002/contacts", &client)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another company's list is hidden");
});

both!(search_filters_sort_and_pagination, |app| {
    let admin = app.admin().await;
    for (i, (first, email, phone)) in [
        ("Carla", "carla@x.com", "555 0101"),
        ("Dmitri", "dmitri@y.com", "555 0202"),
        ("Erin", "erin@x.com", "555 0303"),
        ("Femi", "femi@z.com", "555 0404"),
        ("Gus", "gus_100%@x.com", "555 0505"),
    ]
    .iter()
    .enumerate()
    {
        contact(
            &app,
            &admin,
            json!({"first_name": first, "email": email, "work_phone_number": phone,
                   "is_agent": i == 1, "vip_user": i == 2, "active": i != 3}),
        )
        .await;
    }
    let (list, total, link) = get_paged(&app, "/codex/api/contacts?limit=2", &admin).await;
    assert_eq!(total, 4, "inactive hidden by default");
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["name"], "Carla");
    assert!(link.unwrap().contains("offset=2"));
    let (list, _, _) = get_paged(&app, "/codex/api/contacts?limit=2&offset=2", &admin).await;
    assert_eq!(list[0]["name"], "Erin");

    let (_, total, _) = get_paged(&app, "/codex/api/contacts?include_inactive=true", &admin).await;
    assert_eq!(total, 5);
    let (list, total, _) = get_paged(&app, "/codex/api/contacts?active=false", &admin).await;
    assert_eq!((total, list[0]["name"].clone()), (1, json!("Femi")));
    let (list, total, _) = get_paged(&app, "/codex/api/contacts?search=%40X.COM", &admin).await;
    assert_eq!(total, 3, "e-mail search ignores case: {list}");
    let (list, _, _) = get_paged(&app, "/codex/api/contacts?search=0202", &admin).await;
    assert_eq!(list[0]["name"], "Dmitri", "phones are searched");
    let (_, total, _) = get_paged(&app, "/codex/api/contacts?search=100%25", &admin).await;
    assert_eq!(total, 1, "wildcards match literally");
    let (list, total, _) = get_paged(&app, "/codex/api/contacts?is_agent=true", &admin).await;
    assert_eq!((total, list[0]["name"].clone()), (1, json!("Dmitri")));
    let (list, _, _) = get_paged(&app, "/codex/api/contacts?vip_user=true", &admin).await;
    assert_eq!(list[0]["name"], "Erin");
    let (list, _, _) = get_paged(&app, "/codex/api/contacts?sort=email&order=desc", &admin).await;
    assert_eq!(list[0]["email"], "gus_100%@x.com");
});

both!(roles_and_client_scope, |app| {
    let admin = app.admin().await;
    let own = app.company(&admin, "740001", "Mine").await;
    app.company(&admin, "740002", "Theirs").await;
    let mine = contact(
        &app,
        &admin,
        json!({"email": "me@mine.com", "company_account_numbers": ["740001", "740002"]}),
    )
    .await;
    let theirs = contact(
        &app,
        &admin,
        json!({"email": "them@theirs.com", "company_account_numbers": ["740002"]}),
    )
    .await;
    let client = app.caller(Role::Client, own["id"].as_i64()).await;

    let (list, total, _) = get_paged(&app, "/codex/api/contacts", &client).await;
    assert_eq!(total, 1);
    assert_eq!(list[0]["email"], "me@mine.com");
    assert_eq!(
        accounts(&list[0]),
        vec![("740001".into(), true)],
        "a client does not learn the other companies"
    );
    let (s, _) = app
        .get(&format!("/codex/api/contacts/{}", mine["id"]), &client)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = app
        .get(&format!("/codex/api/contacts/{}", theirs["id"]), &client)
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (_, total, _) = get_paged(&app, "/codex/api/contacts?company=740002", &client).await;
    assert_eq!(total, 1, "the company filter cannot widen a client's scope");

    let billing = app.caller(Role::Billing, None).await;
    let (_, total, _) = get_paged(&app, "/codex/api/contacts", &billing).await;
    assert_eq!(total, 2, "billing reads everything");
    let mine_path = format!("/codex/api/contacts/{}", mine["id"]);
    for who in [&client, &billing] {
        let (s, b) = app
            .post("/codex/api/contacts", who, json!({"email": "new@x.com"}))
            .await;
        assert_problem(s, &b, StatusCode::FORBIDDEN);
        let (s, _) = app.put(&mine_path, who, json!({"name": "Hacked"})).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = app.delete(&mine_path, who).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = app
            .put(
                &format!("/codex/contacts/{}/update", mine["id"]),
                who,
                json!({"name": "Hacked"}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    let (_, same) = app.get(&mine_path, &admin).await;
    assert_eq!(same["name"], "me");
    assert_eq!(count_contacts(&app).await, 2);

    let tech = app.caller(Role::Technician, None).await;
    let (s, _) = app
        .put(&mine_path, &tech, json!({"name": "Me Myself"}))
        .await;
    assert_eq!(s, StatusCode::OK, "technicians write master data");

    for (m, p) in [
        (Method::GET, "/codex/api/contacts".to_string()),
        (Method::POST, "/codex/api/contacts".to_string()),
        (Method::GET, mine_path.clone()),
        (Method::DELETE, mine_path.clone()),
        (
            Method::GET,
            "/codex/api/companies/740001/contacts".to_string(),
        ),
        (Method::GET, "/codex/contacts/api/search".to_string()),
    ] {
        let (s, b) = app
            .call(m, &p, None, Some(json!({"email": "x@y.com"})))
            .await;
        assert_problem(s, &b, StatusCode::UNAUTHORIZED);
    }
});

both!(legacy_envelopes, |app| {
    let admin = app.admin().await;
    app.company(&admin, "750001", "Legacy").await;
    app.company(&admin, "750002", "Legacy Two").await;
    let c = contact(
        &app,
        &admin,
        json!({"email": "old@legacy.com", "company_account_numbers": ["750001"]}),
    )
    .await;
    for i in 0..4 {
        contact(
            &app,
            &admin,
            json!({"email": format!("p{i}@legacy.com"), "active": i != 0}),
        )
        .await;
    }
    let (s, b) = app
        .put(
            &format!("/codex/contacts/{}/update", c["id"]),
            &admin,
            json!({"job_title": "CEO", "secondary_emails": "x@legacy.com,y@legacy.com",
                   "company_account_numbers": ["750001", "750002"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["success"], true);
    assert!(b["message"].is_string());
    assert_eq!(b["contact"]["title"], "CEO");
    assert_eq!(
        b["contact"]["secondary_emails"],
        json!(["x@legacy.com", "y@legacy.com"])
    );
    let (s, b) = app
        .put(
            &format!("/codex/contacts/{}/update", c["id"]),
            &admin,
            json!({"email": "bad"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);

    let (s, b) = app
        .get(
            "/codex/contacts/api/search?per_page=2&page=1&sort_by=email",
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["success"], true);
    assert_eq!(
        b["pagination"],
        json!({"page": 1, "pages": 2, "total": 4, "has_prev": false, "has_next": true, "prev_num": null, "next_num": 2})
    );
    assert_eq!(b["contacts"][0]["email"], "old@legacy.com");
    assert_eq!(b["contacts"][0]["company_count"], 2);
    let keys: Vec<&String> = b["contacts"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 7, "the original's seven fields: {keys:?}");
    let (_, b) = app
        .get(
            "/codex/contacts/api/search?show_inactive=1&search=p0",
            &admin,
        )
        .await;
    assert_eq!(b["pagination"]["total"], 1);
    assert_eq!(b["contacts"][0]["active"], false);
    let (s, b) = app
        .get("/codex/contacts/api/search?per_page=501", &admin)
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = app.get("/codex/contacts/api/search?page=0", &admin).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
});

both!(upsert_from_source_is_idempotent_and_adopts, |app| {
    let admin = app.admin().await;
    let co = app.company(&admin, "760001", "Synced").await;
    let co_id = co["id"].as_i64().unwrap();
    let u = ContactUpsert {
        external_source: "freshservice".into(),
        external_id: "9001".into(),
        email: "Req@Synced.com".into(),
        first_name: Some("Rae".into()),
        last_name: Some("Quinn".into()),
        department_ids: vec!["17".into()],
        psa_updated_at: Some("2026-01-02T03:04:05+02:00".into()),
        ..ContactUpsert::default()
    };
    let first = contacts::upsert_from_source(&app.db, &u).await.unwrap();
    let again = contacts::upsert_from_source(&app.db, &u).await.unwrap();
    assert_eq!(first.change, hivematrix::codex::Change::Created);
    assert_eq!(again.change, hivematrix::codex::Change::Unchanged);
    let id = first.id;
    assert_eq!(id, again.id);
    assert_eq!(count_contacts(&app).await, 1);
    let c = contacts::get_by_id(&app.db, id).await.unwrap().unwrap();
    assert_eq!(
        (c.name.as_str(), c.email.as_str()),
        ("Rae Quinn", "req@synced.com")
    );
    assert_eq!(
        c.psa_updated_at.as_deref(),
        Some("2026-01-02T01:04:05.000000Z")
    );
    let audits: i64 = sqlx::query("SELECT COUNT(*) FROM audit_log WHERE entity = 'contact'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(audits, 1, "an unchanged record writes nothing");

    let changed = ContactUpsert {
        job_title: Some("Nurse".into()),
        ..u.clone()
    };
    assert_eq!(
        contacts::upsert_from_source(&app.db, &changed)
            .await
            .unwrap(),
        hivematrix::codex::Upserted {
            id,
            change: hivematrix::codex::Change::Updated
        }
    );
    assert_eq!(
        contacts::get_by_id(&app.db, id)
            .await
            .unwrap()
            .unwrap()
            .title
            .as_deref(),
        Some("Nurse")
    );

    // A hand-made contact with the same e-mail is adopted, not duplicated.
    let manual = contact(
        &app,
        &admin,
        json!({"email": "walkin@synced.com", "employment_type": "Part Time"}),
    )
    .await;
    let walkin = ContactUpsert {
        external_id: "9002".into(),
        email: "WALKIN@synced.com".into(),
        ..u.clone()
    };
    let adopted = contacts::upsert_from_source(&app.db, &walkin)
        .await
        .unwrap()
        .id;
    assert_eq!(adopted, manual["id"].as_i64().unwrap());
    let a = contacts::get_by_id(&app.db, adopted)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.external_id.as_deref(), Some("9002"));
    assert_eq!(
        a.employment_type, "Part Time",
        "local-only fields survive a sync"
    );
    assert_eq!(count_contacts(&app).await, 2);
    let bad = ContactUpsert {
        email: "nope".into(),
        ..u.clone()
    };
    assert!(contacts::upsert_from_source(&app.db, &bad).await.is_err());

    // Links merge; the first becomes primary, `is_primary` moves it.
    contacts::link_company(&app.db, id, co_id, false)
        .await
        .unwrap();
    contacts::link_company(&app.db, id, co_id, false)
        .await
        .unwrap();
    let other = app.company(&admin, "760002", "Second").await["id"]
        .as_i64()
        .unwrap();
    contacts::link_company(&app.db, id, other, true)
        .await
        .unwrap();
    let c = contacts::get_by_id(&app.db, id).await.unwrap().unwrap();
    let flags: Vec<(i64, bool)> = c
        .companies
        .iter()
        .map(|l| (l.company_id, l.is_primary))
        .collect();
    assert_eq!(flags, vec![(other, true), (co_id, false)]);

    let per = contacts::list_for_companies(&app.db, &[co_id, other, 424242])
        .await
        .unwrap();
    assert_eq!(per[&co_id].len(), 1);
    assert_eq!(per[&other][0].id, id);
    assert_eq!(per[&other][0].companies.len(), 2, "links loaded too");
    assert!(!per.contains_key(&424242));

    // Missing upstream: soft-deleted, id kept; an empty snapshot deletes nothing.
    assert_eq!(
        contacts::mark_missing(&app.db, "freshservice", &[])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        contacts::mark_missing(&app.db, "freshservice", &["9001".into()])
            .await
            .unwrap(),
        1
    );
    let a = contacts::get_by_id(&app.db, adopted)
        .await
        .unwrap()
        .unwrap();
    assert!(a.deleted_at.is_some() && !a.active);
    assert!(contacts::get_by_id(&app.db, id)
        .await
        .unwrap()
        .unwrap()
        .deleted_at
        .is_none());
    assert_eq!(
        contacts::upsert_from_source(&app.db, &walkin)
            .await
            .unwrap()
            .id,
        adopted
    );
    let a = contacts::get_by_id(&app.db, adopted)
        .await
        .unwrap()
        .unwrap();
    assert!(
        a.deleted_at.is_none() && a.active,
        "seen again upstream: live again"
    );
});

both!(openapi_lists_contact_routes, |app| {
    let admin = app.admin().await;
    let (_, doc) = app.get("/openapi.json", &admin).await;
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/codex/api/contacts",
        "/codex/api/contacts/{id}",
        "/codex/api/companies/{account_number}/contacts",
        "/codex/api/companies/{account_number}/users",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    assert!(paths["/codex/api/contacts/{id}"].get("patch").is_some());
});
