//! Single sign-on against the simulated OpenID Connect provider, as a browser goes
//! through it: the login page's button, the redirect with state/nonce/PKCE, the
//! provider's login form, the callback, the session. Then what must fail: a replayed
//! callback, a forged state, a person without a HiveMatrix group, a disabled account.

use crate::both;
use crate::web::Browser;
use hivematrix::auth::{users, Role};
use hivematrix::sim::{oidc as idp, Sim, SimConfig};
use reqwest::header::LOCATION;
use reqwest::{StatusCode, Url};

/// The app as the browser reaches it is `app.base`; the provider was told the public
/// URL (as behind a reverse proxy), so the test carries the callback across itself.
const PUBLIC_URL: &str = "http://hm.example.test";

async fn idp_url() -> String {
    let sim = Sim::new(SimConfig::default());
    let addr = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    std::mem::forget(sim);
    format!("http://{addr}/oidc")
}

/// Start at the app, sign in at the provider as `email`; returns the callback path
/// (on the app) the provider sent the browser to.
async fn sign_in_at_provider(b: &Browser, email: &str, password: &str) -> Result<String, String> {
    let start = b.get("/login/oidc?next=/codex").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    let authorize = Url::parse(start.location()).unwrap();
    let params: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    for p in ["state", "nonce", "code_challenge", "redirect_uri"] {
        assert!(
            params.iter().any(|(k, _)| k == p),
            "{p} missing: {authorize}"
        );
    }
    let provider = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = provider.get(authorize.clone()).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let mut fields = params.clone();
    fields.push(("username".into(), email.into()));
    fields.push(("password".into(), password.into()));
    let mut post = authorize.clone();
    post.set_query(None);
    let answer = provider.post(post).form(&fields).send().await.unwrap();
    if answer.status() != StatusCode::SEE_OTHER {
        return Err(answer.text().await.unwrap());
    }
    let to = answer.headers()[LOCATION].to_str().unwrap().to_string();
    let path = to
        .strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("the provider sent the browser to {to}"));
    Ok(path.to_string())
}

macro_rules! oidc_app {
    ($backend:expr) => {{
        let issuer = idp_url().await;
        crate::helpers::spawn_with($backend, |s| {
            s.oidc = Some(
                toml::from_str(&format!(
                    "issuer = \"{issuer}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\n\
                     public_url = \"{PUBLIC_URL}\"\nlabel = \"Sign in with Keycloak\"",
                    idp::CLIENT_ID,
                    idp::CLIENT_SECRET
                ))
                .unwrap(),
            )
        })
        .await
    }};
}

mod sign_on {
    use super::*;

    async fn run(backend: crate::helpers::Backend) {
        let Some(app) = oidc_app!(backend) else {
            return;
        };
        let b = Browser::new(&app);
        let login = b.get("/login").await;
        assert!(
            login.body.contains("Sign in with Keycloak"),
            "{}",
            login.body
        );
        assert!(login.body.contains("href=\"/login/oidc?next=/\""));

        // A wrong password stays at the provider.
        let err = sign_in_at_provider(&b, "ada@sso.example", "wrong")
            .await
            .unwrap_err();
        assert!(err.contains("Invalid username or password"));

        // Ada (admin group) signs in: her account is created with the admin role.
        let callback = sign_in_at_provider(&b, "ada@sso.example", idp::PASSWORD)
            .await
            .unwrap();
        let done = b.get(&callback).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(done.location(), "/codex");
        let me: serde_json::Value = b
            .client
            .get(format!("{}/api/me", b.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["email"], "ada@sso.example");
        assert_eq!(me["role"], "admin");
        assert_eq!(b.get("/codex/audit").await.status, StatusCode::OK);

        // The same callback again (a replayed link) is refused.
        let fresh = Browser::new(&app);
        let again = fresh.get(&callback).await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST);
        assert!(again.body.contains("already used"), "{}", again.body);

        // A forged state is refused; a code from another attempt cannot be reused.
        let other = Browser::new(&app);
        let cb = sign_in_at_provider(&other, "tom@sso.example", idp::PASSWORD)
            .await
            .unwrap();
        let code = Url::parse(&format!("{PUBLIC_URL}{cb}")).unwrap();
        let code = code
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .to_string();
        let forged = other
            .get(&format!("/login/oidc/callback?code={code}&state=forged"))
            .await;
        assert_eq!(forged.status, StatusCode::BAD_REQUEST);

        // Tom had a local billing account: signing on moves him to his group's role.
        let tom = users::create(
            &app.db,
            users::NewUser {
                email: "tom@sso.example",
                name: "Tom",
                role: Role::Billing,
                company_id: None,
                password: Some("a local password"),
            },
        )
        .await
        .unwrap();
        let done = other.get(&cb).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(
            users::get(&app.db, tom.id).await.unwrap().role,
            Role::Technician
        );

        // Nobody without a HiveMatrix group gets in, and no account is made for them.
        let nina = Browser::new(&app);
        let cb = sign_in_at_provider(&nina, "nina@sso.example", idp::PASSWORD)
            .await
            .unwrap();
        let refused = nina.get(&cb).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(
            refused.body.contains("none of the groups"),
            "{}",
            refused.body
        );
        assert!(users::find_by_email(&app.db, "nina@sso.example")
            .await
            .unwrap()
            .is_none());

        // A disabled account stays out.
        users::set_disabled(&app.db, tom.id, true).await.unwrap();
        let late = Browser::new(&app);
        let cb = sign_in_at_provider(&late, "tom@sso.example", idp::PASSWORD)
            .await
            .unwrap();
        let refused = late.get(&cb).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(refused.body.contains("disabled"));
        let me = late
            .client
            .get(format!("{}/api/me", late.base))
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn sqlite() {
        run(crate::helpers::Backend::Sqlite).await
    }

    #[tokio::test]
    async fn postgres() {
        run(crate::helpers::Backend::Postgres).await
    }
}

both!(without_oidc_there_is_no_button_and_no_route, |app| {
    let b = Browser::new(&app);
    assert!(!b.get("/login").await.body.contains("id=\"sso\""));
    assert_eq!(b.get("/login/oidc").await.status, StatusCode::NOT_FOUND);
});
