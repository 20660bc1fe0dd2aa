//! Login, sessions, CSRF, tokens and the guard on every route.

use crate::both;
use crate::helpers::*;
use hivematrix::auth::{tokens, users, Role};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Logs in over JSON; returns (cookie header value, csrf token).
async fn login(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let resp = app
        .client
        .post(app.url("/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let set_cookie = resp.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    (cookie, body["csrf_token"].as_str().unwrap().to_string())
}

both!(session_login_csrf_and_logout, |app| {
    let admin = app.admin().await;
    let (cookie, csrf) = login(&app, &admin.email, "correct horse battery").await;

    let me = app
        .client
        .get(app.url("/api/me"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["email"], admin.email.as_str());
    assert_eq!(me["role"], "admin");

    // A cookie-authenticated write without the CSRF token is refused and changes nothing.
    let body = json!({"name": "Csrf Co", "account_number": "555001"});
    let r = app
        .client
        .post(app.url("/codex/api/companies"))
        .header(COOKIE, &cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (s, _) = app.get("/codex/api/companies/555001", &admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let r = app
        .client
        .post(app.url("/codex/api/companies"))
        .header(COOKIE, &cookie)
        .header("X-CSRF-Token", "wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let r = app
        .client
        .post(app.url("/codex/api/companies"))
        .header(COOKIE, &cookie)
        .header("X-CSRF-Token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // Logout needs the token too, revokes the session server-side.
    let r = app
        .client
        .post(app.url("/logout"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .post(app.url("/logout"))
        .header(COOKIE, &cookie)
        .header("X-CSRF-Token", &csrf)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .client
        .get(app.url("/api/me"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
});

both!(form_login_redirects_and_rejects_bad_passwords, |app| {
    let admin = app.admin().await;
    let r = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<form method=\"post\" action=\"/login\""));

    let r = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("email", admin.email.as_str()),
            ("password", "wrong password"),
            ("next", "/codex"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(SET_COOKIE).is_none());
    assert!(r.text().await.unwrap().contains("wrong"));

    let r = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("email", admin.email.as_str()),
            ("password", "correct horse battery"),
            ("next", "/codex/api/companies"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/codex/api/companies");
    assert!(r.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .starts_with("hm_session="));

    // No open redirect to another site.
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[
            ("email", admin.email.as_str()),
            ("password", "correct horse battery"),
            ("next", "//evil.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()[LOCATION], "/");

    let (s, body) = app
        .call(
            reqwest::Method::POST,
            "/login",
            None,
            Some(json!({"email": "nobody@x.io", "password": "whatever12"})),
        )
        .await;
    assert_problem(s, &body, StatusCode::UNAUTHORIZED);
});

both!(every_api_needs_authentication, |app| {
    for path in [
        "/codex/api/companies",
        "/api/me",
        "/metrics",
        "/openapi.json",
        "/codex/api/audit",
        "/docs/",
    ] {
        let (s, body) = app.call(reqwest::Method::GET, path, None, None).await;
        assert_problem(s, &body, StatusCode::UNAUTHORIZED);
    }
    // A browser asking for a page is sent to the login page instead.
    let r = app
        .client
        .get(app.url("/codex/api/companies"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()[LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/login?next="));
    // Public: probes and the login page.
    for path in ["/health", "/livez", "/login"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
});

both!(
    tokens_stop_working_when_revoked_expired_or_user_disabled,
    |app| {
        let admin = app.admin().await;
        let (s, _) = app.get("/api/me", &admin).await;
        assert_eq!(s, StatusCode::OK);

        let bogus = Caller {
            user_id: 0,
            email: String::new(),
            token: "hm_0000".into(),
        };
        let (s, body) = app.get("/api/me", &bogus).await;
        assert_problem(s, &body, StatusCode::UNAUTHORIZED);

        let list = tokens::list(&app.db, Some(admin.user_id)).await.unwrap();
        tokens::revoke(&app.db, list[0].id, None).await.unwrap();
        let (s, _) = app.get("/api/me", &admin).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        let tech = app.caller(Role::Technician, None).await;
        sqlx::query(
            "UPDATE api_tokens SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE user_id = $1",
        )
        .bind(tech.user_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
        let (s, _) = app.get("/api/me", &tech).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        let billing = app.caller(Role::Billing, None).await;
        users::set_disabled(&app.db, billing.user_id, true)
            .await
            .unwrap();
        let (s, _) = app.get("/api/me", &billing).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
);

both!(users_are_validated_and_unique, |app| {
    let bad = users::create(
        &app.db,
        users::NewUser {
            email: "not-an-email",
            name: "X",
            role: Role::Admin,
            company_id: None,
            password: Some("short"),
        },
    )
    .await;
    assert!(matches!(
        bad,
        Err(hivematrix::error::AppError::Validation(_))
    ));
    let client_without_company = users::create(
        &app.db,
        users::NewUser {
            email: "c@x.io",
            name: "C",
            role: Role::Client,
            company_id: None,
            password: Some("long enough password"),
        },
    )
    .await;
    assert!(matches!(
        client_without_company,
        Err(hivematrix::error::AppError::Validation(_))
    ));
    let admin = app.admin().await;
    let dup = users::create(
        &app.db,
        users::NewUser {
            email: &admin.email.to_uppercase(),
            name: "Dup",
            role: Role::Admin,
            company_id: None,
            password: Some("long enough password"),
        },
    )
    .await;
    assert!(matches!(dup, Err(hivematrix::error::AppError::Conflict(_))));
});

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let app = spawn_with(Backend::Sqlite, |s| {
        s.rate_limit.per_minute = 60;
        s.rate_limit.burst = 3;
    })
    .await
    .unwrap();
    let admin = app.admin().await;
    for _ in 0..3 {
        let (s, _) = app.get("/api/me", &admin).await;
        assert_eq!(s, StatusCode::OK);
    }
    let r = app
        .client
        .get(app.url("/api/me"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], 429);
    // Another user has their own budget.
    let other = app.admin().await;
    let (s, _) = app.get("/api/me", &other).await;
    assert_eq!(s, StatusCode::OK);
    // Health probes are never limited.
    for _ in 0..5 {
        assert_eq!(
            app.client
                .get(app.url("/livez"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
}
