//! Billing plans, features, feature options and categories, import/export, the legacy
//! `/billing-plans/api/*` envelopes and company feature overrides.

use crate::both;
use crate::helpers::*;
use hivematrix::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PLANS: &str = "/codex/api/billing-plans";

/// Creates a plan through the API and returns it.
async fn plan(app: &TestApp, who: &Caller, body: Value) -> Value {
    let (s, p) = app.post(PLANS, who, body).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    p
}

async fn billing(app: &TestApp) -> Caller {
    app.caller(Role::Billing, None).await
}

async fn plan_count(app: &TestApp, who: &Caller) -> usize {
    let (s, list) = app.get(PLANS, who).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list.as_array().unwrap().len()
}

async fn patch(app: &TestApp, path: &str, who: &Caller, body: Value) -> (StatusCode, Value) {
    app.call(Method::PATCH, path, Some(who), Some(body)).await
}

/// The export document without its timestamp, for comparisons.
async fn export(app: &TestApp, who: &Caller) -> Value {
    let (s, mut doc) = app.get(&format!("{PLANS}/export"), who).await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(doc["version"], 1);
    doc.as_object_mut().unwrap().remove("exported_at");
    doc
}

/// A second, empty app on the same backend as `app`.
async fn sibling(app: &TestApp) -> TestApp {
    let backend = match app.db.backend {
        hivematrix::db::Backend::Sqlite => Backend::Sqlite,
        hivematrix::db::Backend::Postgres => Backend::Postgres,
    };
    spawn(backend).await.expect("second app")
}

/// A small catalogue: two terms of one plan with features, options and a category.
async fn seed_catalogue(app: &TestApp, who: &Caller) {
    let (s, c) = app
        .post(
            "/codex/api/feature-categories",
            who,
            json!({"category_name": "Antivirus", "display_name": "Anti-Virus", "description": "endpoint"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    for (cat, value) in [("antivirus", "SentinelOne"), ("soc", "24x7")] {
        let (s, o) = app
            .post(
                "/codex/api/feature-options",
                who,
                json!({"feature_category": cat, "option_value": value, "display_name": format!("{value}!")}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{o}");
    }
    plan(
        app,
        who,
        json!({"plan_name": "Gold", "term_length": "1 Year", "per_user_cost": "12.50",
               "per_hour_ticket_cost": 90, "backup_included_tb": 2.25, "support_level": "Unlimited",
               "features": {"antivirus": "SentinelOne", "soc": "24x7"}}),
    )
    .await;
    plan(
        app,
        who,
        json!({"plan_name": "Gold", "term_length": "Month to Month", "per_user_cost": 15}),
    )
    .await;
}

both!(plan_crud_filters_and_duplicates, |app| {
    let who = billing(&app).await;
    let p = plan(
        &app,
        &who,
        json!({"plan_name": "Professional", "term_length": "1-Year", "per_user_cost": 12.5,
               "per_workstation_cost": "7.25", "backup_included_tb": "1.5",
               "features": {"Antivirus": "SentinelOne", "soc": ""}}),
    )
    .await;
    assert_eq!(p["term_length"], "1 Year", "terms are normalised");
    assert_eq!(p["billing_plan"], "Professional");
    assert_eq!(p["per_user_cost"], "12.50");
    assert_eq!(p["per_workstation_cost"], "7.25");
    assert_eq!(p["per_server_cost"], "0.00");
    assert_eq!(p["backup_included_tb"], "1.50");
    assert_eq!(p["support_level"], "Billed Hourly");
    assert_eq!(p["features"], json!({"antivirus": "SentinelOne"}));
    let id = p["id"].as_i64().unwrap();
    plan(
        &app,
        &who,
        json!({"plan_name": "Professional", "term_length": "Month to Month"}),
    )
    .await;
    plan(
        &app,
        &who,
        json!({"plan_name": "Basic", "term_length": "3 Year"}),
    )
    .await;

    let (s, got) = app.get(&format!("{PLANS}/{id}"), &who).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, p);

    // Filters, sort and pagination.
    let r = app
        .client
        .get(app.url(&format!("{PLANS}?plan_name=Professional&limit=1")))
        .bearer_auth(&who.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-total-count"], "2");
    assert!(r.headers().get("link").is_some());
    let (_, list) = app
        .get(&format!("{PLANS}?term_length=12%20months"), &who)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id);
    let (_, list) = app
        .get(&format!("{PLANS}?sort=per_user_cost&order=desc"), &who)
        .await;
    assert_eq!(list[0]["id"], id);
    let (s, b) = app.get(&format!("{PLANS}?sort=secret"), &who).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);

    // Duplicates: same name and term (any spelling).
    let (s, b) = app
        .post(
            PLANS,
            &who,
            json!({"plan_name": "Professional", "term_length": "12 months"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    let (s, b) = app
        .put(
            &format!("{PLANS}/{id}"),
            &who,
            json!({"term_length": "Month to Month"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::CONFLICT);

    // PUT and PATCH patch; absent fields stay, null resets to the default.
    let (s, up) = app
        .put(
            &format!("{PLANS}/{id}"),
            &who,
            json!({"per_server_cost": "100", "backup_included_tb": null}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(up["per_server_cost"], "100.00");
    assert_eq!(up["backup_included_tb"], "1.00");
    assert_eq!(up["per_user_cost"], "12.50");
    assert_eq!(up["features"], json!({"antivirus": "SentinelOne"}));
    let (s, up) = patch(
        &app,
        &format!("{PLANS}/{id}"),
        &who,
        json!({"support_level": "Unlimited"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(up["support_level"], "Unlimited");
    assert_eq!(up["id"], id);

    // By name and term, URL-encoded, any spelling of the term.
    let (s, named) = app.get(&format!("{PLANS}/Professional/1-Year"), &who).await;
    assert_eq!(s, StatusCode::OK, "{named}");
    assert_eq!(named["id"], id);
    let (s, named) = app.get(&format!("{PLANS}/Basic/3%20Year"), &who).await;
    assert_eq!(s, StatusCode::OK, "{named}");
    let (s, b) = app.get(&format!("{PLANS}/Nope/1%20Year"), &who).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);

    // Delete, then it is gone.
    let (s, _) = app.delete(&format!("{PLANS}/{id}"), &who).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    for (m, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({}))),
        (Method::DELETE, None),
    ] {
        let (s, b) = app
            .call(m, &format!("{PLANS}/{id}"), Some(&who), body)
            .await;
        assert_problem(s, &b, StatusCode::NOT_FOUND);
    }

    // Every write is audited.
    let admin = app.admin().await;
    let (_, audit) = app
        .get(
            &format!("/codex/api/audit?entity=billing_plan&entity_id={id}"),
            &admin,
        )
        .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["delete", "update", "update", "create"]);
});

both!(
    money_validation_rejects_everything_and_writes_nothing,
    |app| {
        let who = billing(&app).await;
        let (s, b) = app
        .post(
            PLANS,
            &who,
            json!({"plan_name": "Gold", "per_user_cost": 12.345, "per_vm_cost": "-1",
                   "per_switch_cost": "ten", "backup_included_tb": "0.125", "backup_per_tb_fee": true}),
        )
        .await;
        assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
        let errors = b["errors"].as_object().unwrap();
        for f in [
            "term_length",
            "per_user_cost",
            "per_vm_cost",
            "per_switch_cost",
            "backup_included_tb",
            "backup_per_tb_fee",
        ] {
            assert!(errors.contains_key(f), "{f} missing in {b}");
        }
        assert_eq!(plan_count(&app, &who).await, 0, "nothing was written");

        let (s, b) = app
            .post(
                PLANS,
                &who,
                json!({"plan_name": "Gold", "term_length": "forever"}),
            )
            .await;
        assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(b["errors"]["term_length"]
            .as_str()
            .unwrap()
            .contains("1 Year"));

        let p = plan(
            &app,
            &who,
            json!({"plan_name": "Gold", "term_length": "2 Year", "per_user_cost": 5}),
        )
        .await;
        let (s, b) = app
        .put(
            &format!("{PLANS}/{}", p["id"]),
            &who,
            json!({"per_user_cost": 1.001, "plan_name": "", "features": {"soc": "x".repeat(151)}}),
        )
        .await;
        assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(b["errors"]["per_user_cost"].is_string());
        assert!(b["errors"]["plan_name"].is_string());
        assert!(b["errors"]["features.soc"].is_string(), "{b}");
        let (_, after) = app.get(&format!("{PLANS}/{}", p["id"]), &who).await;
        assert_eq!(after, p, "a rejected update changes nothing");

        let (s, b) = app
            .post(
                PLANS,
                &who,
                json!({"plan_name": "X", "term_length": "1 Year", "colour": "red"}),
            )
            .await;
        assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    }
);

both!(features_replace_and_copy_terms, |app| {
    let who = billing(&app).await;
    let p = plan(
        &app,
        &who,
        json!({"plan_name": "Gold", "term_length": "1 Year", "per_user_cost": "20",
               "support_level": "Unlimited", "features": {"soc": "Basic"}}),
    )
    .await;
    let id = p["id"].as_i64().unwrap();
    let (s, up) = app
        .put(
            &format!("{PLANS}/{id}/features"),
            &who,
            json!({"antivirus": "SentinelOne", "Email Security": "Proofpoint", "soc": null}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(
        up["features"],
        json!({"antivirus": "SentinelOne", "email_security": "Proofpoint"}),
        "the set is replaced, keys normalised, nulls dropped"
    );
    let (s, b) = app
        .put(&format!("{PLANS}/{id}/features"), &who, json!({" ": "x"}))
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = app
        .put(&format!("{PLANS}/999999/features"), &who, json!({}))
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);

    // An existing 2 Year plan is overwritten; Month to Month is created.
    let old = plan(
        &app,
        &who,
        json!({"plan_name": "Gold", "term_length": "2 Year", "per_user_cost": 1}),
    )
    .await;
    let (s, copies) = app
        .post(
            &format!("{PLANS}/{id}/copy-terms"),
            &who,
            json!({"term_lengths": ["2-Year", "Month to Month"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{copies}");
    let copies = copies.as_array().unwrap();
    assert_eq!(copies.len(), 2);
    assert_eq!(copies[0]["id"], old["id"], "existing term keeps its row id");
    for c in copies {
        assert_eq!(c["plan_name"], "Gold");
        assert_eq!(c["per_user_cost"], "20.00");
        assert_eq!(c["support_level"], "Unlimited");
        assert_eq!(c["features"], up["features"], "features are copied too");
    }
    assert_eq!(copies[1]["term_length"], "Month to Month");
    assert_eq!(plan_count(&app, &who).await, 3);

    let (s, b) = app
        .post(
            &format!("{PLANS}/{id}/copy-terms"),
            &who,
            json!({"term_lengths": ["1 Year", "decade"]}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        b["errors"]["term_lengths[0]"].is_string() && b["errors"]["term_lengths[1]"].is_string()
    );
    let (s, b) = app
        .post(
            &format!("{PLANS}/999999/copy-terms"),
            &who,
            json!({"term_lengths": ["3 Year"]}),
        )
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    assert_eq!(plan_count(&app, &who).await, 3);
});

both!(plans_in_use_cannot_be_deleted_or_renamed, |app| {
    let who = billing(&app).await;
    let admin = app.admin().await;
    let p = plan(
        &app,
        &who,
        json!({"plan_name": "Gold", "term_length": "1 Year"}),
    )
    .await;
    let other = plan(
        &app,
        &who,
        json!({"plan_name": "Gold", "term_length": "3 Year"}),
    )
    .await;
    for acct in ["700001", "700002"] {
        let (s, c) = app
            .post(
                "/codex/api/companies",
                &admin,
                json!({"account_number": acct, "name": format!("Co {acct}"),
                       "billing_plan": "Gold", "contract_term_length": "1-Year"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
    }
    let (s, b) = app.delete(&format!("{PLANS}/{}", p["id"]), &who).await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    assert!(b["detail"].as_str().unwrap().contains("2 companies"), "{b}");
    let (s, b) = app
        .put(
            &format!("{PLANS}/{}", p["id"]),
            &who,
            json!({"plan_name": "Platinum"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    // Price changes are fine while in use.
    let (s, _) = app
        .put(
            &format!("{PLANS}/{}", p["id"]),
            &who,
            json!({"per_user_cost": 3}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // The unused term can go.
    let (s, _) = app.delete(&format!("{PLANS}/{}", other["id"]), &who).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    for acct in ["700001", "700002"] {
        let (s, _) = app
            .put(
                &format!("/codex/api/companies/{acct}"),
                &admin,
                json!({"billing_plan": null}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, _) = app.delete(&format!("{PLANS}/{}", p["id"]), &who).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
});

both!(feature_options_and_categories, |app| {
    let who = billing(&app).await;
    let (s, o) = app
        .post(
            "/codex/api/feature-options",
            &who,
            json!({"feature_category": "antivirus", "option_value": "SentinelOne", "description": "EDR"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    assert_eq!(o["feature_type"], "antivirus", "legacy alias echoed");
    assert!(o["display_name"].is_null());
    let id = o["id"].as_i64().unwrap();
    // The original's legacy names are accepted and land in the one column pair.
    let (s, legacy) = app
        .post(
            "/codex/api/feature-options",
            &who,
            json!({"feature_type": "Email", "display_name": "Microsoft 365"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{legacy}");
    assert_eq!(legacy["feature_category"], "email");
    assert_eq!(legacy["option_value"], "Microsoft 365");
    let (s, b) = app
        .post(
            "/codex/api/feature-options",
            &who,
            json!({"feature_category": "antivirus", "option_value": "SentinelOne"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    let (s, b) = app
        .post(
            "/codex/api/feature-options",
            &who,
            json!({"description": "x"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["feature_category"].is_string() && b["errors"]["option_value"].is_string());

    let r = app
        .client
        .get(app.url("/codex/api/feature-options?category=antivirus"))
        .bearer_auth(&who.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-total-count"], "1");
    let list: Value = r.json().await.unwrap();
    assert_eq!(list[0]["id"], id);

    let (s, up) = app
        .put(
            &format!("/codex/api/feature-options/{id}"),
            &who,
            json!({"display_name": "Sentinel One", "description": null}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(up["display_name"], "Sentinel One");
    assert!(up["description"].is_null());
    assert_eq!(up["option_value"], "SentinelOne");
    let (s, b) = app
        .put(
            &format!("/codex/api/feature-options/{id}"),
            &who,
            json!({"feature_category": "email", "option_value": "Microsoft 365"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    let (s, b) = app
        .put("/codex/api/feature-options/999999", &who, json!({}))
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);

    // Categories: key normalised, first option "Not Included", duplicates refused.
    let (s, c) = app
        .post(
            "/codex/api/feature-categories",
            &who,
            json!({"category_name": "Email Security"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["feature_key"], "email_security");
    assert_eq!(c["display_name"], "Email Security");
    let (s, b) = app
        .post(
            "/codex/api/feature-categories",
            &who,
            json!({"feature_key": "email_security"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    let (s, b) = app
        .post(
            "/codex/api/feature-categories",
            &who,
            json!({"feature_key": "antivirus"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::CONFLICT);
    let (s, b) = app
        .post(
            "/codex/api/feature-categories",
            &who,
            json!({"feature_key": " "}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, cats) = app.get("/codex/api/feature-categories", &who).await;
    assert_eq!(s, StatusCode::OK);
    let keys: Vec<&str> = cats
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["feature_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["antivirus", "email", "email_security"]);
    assert_eq!(cats[2]["option_count"], 1);
    assert_eq!(cats[2]["configured"], true);
    assert_eq!(cats[0]["configured"], false);
    let (_, opts) = app
        .get("/codex/api/feature-options?category=email_security", &who)
        .await;
    assert_eq!(opts[0]["option_value"], "Not Included");

    let (s, _) = app
        .delete(&format!("/codex/api/feature-options/{id}"), &who)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = app
        .delete(&format!("/codex/api/feature-options/{id}"), &who)
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
});

both!(export_import_round_trip, |app| {
    let who = billing(&app).await;
    seed_catalogue(&app, &who).await;
    let doc = export(&app, &who).await;
    assert_eq!(doc["plans"].as_array().unwrap().len(), 2);
    assert_eq!(
        doc["plans"][0]["term_length"], "1 Year",
        "ordered by name, then term"
    );
    assert_eq!(doc["plans"][0]["backup_included_tb"], "2.25");
    assert_eq!(doc["plans"][1]["per_user_cost"], "15.00");
    assert_eq!(doc["feature_options"].as_array().unwrap().len(), 3);
    assert_eq!(doc["feature_categories"][0]["display_name"], "Anti-Virus");

    let other = sibling(&app).await;
    let who2 = billing(&other).await;
    let (s, report) = other
        .post(&format!("{PLANS}/import"), &who2, doc.clone())
        .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["plans"]["created"], 2);
    assert_eq!(report["feature_options"]["created"], 3);
    assert_eq!(report["feature_categories"]["created"], 1);
    assert_eq!(
        export(&other, &who2).await,
        doc,
        "export → import reproduces everything"
    );

    // Importing the same document again changes nothing.
    let (s, again) = other
        .post(&format!("{PLANS}/import"), &who2, doc.clone())
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        again["plans"],
        json!({"created": 0, "updated": 0, "unchanged": 2})
    );
    assert_eq!(again["changes"], json!([]));

    // An edited document updates by (name, term) and keeps row ids.
    let (_, before) = other.get(&format!("{PLANS}/Gold/1%20Year"), &who2).await;
    let mut edited = doc.clone();
    edited["plans"][0]["per_user_cost"] = json!(13);
    edited["plans"][0]["features"] = json!({"antivirus": "Defender"});
    let (_, upd) = other.post(&format!("{PLANS}/import"), &who2, edited).await;
    assert_eq!(
        upd["plans"],
        json!({"created": 0, "updated": 1, "unchanged": 1})
    );
    let (_, after) = other.get(&format!("{PLANS}/Gold/1%20Year"), &who2).await;
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["per_user_cost"], "13.00");
    assert_eq!(after["features"], json!({"antivirus": "Defender"}));
});

both!(bad_import_changes_nothing_and_dry_run_only_reports, |app| {
    let who = billing(&app).await;
    let doc = json!({
        "version": 1,
        "plans": [
            {"plan_name": "Gold", "term_length": "1 Year", "per_user_cost": 10},
            {"plan_name": "Silver", "term_length": "1 Year", "per_user_cost": -5},
            {"plan_name": "Gold", "term_length": "1-Year"},
            {"plan_name": "Bronze", "term_length": "1 Year", "bogus": 1}
        ],
        "feature_options": [
            {"feature_category": "soc", "option_value": "24x7"},
            {"feature_category": "soc"}
        ]
    });
    let (s, b) = app.post(&format!("{PLANS}/import"), &who, doc).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = b["errors"].as_object().unwrap();
    for k in [
        "plans[1].per_user_cost",
        "plans[2]",
        "plans[3]",
        "feature_options[1].option_value",
    ] {
        assert!(errors.contains_key(k), "{k} missing in {b}");
    }
    assert_eq!(
        plan_count(&app, &who).await,
        0,
        "the valid plan was not written either"
    );
    let (_, opts) = app.get("/codex/api/feature-options", &who).await;
    assert_eq!(opts, json!([]));

    let (s, b) = app
        .post(&format!("{PLANS}/import"), &who, json!({"plans": []}))
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["feature_options"].is_string());
    let (s, b) = app
        .post(
            &format!("{PLANS}/import"),
            &who,
            json!({"version": 99, "plans": [], "feature_options": []}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["version"].is_string());

    // Dry run: the report of a real import, and nothing written.
    plan(
        &app,
        &who,
        json!({"plan_name": "Gold", "term_length": "1 Year", "per_user_cost": 1}),
    )
    .await;
    let good = json!({
        "plans": [
            {"plan_name": "Gold", "term_length": "1 Year", "per_user_cost": "10.00"},
            {"plan_name": "Silver", "term_length": "2 Year"}
        ],
        "feature_options": [{"feature_category": "soc", "option_value": "24x7"}]
    });
    let (s, r) = app
        .post(&format!("{PLANS}/import?dry_run=true"), &who, good.clone())
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["dry_run"], true);
    assert_eq!(
        r["plans"],
        json!({"created": 1, "updated": 1, "unchanged": 0})
    );
    assert_eq!(r["feature_options"]["created"], 1);
    assert_eq!(r["changes"].as_array().unwrap().len(), 3);
    assert_eq!(plan_count(&app, &who).await, 1);
    let (_, gold) = app.get(&format!("{PLANS}/Gold/1%20Year"), &who).await;
    assert_eq!(gold["per_user_cost"], "1.00", "dry run wrote nothing");
    let (_, real) = app.post(&format!("{PLANS}/import"), &who, good).await;
    assert_eq!(real["plans"], r["plans"]);
    assert_eq!(plan_count(&app, &who).await, 2);
});

both!(legacy_envelopes_keep_the_original_shapes, |app| {
    let who = billing(&app).await;
    seed_catalogue(&app, &who).await;
    let tech = app.caller(Role::Technician, None).await;
    let (s, all) = app.get("/codex/billing-plans/api/plans", &tech).await;
    assert_eq!(s, StatusCode::OK, "{all}");
    assert_eq!(all["status"], "success");
    assert_eq!(all["count"], 2);
    let gold = all["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["term_length"] == "1 Year")
        .unwrap();
    assert_eq!(gold["per_user_cost"], "12.50");
    assert_eq!(gold["per_hour_ticket_cost"], "90.00");
    assert_eq!(gold["features"]["antivirus"], "SentinelOne");
    assert_eq!(gold["feature_display_names"]["antivirus"], "Anti-Virus");
    assert_eq!(gold["feature_display_names"]["soc"], "Soc");
    for k in [
        "id",
        "plan_name",
        "support_level",
        "backup_per_tb_fee",
        "backup_base_fee_server",
    ] {
        assert!(!gold[k].is_null(), "{k} missing");
    }

    let (s, one) = app
        .get(
            "/codex/billing-plans/api/plans/Gold/Month%20to%20Month",
            &tech,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(one["status"], "success");
    assert_eq!(one["plan"]["per_user_cost"], "15.00");
    assert_eq!(one["plan"]["support_level"], "Billed Hourly");
    let (s, b) = app
        .get("/codex/billing-plans/api/plans/Gold/2%20Year", &tech)
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);

    let (s, opts) = app
        .get("/codex/billing-plans/api/feature-options", &tech)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(opts["categories"], json!(["antivirus", "soc"]));
    let av = opts["features"]["antivirus"].as_array().unwrap();
    assert_eq!(av.len(), 2);
    assert_eq!(av[0]["value"], "Not Included");
    assert_eq!(
        av[0]["display_name"], "Not Included",
        "falls back to the value"
    );
    assert_eq!(av[1]["category"], "antivirus");
    assert_eq!(av[1]["display_name"], "SentinelOne!");

    let (s, cats) = app
        .get("/codex/billing-plans/api/feature-categories", &tech)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        cats,
        json!({"status": "success", "categories": ["antivirus", "soc"], "count": 2})
    );

    // The OpenAPI document lists them and says money is a string.
    let (_, api) = app.get("/openapi.json", &tech).await;
    let desc = api["paths"]["/codex/billing-plans/api/plans"]["get"]["description"]
        .as_str()
        .unwrap_or_default()
        .to_string()
        + api["paths"]["/codex/billing-plans/api/plans"]["get"]["summary"]
            .as_str()
            .unwrap_or_default();
    assert!(desc.contains("strings"), "{desc}");
    for path in [
        "/codex/api/billing-plans/{id}/copy-terms",
        "/codex/api/billing-plans/import",
        "/codex/api/companies/{account_number}/feature-overrides",
        "/codex/billing-plans/api/feature-categories",
    ] {
        assert!(api["paths"][path].is_object(), "{path} not documented");
    }
});

both!(company_overrides_give_the_effective_features, |app| {
    let who = billing(&app).await;
    let admin = app.admin().await;
    seed_catalogue(&app, &who).await;
    let own = app
        .post(
            "/codex/api/companies",
            &admin,
            json!({"account_number": "800001", "name": "Own", "billing_plan": "Gold",
                   "contract_term_length": "12 months"}),
        )
        .await
        .1;
    app.company(&admin, "800002", "Other").await;
    let path = "/codex/api/companies/800001/feature-overrides";

    let (s, view) = app.get(path, &who).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["term_length"], "1 Year");
    assert_eq!(view["support_level"], "Unlimited");
    assert_eq!(
        view["features"],
        json!({"antivirus": "SentinelOne", "soc": "24x7"})
    );

    let (s, view) = app
        .put(
            path,
            &who,
            json!({"antivirus": "Defender", "Email Security": null, "soc": ""}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["overrides"], json!({"antivirus": "Defender"}));
    assert_eq!(
        view["features"],
        json!({"antivirus": "Defender", "soc": "24x7"})
    );
    let av = view["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["feature_type"] == "antivirus")
        .unwrap()
        .clone();
    assert_eq!(av["source"], "override");
    assert_eq!(av["plan_value"], "SentinelOne");
    assert_eq!(av["display_name"], "Anti-Virus");

    // Unknown features are refused and nothing changes.
    let (s, b) = app
        .put(
            path,
            &who,
            json!({"antivirus": "Other", "warp_drive": "yes"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["overrides.warp_drive"].is_string(), "{b}");
    let (_, still) = app.get(path, &who).await;
    assert_eq!(still["overrides"], json!({"antivirus": "Defender"}));

    // Clients read their own company only, and may not write.
    let client = app.caller(Role::Client, own["id"].as_i64()).await;
    let (s, mine) = app.get(path, &client).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mine["features"]["antivirus"], "Defender");
    let (s, b) = app
        .get("/codex/api/companies/800002/feature-overrides", &client)
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, b) = app.put(path, &client, json!({})).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
    let tech = app.caller(Role::Technician, None).await;
    let (s, b) = app.put(path, &tech, json!({})).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
    let (s, b) = app
        .get("/codex/api/companies/999999/feature-overrides", &who)
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);

    // Ledger's in-process view is the same.
    let eff = hivematrix::codex::plans::effective_features(&app.db, own["id"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(eff.features["antivirus"], "Defender");
    let found = hivematrix::codex::plans::find_plan(&app.db, "Gold", "1-Year")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.costs.per_user_cost.to_string(), "12.50");
    assert_eq!(
        hivematrix::codex::plans::all_plans(&app.db)
            .await
            .unwrap()
            .len(),
        2
    );

    // Clearing the set.
    let (s, view) = app.put(path, &who, json!({})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(view["overrides"], json!({}));
    assert_eq!(view["features"]["antivirus"], "SentinelOne");
});

both!(role_matrix, |app| {
    let who = billing(&app).await;
    let p = plan(
        &app,
        &who,
        json!({"plan_name": "Gold", "term_length": "1 Year"}),
    )
    .await;
    let id = p["id"].as_i64().unwrap();
    let (_, o) = app
        .post(
            "/codex/api/feature-options",
            &who,
            json!({"feature_category": "soc", "option_value": "24x7"}),
        )
        .await;
    let oid = o["id"].as_i64().unwrap();
    let writes: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            PLANS.into(),
            json!({"plan_name": "X", "term_length": "1 Year"}),
        ),
        (
            Method::PUT,
            format!("{PLANS}/{id}"),
            json!({"per_user_cost": 1}),
        ),
        (
            Method::PATCH,
            format!("{PLANS}/{id}"),
            json!({"per_user_cost": 1}),
        ),
        (Method::DELETE, format!("{PLANS}/{id}"), Value::Null),
        (Method::PUT, format!("{PLANS}/{id}/features"), json!({})),
        (
            Method::POST,
            format!("{PLANS}/{id}/copy-terms"),
            json!({"term_lengths": ["2 Year"]}),
        ),
        (
            Method::POST,
            format!("{PLANS}/import"),
            json!({"plans": [], "feature_options": []}),
        ),
        (
            Method::POST,
            "/codex/api/feature-options".into(),
            json!({"feature_category": "a", "option_value": "b"}),
        ),
        (
            Method::PUT,
            format!("/codex/api/feature-options/{oid}"),
            json!({}),
        ),
        (
            Method::DELETE,
            format!("/codex/api/feature-options/{oid}"),
            Value::Null,
        ),
        (
            Method::POST,
            "/codex/api/feature-categories".into(),
            json!({"feature_key": "x"}),
        ),
    ];
    let tech = app.caller(Role::Technician, None).await;
    let admin = app.admin().await;
    let co = app.company(&admin, "900001", "Client Co").await;
    let client = app.caller(Role::Client, co["id"].as_i64()).await;
    for (m, path, body) in &writes {
        let body = (!body.is_null()).then(|| body.clone());
        for caller in [&tech, &client] {
            let (s, b) = app.call(m.clone(), path, Some(caller), body.clone()).await;
            assert_problem(s, &b, StatusCode::FORBIDDEN);
        }
        let (s, b) = app.call(m.clone(), path, None, body.clone()).await;
        assert_problem(s, &b, StatusCode::UNAUTHORIZED);
    }
    // Nothing changed.
    let (_, same) = app.get(&format!("{PLANS}/{id}"), &who).await;
    assert_eq!(same, p);

    let reads = [
        PLANS.to_string(),
        format!("{PLANS}/{id}"),
        format!("{PLANS}/Gold/1%20Year"),
        format!("{PLANS}/export"),
        "/codex/api/feature-options".into(),
        "/codex/api/feature-categories".into(),
        "/codex/billing-plans/api/plans".into(),
        "/codex/billing-plans/api/plans/Gold/1%20Year".into(),
        "/codex/billing-plans/api/feature-options".into(),
        "/codex/billing-plans/api/feature-categories".into(),
    ];
    for path in &reads {
        // Staff read the catalogue; a client's own data does not include price lists.
        let (s, b) = app.get(path, &tech).await;
        assert_eq!(s, StatusCode::OK, "{path}: {b}");
        let (s, b) = app.get(path, &client).await;
        assert_problem(s, &b, StatusCode::FORBIDDEN);
        let (s, b) = app.call(Method::GET, path, None, None).await;
        assert_problem(s, &b, StatusCode::UNAUTHORIZED);
    }

    // Admin writes billing data too.
    let (s, _) = app
        .put(
            &format!("{PLANS}/{id}"),
            &admin,
            json!({"per_user_cost": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
});
