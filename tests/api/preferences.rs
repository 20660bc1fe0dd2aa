//! User preferences: own settings, validation, the gateway's public lookups, the admin
//! endpoints, roles.

use crate::both;
use crate::helpers::*;
use hivematrix::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const MY: &str = "/codex/api/my/settings";

fn theme_of(email: &str) -> String {
    format!("/codex/api/public/user/theme?email={email}")
}

fn home_of(email: &str) -> String {
    format!("/codex/api/public/user/home-page?email={email}")
}

fn prefs(b: &Value) -> [&Value; 4] {
    [
        &b["theme_preference"],
        &b["preferred_color_theme"],
        &b["knowledgetree_view_preference"],
        &b["home_page_preference"],
    ]
}

both!(defaults_then_update_then_read_back, |app| {
    let tech = app.caller(Role::Technician, None).await;
    let (s, b) = app.get(MY, &tech).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        prefs(&b),
        [
            &json!("light"),
            &json!("purple"),
            &json!("grid"),
            &json!("beacon")
        ]
    );
    assert_eq!(b["synced"], false);
    assert_eq!(b["email"], json!(tech.email));
    assert_eq!(b["username"], "Test technician");

    let (s, b) = app
        .put(
            MY,
            &tech,
            json!({"theme_preference": "Dark", "preferred_color_theme": "bee",
                   "home_page_preference": "ledger"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["success"], true);
    assert_eq!(
        prefs(&b),
        [
            &json!("dark"),
            &json!("bee"),
            &json!("grid"),
            &json!("ledger")
        ]
    );

    // Only the field sent changes (the gateway's toggle sends just the theme).
    let (s, _) = app
        .put(
            MY,
            &tech,
            json!({"theme_preference": "light", "knowledgetree_view_preference": "tree"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, b) = app.get(MY, &tech).await;
    assert_eq!(
        prefs(&b),
        [
            &json!("light"),
            &json!("bee"),
            &json!("tree"),
            &json!("ledger")
        ]
    );
    assert_eq!(b["synced"], true);

    let p = hivematrix::codex::preferences::for_user(&app.db, tech.user_id)
        .await
        .unwrap();
    assert_eq!((p.color_theme.as_str(), p.stored), ("bee", true));
});

both!(invalid_enum_is_422_and_changes_nothing, |app| {
    let client_co = {
        let admin = app.admin().await;
        app.company(&admin, "710001", "Pref Co").await
    };
    let client = app.caller(Role::Client, client_co["id"].as_i64()).await;
    let (s, _) = app
        .put(MY, &client, json!({"preferred_color_theme": "green"}))
        .await;
    assert_eq!(s, StatusCode::OK, "clients may change their own settings");

    let (s, b) = app
        .put(
            MY,
            &client,
            json!({"theme_preference": "dark", "preferred_color_theme": "pink",
                   "knowledgetree_view_preference": "list", "home_page_preference": "nexus"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["preferred_color_theme"]
        .as_str()
        .unwrap()
        .contains("purple, blue, green, orange, gold, red, yellow, matrix, bee"));
    assert!(b["errors"]["knowledgetree_view_preference"]
        .as_str()
        .unwrap()
        .contains("grid, tree, hierarchy"));
    assert!(b["errors"]["home_page_preference"]
        .as_str()
        .unwrap()
        .contains("helm"));
    assert!(b["errors"].get("theme_preference").is_none());
    let (s, b) = app.put(MY, &client, json!({"theme": "dark"})).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);

    let (_, b) = app.get(MY, &client).await;
    assert_eq!(
        prefs(&b),
        [
            &json!("light"),
            &json!("green"),
            &json!("grid"),
            &json!("beacon")
        ],
        "the valid theme in the rejected request was not applied"
    );
});

both!(public_lookups_report_codex_or_default, |app| {
    let tech = app.caller(Role::Technician, None).await;
    let other = app.caller(Role::Billing, None).await;
    let (s, _) = app
        .put(
            MY,
            &other,
            json!({"theme_preference": "dark", "preferred_color_theme": "matrix",
                   "home_page_preference": "helm"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    let (s, b) = app.get(&theme_of(&other.email.to_uppercase()), &tech).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b,
        json!({"theme": "dark", "color_theme": "matrix", "source": "codex", "email": other.email})
    );
    let (_, b) = app.get(&home_of(&other.email), &tech).await;
    assert_eq!(
        b,
        json!({"home_page": "helm", "source": "codex", "email": other.email})
    );

    // A user without saved preferences, and an address without an account: defaults.
    for email in [tech.email.as_str(), "nobody@example.com"] {
        let (_, b) = app.get(&theme_of(email), &other).await;
        assert_eq!(
            (&b["theme"], &b["color_theme"], &b["source"]),
            (&json!("light"), &json!("purple"), &json!("default"))
        );
        let (_, b) = app.get(&home_of(email), &other).await;
        assert_eq!(
            (&b["home_page"], &b["source"]),
            (&json!("beacon"), &json!("default"))
        );
    }

    let (s, b) = app.get("/codex/api/public/user/theme", &tech).await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST);
    let (s, b) = app.get(&home_of(""), &tech).await;
    assert_problem(s, &b, StatusCode::BAD_REQUEST);
    let (s, b) = app.get(&theme_of("not-an-email"), &tech).await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["email"].is_string());
});

both!(client_may_look_up_only_themselves, |app| {
    let admin = app.admin().await;
    let co = app.company(&admin, "710002", "Client Co").await;
    let client = app.caller(Role::Client, co["id"].as_i64()).await;
    let (s, b) = app.get(&theme_of(&client.email), &client).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["source"], "default");
    let (s, b) = app.get(&home_of(&client.email), &client).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    for path in [theme_of(&admin.email), home_of(&admin.email)] {
        let (s, b) = app.get(&path, &client).await;
        assert_problem(s, &b, StatusCode::FORBIDDEN);
    }
    let (s, b) = app.get(&theme_of("nobody@example.com"), &client).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
});

both!(admin_reads_and_sets_anyones_settings, |app| {
    let admin = app.admin().await;
    let tech = app.caller(Role::Technician, None).await;
    let path = format!("/codex/api/users/{}/settings", tech.user_id);
    let (s, b) = app.get(&path, &admin).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (&b["email"], &b["synced"]),
        (&json!(tech.email), &json!(false))
    );

    let (s, b) = app
        .put(&path, &admin, json!({"preferred_color_theme": "gold"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["preferred_color_theme"], "gold");
    assert_eq!(b["user_id"], tech.user_id);
    let (_, mine) = app.get(MY, &tech).await;
    assert_eq!(mine["preferred_color_theme"], "gold");
    let (_, admins) = app.get(MY, &admin).await;
    assert_eq!(
        admins["preferred_color_theme"], "purple",
        "the admin's own untouched"
    );

    let (s, b) = app
        .put(&path, &admin, json!({"theme_preference": "sepia"}))
        .await;
    assert_problem(s, &b, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["errors"]["theme_preference"].is_string());

    let (s, b) = app.get("/codex/api/users/999999/settings", &admin).await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);
    let (s, b) = app
        .put(
            "/codex/api/users/999999/settings",
            &admin,
            json!({"theme_preference": "dark"}),
        )
        .await;
    assert_problem(s, &b, StatusCode::NOT_FOUND);

    // Audited: who changed whose settings, before and after.
    let (_, log) = app
        .get(
            &format!(
                "/codex/api/audit?entity=user_preferences&entity_id={}",
                tech.user_id
            ),
            &admin,
        )
        .await;
    let e = &log["entries"][0];
    assert_eq!(
        (&e["action"], &e["actor_email"]),
        (&json!("create"), &json!(admin.email))
    );
    assert_eq!(e["after"]["color_theme"], "gold");
});

both!(admin_endpoints_refuse_other_roles, |app| {
    let admin = app.admin().await;
    let tech = app.caller(Role::Technician, None).await;
    let path = format!("/codex/api/users/{}/settings", admin.user_id);
    let (s, b) = app.get(&path, &tech).await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
    let (s, b) = app
        .put(&path, &tech, json!({"theme_preference": "dark"}))
        .await;
    assert_problem(s, &b, StatusCode::FORBIDDEN);
    let (_, b) = app.get(MY, &admin).await;
    assert_eq!(b["theme_preference"], "light", "unchanged");
});

both!(no_token_is_401, |app| {
    for (method, path) in [
        (Method::GET, MY.to_string()),
        (Method::PUT, MY.to_string()),
        (Method::GET, theme_of("a@example.com")),
        (Method::GET, home_of("a@example.com")),
        (Method::GET, "/codex/api/users/1/settings".to_string()),
        (Method::PUT, "/codex/api/users/1/settings".to_string()),
    ] {
        let body = (method == Method::PUT).then(|| json!({"theme_preference": "dark"}));
        let (s, b) = app.call(method, &path, None, body).await;
        assert_problem(s, &b, StatusCode::UNAUTHORIZED);
    }
});

both!(openapi_lists_locations_and_preferences_routes, |app| {
    let admin = app.admin().await;
    let (s, doc) = app.get("/openapi.json", &admin).await;
    assert_eq!(s, StatusCode::OK);
    let paths = &doc["paths"];
    for (p, methods) in [
        (
            "/codex/api/companies/{account_number}/locations",
            &["get", "post"][..],
        ),
        (
            "/codex/api/companies/{account_number}/locations/{id}",
            &["get", "put", "patch", "delete"][..],
        ),
        (MY, &["get", "put"][..]),
        ("/codex/api/users/{id}/settings", &["get", "put"][..]),
        ("/codex/api/public/user/theme", &["get"][..]),
        ("/codex/api/public/user/home-page", &["get"][..]),
    ] {
        for m in methods {
            assert!(paths[p][m].is_object(), "{m} {p} missing from OpenAPI");
        }
    }
    let schemas = &doc["components"]["schemas"];
    for s in [
        "Location",
        "LocationInput",
        "Settings",
        "SettingsSaved",
        "ThemeLookup",
    ] {
        assert!(schemas[s].is_object(), "schema {s} missing");
    }
});
