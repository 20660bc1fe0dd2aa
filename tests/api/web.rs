//! The web UI over HTTP as a browser uses it: cookie session, forms with the CSRF
//! token, redirects, flash messages, error pages, static assets.

use crate::both;
use crate::helpers::*;
use hivematrix::auth::Role;
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;

/// A browser: its own cookie jar, asks for HTML, does not follow redirects.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The page's CSRF token (from `<meta name="csrf-token">`).
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf-token\" content=\"")
            .expect("csrf meta");
        let rest = &self.body[at + 27..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
        }
    }

    async fn answer(resp: reqwest::Response) -> Answer {
        Answer {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
            .send()
            .await
            .unwrap();
        Self::answer(resp).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
            .form(form)
            .send()
            .await
            .unwrap();
        Self::answer(resp).await
    }

    /// Logs in through the form and returns the CSRF token of the session.
    pub async fn login(&self, email: &str) -> String {
        let a = self
            .post(
                "/login",
                &[
                    ("email", email),
                    ("password", "correct horse battery"),
                    ("next", "/"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        self.get("/settings").await.csrf()
    }
}

both!(
    web_login_lands_on_the_home_page_and_logout_ends_the_session,
    |app| {
        let admin = app.admin().await;
        let b = Browser::new(&app);
        // Not signed in: pages send the browser to the login form, which comes back here.
        let a = b.get("/codex").await;
        assert_eq!(a.status, StatusCode::SEE_OTHER);
        assert_eq!(a.location(), "/login?next=/codex");
        let login = b.get("/login?next=/codex").await;
        assert_eq!(login.status, StatusCode::OK);
        assert!(login.body.contains("name=\"next\" value=\"/codex\""));
        assert!(
            !login.body.contains("class=\"sidebar\""),
            "no sidebar before login"
        );
        assert!(
            !login.body.to_lowercase().contains("single sign-on"),
            "no OIDC button"
        );
        // A wrong password re-renders the form with the reason, 401.
        let bad = b
            .post(
                "/login",
                &[("email", admin.email.as_str()), ("password", "nope")],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
        assert!(bad.body.contains("flash-error"), "{}", bad.body);
        // An open redirect in `next` is refused: the user lands on `/`.
        let ok = b
            .post(
                "/login",
                &[
                    ("email", admin.email.as_str()),
                    ("password", "correct horse battery"),
                    ("next", "//evil.example/"),
                ],
            )
            .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER);
        assert_eq!(ok.location(), "/");
        // `/` goes to the home page: the default, Beacon (whose landing page opens the
        // Helpdesk board).
        let home = b.get("/").await;
        assert_eq!(home.status, StatusCode::SEE_OTHER);
        assert_eq!(home.location(), "/beacon");
        let beacon = b.get("/beacon").await;
        assert_eq!(beacon.location(), "/beacon/helpdesk");
        let page = b.get("/codex").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("class=\"sidebar\""));
        assert!(
            page.body.contains("href=\"/codex/audit\""),
            "admin sees the audit log link"
        );
        assert!(page.headers[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        assert_eq!(page.headers[CACHE_CONTROL], "no-store");
        // A signed-in user asking for the login page goes home.
        assert_eq!(b.get("/login").await.status, StatusCode::SEE_OTHER);
        // Logout needs the CSRF token, then ends the session.
        let csrf = page.csrf();
        let refused = b.post("/logout", &[]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let out = b.post("/logout", &[("csrf_token", csrf.as_str())]).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert_eq!(out.location(), "/login");
        let after = b.get("/login").await;
        assert!(after.body.contains("You are logged out."), "{}", after.body);
        assert_eq!(b.get("/codex").await.status, StatusCode::SEE_OTHER);
    }
);

both!(
    web_settings_apply_on_every_page_and_bad_values_change_nothing,
    |app| {
        let tech = app.caller(Role::Technician, None).await;
        let b = Browser::new(&app);
        let csrf = b.login(&tech.email).await;
        // Defaults: no data-theme (the system's choice decides), purple.
        let before = b.get("/codex").await;
        assert!(before.body.contains("data-color-theme=\"purple\""));
        assert!(!before.body.contains("data-theme="));
        // Without the CSRF token nothing is saved (403 as an HTML page).
        let no_csrf = b.post("/settings", &[("theme_preference", "dark")]).await;
        assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
        assert!(no_csrf.headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        // A bad colour: 422, the error next to its field, the input kept, nothing stored.
        let bad = b
            .post(
                "/settings",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("theme_preference", "dark"),
                    ("preferred_color_theme", "pink<script>"),
                ],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            bad.body.contains("id=\"f-preferred_color_theme-error\""),
            "{}",
            bad.body
        );
        assert!(bad.body.contains("aria-invalid=\"true\""));
        assert!(!bad.body.contains("pink<script>"));
        let (_, s) = app.get("/codex/api/my/settings", &tech).await;
        assert_eq!(s["theme_preference"], "light");
        assert_eq!(s["synced"], false);
        // A good save: redirect with a flash, then every page is dark and blue.
        let ok = b
            .post(
                "/settings",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("theme_preference", "dark"),
                    ("preferred_color_theme", "blue"),
                    ("home_page_preference", "codex"),
                    ("knowledgetree_view_preference", "tree"),
                ],
            )
            .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
        assert_eq!(ok.location(), "/settings");
        let shown = b.get("/settings").await;
        assert!(shown.body.contains("Settings saved."));
        assert!(shown
            .headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("hm_flash=;")));
        assert!(
            !b.get("/settings").await.body.contains("Settings saved."),
            "shown once"
        );
        let page = b.get("/codex").await;
        assert!(page.body.contains("data-theme=\"dark\""));
        assert!(page.body.contains("data-color-theme=\"blue\""));
        let (_, s) = app.get("/codex/api/my/settings", &tech).await;
        assert_eq!(s["knowledgetree_view_preference"], "tree");
        // The sidebar toggle switches back and returns to the page it was on.
        let t = b
            .post(
                "/settings/theme",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("theme", "light"),
                    ("next", "/codex?x=1"),
                ],
            )
            .await;
        assert_eq!(t.status, StatusCode::SEE_OTHER);
        assert_eq!(t.location(), "/codex?x=1");
        assert!(b.get("/codex").await.body.contains("data-theme=\"light\""));
        let evil = b
            .post(
                "/settings/theme",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("theme", "dark"),
                    ("next", "https://evil.example/"),
                ],
            )
            .await;
        assert_eq!(evil.location(), "/");
        let bad_theme = b
            .post(
                "/settings/theme",
                &[("csrf_token", csrf.as_str()), ("theme", "neon")],
            )
            .await;
        assert_eq!(bad_theme.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(b.get("/codex").await.body.contains("data-theme=\"dark\""));
    }
);

both!(web_roles_hide_and_refuse_admin_pages, |app| {
    let admin = app.admin().await;
    let own = app.company(&admin, "820001", "Own <b>Co</b>").await;
    let tech = app.caller(Role::Technician, None).await;
    let client = app
        .caller(Role::Client, Some(own["id"].as_i64().unwrap()))
        .await;
    let b = Browser::new(&app);
    b.login(&tech.email).await;
    let page = b.get("/codex").await;
    assert!(
        !page.body.contains("/codex/audit"),
        "no admin link for a technician"
    );
    let refused = b.get("/codex/audit").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("class=\"sidebar\""),
        "the error page keeps the layout"
    );
    let cid = refused.headers["x-correlation-id"].to_str().unwrap();
    assert!(
        refused
            .body
            .contains(&format!("<code id=\"correlation-id\">{cid}</code>")),
        "{}",
        refused.body
    );
    // Programs keep problem+json for the same refusal.
    let (s, p) = app.get("/codex/audit", &tech).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(p["status"], 403);
    // A client's dashboard counts its own company only.
    let bc = Browser::new(&app);
    bc.login(&client.email).await;
    app.company(&admin, "820002", "Other Co").await;
    let dash = bc.get("/codex").await;
    assert_eq!(dash.status, StatusCode::OK);
    assert!(
        dash.body
            .contains("<div class=\"stat\">1</div><div class=\"muted\">Companies</div>"),
        "{}",
        dash.body
    );
    assert!(!dash.body.contains("Billing plans"));
    // The admin sees the audit log, with the companies' creation in it, escaped.
    let ba = Browser::new(&app);
    ba.login(&admin.email).await;
    let log = ba.get("/codex/audit?entity=company").await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    assert!(log.body.contains("Showing 1–2 of 2"), "{}", log.body);
    let filtered = ba
        .get("/codex/audit?entity=company&entity_id=&actor=&action=delete")
        .await;
    assert!(filtered.body.contains("No changes match."));
});

both!(web_error_pages_and_static_assets, |app| {
    let admin = app.admin().await;
    let b = Browser::new(&app);
    b.login(&admin.email).await;
    let missing = b.get("/no/such/page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("Not Found"));
    assert!(missing.body.contains("id=\"correlation-id\""));
    let (s, p) = app.get("/no/such/page", &admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(p["status"], 404, "APIs keep problem+json");
    // Every asset the page links is served from its content-hashed URL for a year.
    let page = b.get("/codex").await;
    let urls: Vec<&str> = page
        .body
        .match_indices("/static/")
        .map(|(i, _)| {
            let rest = &page.body[i..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert!(urls.len() >= 4, "{urls:?}");
    for u in &urls {
        let a = b.get(u).await;
        assert_eq!(a.status, StatusCode::OK, "{u}");
        assert_eq!(
            a.headers[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
    }
    let css = urls.iter().find(|u| u.ends_with("/app.css")).unwrap();
    let anon = reqwest::get(format!("{}{css}", app.base)).await.unwrap();
    assert_eq!(anon.status(), StatusCode::OK, "assets need no login");
    assert!(anon.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(anon.text().await.unwrap().contains("prefers-color-scheme"));
    let stale = reqwest::get(format!("{}/static/000000000000/app.css", app.base))
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::NOT_FOUND);
});
