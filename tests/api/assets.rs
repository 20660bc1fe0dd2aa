//! Assets: CRUD, validation, UDFs, backup figures, per-company lists, search, contacts,
//! the RMM device views, roles and client scope, and the sync's upsert API.

use crate::both;
use crate::helpers::*;
use hivematrix::auth::Role;
use hivematrix::codex::assets::{self, AssetUpsert, MissingScope, BYTES_PER_TB};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Row;

/// Creates an asset through the API (`extra` adds fields) and returns it.
async fn asset(app: &TestApp, who: &Caller, acct: &str, hostname: &str, extra: Value) -> Value {
    let mut body = json!({"company_account_number": acct, "hostname": hostname});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (s, a) = app.post("/codex/api/assets", who, body).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    a
}

/// A contact row (the contacts API lives in another module; assets only link to it).
async fn contact(app: &TestApp, name: &str) -> i64 {
    let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
    sqlx::query(
        "INSERT INTO contacts (name, email, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id",
    )
    .bind(name)
    .bind(email)
    .bind("2026-01-01T00:00:00.000000Z")
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
    .get(0)
}

/// GET returning the `X-Total-Count` header too.
async fn get_counted(app: &TestApp, path: &str, who: &Caller) -> (StatusCode, String, Value) {
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
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, total, r.json().await.unwrap())
}

fn hostnames(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| a["hostname"].as_str().unwrap())
        .collect()
}

async fn audit_count(app: &TestApp, id: i64) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM audit_log WHERE entity = 'asset' AND entity_id = $1")
        .bind(id.to_string())
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .get(0)
}

both!(create_read_update_delete, |app| {
    let admin = app.admin().await;
    let co = app.company(&admin, "700001", "Asset Owner").await;
    let a = asset(
        &app,
        &admin,
        "700001",
        "WS-001",
        json!({
            "hardware_type": "Desktop", "operating_system": "Windows 11 Pro",
            "int_ip_address": "192.168.1.10", "ext_ip_address": "2001:db8::1",
            "last_seen": "2026-01-02T03:04:05+02:00", "warranty_expires": "2028-06-30",
            "online": true, "web_remote_url": "https://remote.example.com/ws1",
            "serial_number": "SN123", "udfs": {"udf2": "BitLocker-KEY", "udf250": "far"}
        }),
    )
    .await;
    let id = a["id"].as_i64().unwrap();
    assert_eq!(a["company_id"], co["id"]);
    assert_eq!(a["company_account_number"], "700001");
    assert_eq!(a["company_name"], "Asset Owner");
    assert_eq!(
        a["last_seen"], "2026-01-02T01:04:05.000000Z",
        "stored as UTC"
    );
    assert_eq!(a["ext_ip_address"], "2001:db8::1");
    assert_eq!(a["online"], true);
    assert_eq!(a["udfs"], json!({"udf2": "BitLocker-KEY", "udf250": "far"}));
    assert_eq!(a["contact_ids"], json!([]));
    assert!(a["backup_usage_tb"].is_null());
    assert_eq!(a["backup_data_bytes"], 0);

    let (s, got) = app.get(&format!("/codex/api/assets/{id}"), &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, a);

    let (s, up) = app
        .put(
            &format!("/codex/api/assets/{id}"),
            &admin,
            json!({"description": "Reception PC", "serial_number": null, "online": false}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(up["description"], "Reception PC");
    assert!(up["serial_number"].is_null());
    assert_eq!(up["online"], false);
    assert_eq!(up["hostname"], "WS-001", "untouched fields stay");
    assert_eq!(up["id"].as_i64().unwrap(), id);

    let r = app
        .client
        .patch(app.url(&format!("/codex/api/assets/{id}")))
        .bearer_auth(&admin.token)
        .json(&json!({"hostname": "WS-001-RENAMED"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let patched: Value = r.json().await.unwrap();
    assert_eq!(patched["hostname"], "WS-001-RENAMED");

    // Moving to another company.
    app.company(&admin, "700002", "New Owner").await;
    let (s, moved) = app
        .put(
            &format!("/codex/api/assets/{id}"),
            &admin,
            json!({"company_account_number": "700002"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{moved}");
    assert_eq!(moved["company_account_number"], "700002");
    assert_eq!(moved["company_name"], "New Owner");

    let (s, _) = app.delete(&format!("/codex/api/assets/{id}"), &admin).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, list) = app.get("/codex/api/assets", &admin).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        0,
        "deleted assets are hidden"
    );
    let (_, list) = app
        .get("/codex/api/assets?include_deleted=true", &admin)
        .await;
    assert_eq!(list[0]["id"].as_i64().unwrap(), id, "but kept, same id");
    assert!(list[0]["deleted_at"].is_string());

    let (s, b) = app.get("/codex/api/assets/999999", &admin).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, b) = app
        .put(
            "/codex/api/assets/999999",
            &admin,
            json!({"description": "x"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, b) = app.delete("/codex/api/assets/999999", &admin).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);

    let (_, log) = app
        .get(
            &format!("/codex/api/audit?entity=asset&entity_id={id}"),
            &admin,
        )
        .await;
    let actions: Vec<_> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["delete", "update", "update", "update", "create"]);
    assert_eq!(log["entries"][2]["before"]["hostname"], "WS-001");
    assert_eq!(log["entries"][2]["after"]["hostname"], "WS-001-RENAMED");
});

both!(validation_reports_every_field_and_changes_nothing, |app| {
    let admin = app.admin().await;
    app.company(&admin, "710001", "Valid Co").await;
    let a = asset(
        &app,
        &admin,
        "710001",
        "SRV-01",
        json!({"udfs": {"udf1": "keep"}}),
    )
    .await;
    let id = a["id"].as_i64().unwrap();
    let (s, b) = app
        .put(
            &format!("/codex/api/assets/{id}"),
            &admin,
            json!({
                "hostname": "", "int_ip_address": "10.0.0.300", "ext_ip_address": "example.com",
                "udfs": {"udf301": "x", "udf1": null}, "company_account_number": "404404",
                "portal_url": "javascript:alert(1)", "warranty_expires": "31/12/2028",
                "last_seen": "yesterday", "backup_usage_bytes": -1,
                "model": "m".repeat(101)
            }),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = b["errors"].as_object().unwrap();
    for f in [
        "hostname",
        "int_ip_address",
        "ext_ip_address",
        "udfs",
        "company_account_number",
        "portal_url",
        "warranty_expires",
        "last_seen",
        "backup_usage_bytes",
        "model",
    ] {
        assert!(errors.contains_key(f), "missing error for {f}: {b}");
    }
    let (_, after) = app.get(&format!("/codex/api/assets/{id}"), &admin).await;
    assert_eq!(after, a, "a rejected update changes nothing");

    let (s, b) = app
        .post(
            "/codex/api/assets",
            &admin,
            json!({"description": "no keys"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["errors"]["hostname"].is_string() && b["errors"]["company_account_number"].is_string()
    );
    let (s, b) = app
        .post(
            "/codex/api/assets",
            &admin,
            json!({"company_account_number": "404404", "hostname": "X", "udfs": {"udf0": "x"}}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["company_account_number"].is_string() && b["errors"]["udfs"].is_string());
    let (s, b) = app
        .post(
            "/codex/api/assets",
            &admin,
            json!({"company_account_number": "710001", "hostname": "X", "password": "x"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, list) = app.get("/codex/api/assets", &admin).await;
    assert_eq!(hostnames(&list), ["SRV-01"], "nothing was created");

    // A device id already used by another asset is a conflict.
    asset(
        &app,
        &admin,
        "710001",
        "A1",
        json!({"external_source": "datto", "external_id": "u1"}),
    )
    .await;
    let (s, b) = app
        .post(
            "/codex/api/assets",
            &admin,
            json!({"company_account_number": "710001", "hostname": "A2",
                   "external_source": "datto", "external_id": "u1"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::CONFLICT);
});

both!(udfs_merge_on_update, |app| {
    let admin = app.admin().await;
    app.company(&admin, "720001", "UDF Co").await;
    let a = asset(
        &app,
        &admin,
        "720001",
        "WS-UDF",
        json!({"udfs": {"udf1": "tenant", "udf2": "bitlocker", "udf30": "thirty"}}),
    )
    .await;
    let id = a["id"].as_i64().unwrap();
    let (s, up) = app
        .put(
            &format!("/codex/api/assets/{id}"),
            &admin,
            json!({"udfs": {"udf2": null, "udf30": "", "udf1": "new tenant", "udf299": "x".repeat(10_000)}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(
        up["udfs"],
        json!({"udf1": "new tenant", "udf299": "x".repeat(10_000)})
    );
    let (_, up) = app
        .put(
            &format!("/codex/api/assets/{id}"),
            &admin,
            json!({"description": "no udfs in this body"}),
        )
        .await;
    assert_eq!(up["udfs"]["udf1"], "new tenant", "absent udfs are kept");
    let (s, b) = app
        .put(
            &format!("/codex/api/assets/{id}"),
            &admin,
            json!({"udfs": {"udf5": "y".repeat(10_001)}}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
});

both!(backup_figures_are_exact, |app| {
    let admin = app.admin().await;
    app.company(&admin, "730001", "Backup Co").await;
    let cases = [
        ("B1", json!(BYTES_PER_TB * 3 / 2), json!("1.50")),
        ("B2", json!(5_000_000_000_000_i64), json!("4.55")),
        ("B3", json!(BYTES_PER_TB / 8), json!("0.12")),
        ("B4", json!(0), json!("0.00")),
        ("B5", Value::Null, Value::Null),
    ];
    for (host, bytes, _) in &cases {
        asset(
            &app,
            &admin,
            "730001",
            host,
            json!({"backup_usage_bytes": bytes}),
        )
        .await;
    }
    let (s, list) = app.get("/codex/api/companies/730001/assets", &admin).await;
    assert_eq!(s, StatusCode::OK);
    for (i, (host, bytes, tb)) in cases.iter().enumerate() {
        let a = &list[i];
        assert_eq!(a["hostname"], *host);
        assert_eq!(a["backup_usage_bytes"], *bytes, "{host}");
        assert_eq!(a["backup_usage_tb"], *tb, "{host}");
        assert_eq!(
            a["backup_data_bytes"],
            bytes.as_i64().unwrap_or(0),
            "{host}"
        );
    }
});

both!(per_company_list, |app| {
    let admin = app.admin().await;
    app.company(&admin, "740001", "First").await;
    app.company(&admin, "740002", "Second").await;
    for h in ["b-host", "a-host", "c-host"] {
        asset(
            &app,
            &admin,
            "740001",
            h,
            json!({"hardware_type": "Laptop"}),
        )
        .await;
    }
    asset(&app, &admin, "740002", "other", json!({})).await;
    let (s, total, list) = get_counted(&app, "/codex/api/companies/740001/assets", &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(total, "3");
    assert_eq!(hostnames(&list), ["a-host", "b-host", "c-host"]);
    // The original's asset object fields are all there.
    for f in [
        "id",
        "hostname",
        "hardware_type",
        "operating_system",
        "device_type",
        "last_logged_in_user",
        "antivirus_product",
        "ext_ip_address",
        "int_ip_address",
        "domain",
        "online",
        "last_seen",
        "backup_usage_tb",
        "backup_data_bytes",
    ] {
        assert!(list[0].get(f).is_some(), "missing {f}");
    }
    let (_, total, page) = get_counted(
        &app,
        "/codex/api/companies/740001/assets?limit=1&offset=1&order=desc",
        &admin,
    )
    .await;
    assert_eq!(total, "3");
    assert_eq!(hostnames(&page), ["b-host"]);
    let (s, b) = app.get("/codex/api/companies/999999/assets", &admin).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, b) = app
        .get("/codex/api/companies/740001/assets?limit=5001", &admin)
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);

    // The Rust API for the bulk endpoint: every company's live assets at once.
    let ids: Vec<i64> = sqlx::query("SELECT id FROM companies ORDER BY id")
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let all = assets::list_for_companies(&app.db, &ids).await.unwrap();
    let names: Vec<_> = all.iter().map(|a| a.hostname.as_str()).collect();
    assert_eq!(names, ["a-host", "b-host", "c-host", "other"]);
    assert!(assets::list_for_companies(&app.db, &[])
        .await
        .unwrap()
        .is_empty());
});

both!(search_filter_sort_paginate, |app| {
    let admin = app.admin().await;
    app.company(&admin, "750001", "Northwind Dental").await;
    app.company(&admin, "750002", "Southpark Law").await;
    asset(&app, &admin, "750001", "alpha", json!({"hardware_type": "Server", "operating_system": "Windows Server 2022",
        "online": true, "last_seen": "2026-03-01T00:00:00Z", "int_ip_address": "10.1.1.5", "serial_number": "SN-100%"})).await;
    asset(&app, &admin, "750001", "Bravo", json!({"hardware_type": "Laptop", "operating_system": "Windows 11 Pro",
        "last_seen": "2026-01-01T00:00:00Z", "rmm_site_name": "Main Office", "device_type": "Workstation"})).await;
    asset(
        &app,
        &admin,
        "750002",
        "charlie",
        json!({"hardware_type": "laptop", "operating_system": "macOS 14",
        "online": true, "last_seen": "2026-02-01T00:00:00Z", "description": "CEO machine"}),
    )
    .await;

    let (_, total, list) = get_counted(&app, "/codex/api/assets", &admin).await;
    assert_eq!(total, "3");
    assert_eq!(
        hostnames(&list),
        ["alpha", "Bravo", "charlie"],
        "case-insensitive"
    );
    let q = |p: &str| format!("/codex/api/assets?{p}");
    for (query, expected) in [
        ("search=10.1.1", vec!["alpha"]),
        ("search=main%20off", vec!["Bravo"]),
        ("search=ceo", vec!["charlie"]),
        ("search=southpark", vec!["charlie"]),
        ("search=100%25", vec!["alpha"]),
        ("search=%25", vec!["alpha"]),
        ("company=750001", vec!["alpha", "Bravo"]),
        ("hardware_type=LAPTOP", vec!["Bravo", "charlie"]),
        ("device_type=workstation", vec!["Bravo"]),
        ("online=true", vec!["alpha", "charlie"]),
        ("online=false", vec!["Bravo"]),
        ("operating_system=windows", vec!["alpha", "Bravo"]),
        (
            "sort=last_seen&order=desc",
            vec!["alpha", "charlie", "Bravo"],
        ),
        ("sort=company&order=desc", vec!["charlie", "Bravo", "alpha"]),
        ("sort=operating_system", vec!["charlie", "Bravo", "alpha"]),
        ("sort=online&order=desc", vec!["charlie", "alpha", "Bravo"]),
        ("sort=hardware_type", vec!["Bravo", "charlie", "alpha"]),
        ("limit=2&offset=1", vec!["Bravo", "charlie"]),
    ] {
        let (s, list) = app.get(&q(query), &admin).await;
        assert_eq!(s, StatusCode::OK, "{query}: {list}");
        assert_eq!(hostnames(&list), expected, "{query}");
    }
    let r = app
        .client
        .get(app.url("/codex/api/assets?limit=1"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert!(r.headers()["link"].to_str().unwrap().contains("offset=1"));
    for bad in ["sort=secret", "limit=1001", "limit=0", "offset=-1"] {
        let (s, b) = app.get(&q(bad), &admin).await;
        assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (s, b) = app.get(&q("online=maybe"), &admin).await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST);
});

both!(contacts_are_replaced, |app| {
    let admin = app.admin().await;
    app.company(&admin, "760001", "Contact Co").await;
    let ann = contact(&app, "Ann Lee").await;
    let bob = contact(&app, "Bob Ray").await;
    let cy = contact(&app, "Cy Twombly").await;
    let a = asset(
        &app,
        &admin,
        "760001",
        "WS-C",
        json!({"contact_ids": [bob, ann, ann]}),
    )
    .await;
    let id = a["id"].as_i64().unwrap();
    assert_eq!(a["contact_ids"], json!([ann, bob]));

    let (s, r) = app
        .put(
            &format!("/codex/assets/{id}/update-contacts"),
            &admin,
            json!({"contact_ids": [cy]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["success"], true);
    assert!(r["message"].is_string());
    let (s, c) = app
        .get(&format!("/codex/api/assets/{id}/contacts"), &admin)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c["contact_ids"], json!([cy]));
    assert_eq!(c["contacts"][0]["name"], "Cy Twombly");
    assert_eq!(c["contacts"][0]["email"], "cy.twombly@example.com");

    let (s, c) = app
        .put(
            &format!("/codex/api/assets/{id}/contacts"),
            &admin,
            json!({"contact_ids": [ann, bob]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["contact_ids"], json!([ann, bob]));

    let (s, b) = app
        .put(
            &format!("/codex/api/assets/{id}/contacts"),
            &admin,
            json!({"contact_ids": [ann, 424242]}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["contact_ids"]
        .as_str()
        .unwrap()
        .contains("424242"));
    let (s, b) = app
        .put(
            &format!("/codex/assets/{id}/update-contacts"),
            &admin,
            json!({"contact_ids": [99999]}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, got) = app.get(&format!("/codex/api/assets/{id}"), &admin).await;
    assert_eq!(got["contact_ids"], json!([ann, bob]), "unchanged");

    let (s, _) = app
        .put(
            &format!("/codex/api/assets/{id}/contacts"),
            &admin,
            json!({"contact_ids": []}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, got) = app.get(&format!("/codex/api/assets/{id}"), &admin).await;
    assert_eq!(got["contact_ids"], json!([]));
    let (s, b) = app.get("/codex/api/assets/999999/contacts", &admin).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, b) = app
        .put(
            "/codex/assets/999999/update-contacts",
            &admin,
            json!({"contact_ids": []}),
        )
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
});

both!(rmm_devices_and_device_lookup, |app| {
    let admin = app.admin().await;
    app.company(&admin, "770001", "Device Co").await;
    app.company(&admin, "770002", "Elsewhere").await;
    let on = asset(&app, &admin, "770001", "dev-on", json!({"online": true, "hardware_type": "Server",
        "operating_system": "Ubuntu 24.04", "int_ip_address": "10.0.0.2", "last_logged_in_user": "root",
        "last_seen": "2026-01-01T00:00:00Z"})).await;
    asset(
        &app,
        &admin,
        "770001",
        "dev-off",
        json!({"device_type": "Workstation", "hardware_type": "Desktop",
        "ext_ip_address": "203.0.113.9", "int_ip_address": "10.0.0.3"}),
    )
    .await;
    let far = asset(&app, &admin, "770002", "dev-far", json!({})).await;

    let (s, d) = app.get("/codex/api/rmm/devices", &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["count"], 3);
    assert_eq!(d["total"], 3);
    assert_eq!(
        d["devices"][0],
        json!({"id": format!("device-{}", far["id"]), "name": "dev-far", "company_id": "770002",
               "company_name": "Elsewhere", "status": "offline", "os": null, "device_type": null,
               "ip_address": null, "last_seen": null, "last_logged_in_user": null})
    );
    let (_, d) = app
        .get(
            "/codex/api/rmm/devices?company_id=770001&status=offline",
            &admin,
        )
        .await;
    assert_eq!(d["count"], 1);
    assert_eq!(d["devices"][0]["name"], "dev-off");
    assert_eq!(d["devices"][0]["device_type"], "Workstation");
    assert_eq!(d["devices"][0]["ip_address"], "203.0.113.9");
    let (_, d) = app
        .get("/codex/api/rmm/devices?status=online", &admin)
        .await;
    let dev = &d["devices"][0];
    assert_eq!(
        *dev,
        json!({"id": format!("device-{}", on["id"]), "name": "dev-on", "company_id": "770001",
               "company_name": "Device Co", "status": "online", "os": "Ubuntu 24.04",
               "device_type": "Server", "ip_address": "10.0.0.2",
               "last_seen": "2026-01-01T00:00:00.000000Z", "last_logged_in_user": "root"})
    );
    let (_, d) = app
        .get("/codex/api/rmm/devices?limit=1&offset=2", &admin)
        .await;
    assert_eq!(d["count"], 1);
    assert_eq!(d["total"], 3);
    let (s, b) = app
        .get("/codex/api/rmm/devices?status=asleep", &admin)
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);

    let (s, one) = app
        .get(
            &format!("/codex/api/rmm/device/device-{}", on["id"]),
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one, on, "the real asset, nothing invented");
    assert!(one.get("mac_address").is_none() && one.get("ram_gb").is_none());
    for bad in ["17", "device-abc", "dev-1"] {
        let (s, b) = app
            .get(&format!("/codex/api/rmm/device/{bad}"), &admin)
            .await;
        assert_problem(s, &b, StatusCode::BAD_REQUEST);
    }
    let (s, b) = app.get("/codex/api/rmm/device/device-999999", &admin).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
});

both!(roles_and_client_scope, |app| {
    let admin = app.admin().await;
    let own = app.company(&admin, "780001", "Own Co").await;
    app.company(&admin, "780002", "Other Co").await;
    let mine = asset(&app, &admin, "780001", "mine", json!({})).await;
    let theirs = asset(&app, &admin, "780002", "theirs", json!({})).await;
    let (mine_id, theirs_id) = (mine["id"].as_i64().unwrap(), theirs["id"].as_i64().unwrap());
    let tech = app.caller(Role::Technician, None).await;
    let billing = app.caller(Role::Billing, None).await;
    let client = app.caller(Role::Client, own["id"].as_i64()).await;
    let ann = contact(&app, "Ann Scope").await;

    // Technicians write; billing and client users do not.
    asset(&app, &tech, "780001", "tech-made", json!({})).await;
    let (s, _) = app
        .put(
            &format!("/codex/api/assets/{mine_id}"),
            &tech,
            json!({"description": "ok"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for who in [&billing, &client] {
        let (s, b) = app
            .post(
                "/codex/api/assets",
                who,
                json!({"company_account_number": "780001", "hostname": "x"}),
            )
            .await;
        assert_problem(s, &b, StatusCode::FORBIDDEN);
        let path = format!("/codex/api/assets/{mine_id}");
        let (s, _) = app.put(&path, who, json!({"description": "hacked"})).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = app.delete(&path, who).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = app
            .put(
                &format!("{path}/contacts"),
                who,
                json!({"contact_ids": [ann]}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = app
            .put(
                &format!("/codex/assets/{mine_id}/update-contacts"),
                who,
                json!({"contact_ids": [ann]}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    let (_, all) = app.get("/codex/api/assets", &billing).await;
    assert_eq!(all.as_array().unwrap().len(), 3, "billing reads everything");

    // A client sees only its own company's assets; others answer 404.
    let (_, list) = app.get("/codex/api/assets", &client).await;
    assert_eq!(hostnames(&list), ["mine", "tech-made"]);
    let (_, list) = app.get("/codex/api/assets?company=780002", &client).await;
    assert_eq!(list.as_array().unwrap().len(), 0);
    let (s, _) = app
        .get(&format!("/codex/api/assets/{mine_id}"), &client)
        .await;
    assert_eq!(s, StatusCode::OK);
    for path in [
        format!("/codex/api/assets/{theirs_id}"),
        format!("/codex/api/assets/{theirs_id}/contacts"),
        format!("/codex/api/rmm/device/device-{theirs_id}"),
        "/codex/api/companies/780002/assets".to_string(),
    ] {
        let (s, b) = app.get(&path, &client).await;
        assert_problem(s, &b, StatusCode::NOT_FOUND);
    }
    let (_, d) = app.get("/codex/api/rmm/devices", &client).await;
    assert_eq!(d["total"], 2);
    let (s, _) = app.get("/codex/api/companies/780001/assets", &client).await;
    assert_eq!(s, StatusCode::OK);

    // No token at all.
    for path in [
        "/codex/api/assets".to_string(),
        format!("/codex/api/assets/{mine_id}"),
        "/codex/api/rmm/devices".to_string(),
        format!("/codex/api/rmm/device/device-{mine_id}"),
        "/codex/api/companies/780001/assets".to_string(),
    ] {
        let (s, b) = app.call(reqwest::Method::GET, &path, None, None).await;
        assert_problem(s, &b, StatusCode::UNAUTHORIZED);
    }
    let (s, b) = app
        .call(
            reqwest::Method::POST,
            "/codex/api/assets",
            None,
            Some(json!({"company_account_number": "780001", "hostname": "x"})),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNAUTHORIZED);
    let (_, got) = app
        .get(&format!("/codex/api/assets/{mine_id}"), &admin)
        .await;
    assert_eq!(got["description"], "ok", "refused writes changed nothing");
});

fn device(company_id: i64, uid: &str, hostname: &str) -> AssetUpsert {
    AssetUpsert {
        company_id,
        external_source: "datto".into(),
        external_id: Some(uid.into()),
        hostname: hostname.into(),
        hardware_type: Some("Laptop".into()),
        rmm_site_uid: Some("site-1".into()),
        last_seen: Some("2026-01-01T10:00:00+01:00".into()),
        backup_usage_bytes: Some(BYTES_PER_TB),
        portal_url: Some("javascript:alert(1)".into()),
        udfs: [
            ("udf1".to_string(), "tenant".to_string()),
            ("udf7".into(), "".into()),
            ("udf301".into(), "ignored".into()),
        ]
        .into(),
        ..AssetUpsert::default()
    }
}

both!(upsert_is_idempotent_and_rename_keeps_id, |app| {
    let admin = app.admin().await;
    let co = app.company(&admin, "790001", "Synced Co").await;
    let cid = co["id"].as_i64().unwrap();
    let db = &app.db;

    let id = assets::upsert_from_source(db, &device(cid, "uid-1", "LAPTOP-1"))
        .await
        .unwrap()
        .id;
    let first = assets::get(db, id).await.unwrap().unwrap();
    assert_eq!(first.external_id.as_deref(), Some("uid-1"));
    assert_eq!(
        first.last_seen.as_deref(),
        Some("2026-01-01T09:00:00.000000Z")
    );
    assert_eq!(first.backup_usage_tb.as_deref(), Some("1.00"));
    assert_eq!(first.portal_url, None, "script links are dropped");
    assert_eq!(
        serde_json::to_value(&first.udfs).unwrap(),
        json!({"udf1": "tenant"})
    );
    assert_eq!(audit_count(&app, id).await, 1);

    // The same device again: same row, nothing written.
    let again = assets::upsert_from_source(db, &device(cid, "uid-1", "LAPTOP-1"))
        .await
        .unwrap()
        .id;
    assert_eq!(again, id);
    let second = assets::get(db, id).await.unwrap().unwrap();
    assert_eq!(
        second.updated_at, first.updated_at,
        "no write when nothing changed"
    );

    // A poll that only moves telemetry updates without an audit row per device.
    let mut polled = device(cid, "uid-1", "LAPTOP-1");
    polled.online = true;
    polled.last_seen = Some("2026-01-02T00:00:00Z".into());
    assert_eq!(
        assets::upsert_from_source(db, &polled).await.unwrap().id,
        id
    );
    assert!(assets::get(db, id).await.unwrap().unwrap().online);
    assert_eq!(audit_count(&app, id).await, 1);

    // Technicians link a contact; a rename upstream keeps the row and the link.
    let ann = contact(&app, "Ann Sync").await;
    let (s, _) = app
        .put(
            &format!("/codex/api/assets/{id}/contacts"),
            &admin,
            json!({"contact_ids": [ann]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let renamed = assets::upsert_from_source(db, &device(cid, "uid-1", "LAPTOP-RENAMED"))
        .await
        .unwrap()
        .id;
    assert_eq!(renamed, id);
    let r = assets::get(db, id).await.unwrap().unwrap();
    assert_eq!(r.hostname, "LAPTOP-RENAMED");
    assert_eq!(r.contact_ids, vec![ann]);
    let (_, list) = app.get("/codex/api/companies/790001/assets", &admin).await;
    assert_eq!(hostnames(&list), ["LAPTOP-RENAMED"], "no duplicate row");

    // A hand-made asset without a device id is adopted by hostname, case-insensitively.
    let manual = asset(
        &app,
        &admin,
        "790001",
        "server-9",
        json!({"serial_number": "HAND-TYPED"}),
    )
    .await;
    let mid = manual["id"].as_i64().unwrap();
    let mut dev = device(cid, "uid-9", "SERVER-9");
    dev.rmm_site_uid = Some("site-2".into());
    assert_eq!(assets::upsert_from_source(db, &dev).await.unwrap().id, mid);
    let adopted = assets::get(db, mid).await.unwrap().unwrap();
    assert_eq!(adopted.external_id.as_deref(), Some("uid-9"));
    assert_eq!(
        adopted.serial_number.as_deref(),
        Some("HAND-TYPED"),
        "kept when the RMM has none"
    );

    // Devices missing from a site's fetch are soft-deleted; an empty fetch marks nothing.
    assert_eq!(
        assets::mark_missing(db, "datto", MissingScope::Site("site-1"), &[])
            .await
            .unwrap(),
        0
    );
    let seen = vec!["uid-other".to_string()];
    let n = assets::mark_missing(db, "datto", MissingScope::Site("site-1"), &seen)
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(assets::get(db, id)
        .await
        .unwrap()
        .unwrap()
        .deleted_at
        .is_some());
    assert!(
        assets::get(db, mid)
            .await
            .unwrap()
            .unwrap()
            .deleted_at
            .is_none(),
        "other site untouched"
    );
    let n = assets::mark_missing(
        db,
        "datto",
        MissingScope::Company(cid),
        &["uid-9".to_string()],
    )
    .await
    .unwrap();
    assert_eq!(n, 0, "already-deleted rows are not counted again");
    let (_, log) = app
        .get(
            &format!("/codex/api/audit?entity=asset&entity_id={id}&action=delete"),
            &admin,
        )
        .await;
    assert_eq!(log["total"], 1);

    // It comes back: same row, alive again.
    assert_eq!(
        assets::upsert_from_source(db, &device(cid, "uid-1", "LAPTOP-RENAMED"))
            .await
            .unwrap()
            .id,
        id
    );
    assert!(assets::get(db, id)
        .await
        .unwrap()
        .unwrap()
        .deleted_at
        .is_none());

    let mut bad = device(cid, "uid-x", " ");
    assert!(
        assets::upsert_from_source(db, &bad).await.is_err(),
        "hostname is required"
    );
    bad.hostname = "ok".into();
    bad.external_source = String::new();
    assert!(
        assets::upsert_from_source(db, &bad).await.is_err(),
        "source is required"
    );
});

both!(openapi_documents_the_asset_routes, |app| {
    let admin = app.admin().await;
    let (s, doc) = app.get("/openapi.json", &admin).await;
    assert_eq!(s, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for (p, methods) in [
        ("/codex/api/assets", &["get", "post"][..]),
        ("/codex/api/assets/{id}", &["get", "put", "delete"][..]),
        ("/codex/api/assets/{id}/contacts", &["get", "put"][..]),
        ("/codex/api/companies/{account_number}/assets", &["get"][..]),
        ("/codex/api/rmm/devices", &["get"][..]),
        ("/codex/api/rmm/device/{device_id}", &["get"][..]),
    ] {
        for m in methods {
            assert!(paths[p].get(*m).is_some(), "missing {m} {p}");
        }
    }
    assert!(doc["components"]["schemas"]["Asset"].is_object());
});
