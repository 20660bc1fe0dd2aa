//! An OpenID Connect provider (authorization code flow with PKCE), as Keycloak, Entra
//! ID or Google serve it: discovery at `/.well-known/openid-configuration`, a login form
//! at `authorization_endpoint`, single-use codes exchanged at `token_endpoint` with
//! client authentication (`client_secret_basic` or `client_secret_post`) and the PKCE
//! verifier, RS256 ID tokens whose key is published at `jwks_uri`. Errors follow RFC
//! 6749 §5.2 (`{"error": "invalid_grant", "error_description": …}`).
//!
//! Mounted under `/oidc`; the issuer is `http://<host>/oidc` as the caller reached it.
//! The signing key is a fixed test key committed with the simulator (it signs nothing
//! but simulated logins).

use super::lock;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const CLIENT_ID: &str = "hivematrix";
pub const CLIENT_SECRET: &str = "sim-oidc-secret";
pub const PASSWORD: &str = "sim-oidc-password";
const KID: &str = "sim-oidc-1";
const SIGNING_KEY: &[u8] = include_bytes!("oidc_signing_key.pem");
/// The key's public half (RFC 7518 §6.3: base64url modulus and exponent).
const MODULUS: &str = "rSyIlRNEGRLigCkj9UUY5JzgGGCLGedR_0zpoxiRcz0YA3WSbsR5Ns3jY4Q9LQiK1KKPdE4VZ3ToD3__LY-EiAnn9usrZhbv7XaphR_NDWM4hlczpa3kcjUvWV1MHTFbaAI24qj30KNpmoLCVL2dNXj8bQ5UO3Ic91U7CrJuGlYW1hWtVSB5XTyvdWbnPL_vg3grbH3BEpixR5S1w7LskT6QUjc8T8KJ6zwFK0lx-xwzkFhEhuBZ6qQXyLk3E5O-l58uLS67Pp8rZGH5VPil4RYvWmluC7MFv1G9fupMhdTcrVVejT9ln3WbhFwaUXan69XoiYLn7VNkBsw3z8_15w";
const EXPONENT: &str = "AQAB";
const CODE_TTL: Duration = Duration::from_secs(60);

/// A person the simulated provider knows: (e-mail, name, groups).
pub const USERS: &[(&str, &str, &[&str])] = &[
    (
        "ada@sso.example",
        "Ada Admin",
        &["/hivematrix-admins", "/staff"],
    ),
    (
        "tom@sso.example",
        "Tom Technician",
        &["/hivematrix-technicians"],
    ),
    ("bea@sso.example", "Bea Billing", &["/hivematrix-billing"]),
    ("nina@sso.example", "Nina Nogroup", &["/staff"]),
];

struct Grant {
    redirect_uri: String,
    nonce: Option<String>,
    challenge: String,
    email: String,
    issued: Instant,
}

#[derive(Default)]
pub struct OidcSim {
    codes: Mutex<HashMap<String, Grant>>,
}

pub fn routes() -> Router {
    let sim = Arc::new(OidcSim::default());
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/authorize", get(authorize_form).post(authorize))
        .route("/token", post(token))
        .route("/jwks", get(jwks))
        .with_state(sim)
}

fn issuer(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}/oidc")
}

async fn discovery(headers: HeaderMap) -> Json<serde_json::Value> {
    let iss = issuer(&headers);
    Json(serde_json::json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "jwks_uri": format!("{iss}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "email", "profile"],
        "claims_supported": ["sub", "email", "email_verified", "name", "groups"],
    }))
}

async fn jwks() -> Json<serde_json::Value> {
    Json(serde_json::json!({"keys": [{
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID, "n": MODULUS, "e": EXPONENT,
    }]}))
}

#[derive(Debug, Deserialize)]
struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    // The login form's own fields.
    username: Option<String>,
    password: Option<String>,
}

/// Checks the request the way a provider must before showing a login form: an unknown
/// client or redirect target gets an error page, never a redirect.
fn check(p: &AuthorizeParams) -> Result<(), String> {
    if p.client_id.as_deref() != Some(CLIENT_ID) {
        return Err("unknown client_id".into());
    }
    let Some(uri) = p.redirect_uri.as_deref() else {
        return Err("redirect_uri is required".into());
    };
    if !(uri.starts_with("http://") || uri.starts_with("https://")) {
        return Err("redirect_uri must be an absolute http(s) URL".into());
    }
    if p.response_type.as_deref() != Some("code") {
        return Err("only response_type=code is supported".into());
    }
    if !p
        .scope
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .any(|s| s == "openid")
    {
        return Err("scope must include openid".into());
    }
    if p.code_challenge_method.as_deref() != Some("S256") || p.code_challenge.is_none() {
        return Err("PKCE with code_challenge_method=S256 is required".into());
    }
    Ok(())
}

fn login_form(p: &AuthorizeParams, error: Option<&str>) -> Html<String> {
    let hidden = |name: &str, v: &Option<String>| {
        maud::html! { input type="hidden" name=(name) value=(v.as_deref().unwrap_or("")); }
    };
    Html(
        maud::html! {
            (maud::DOCTYPE)
            html { head { title { "Sign in — simulated identity provider" } }
            body {
                h1 { "Sign in" }
                @if let Some(e) = error { p id="error" { (e) } }
                form method="post" {
                    (hidden("response_type", &p.response_type)) (hidden("client_id", &p.client_id))
                    (hidden("redirect_uri", &p.redirect_uri)) (hidden("scope", &p.scope))
                    (hidden("state", &p.state)) (hidden("nonce", &p.nonce))
                    (hidden("code_challenge", &p.code_challenge))
                    (hidden("code_challenge_method", &p.code_challenge_method))
                    label { "E-mail " input name="username" id="username"; }
                    label { "Password " input type="password" name="password" id="password"; }
                    button type="submit" id="kc-login" { "Sign in" }
                }
            } }
        }
        .into_string(),
    )
}

async fn authorize_form(Query(p): Query<AuthorizeParams>) -> Response {
    match check(&p) {
        Ok(()) => login_form(&p, None).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn authorize(State(sim): State<Arc<OidcSim>>, Form(p): Form<AuthorizeParams>) -> Response {
    if let Err(e) = check(&p) {
        return (StatusCode::BAD_REQUEST, e).into_response();
    }
    let user = USERS
        .iter()
        .find(|(email, _, _)| Some(*email) == p.username.as_deref().map(str::trim));
    if user.is_none() || p.password.as_deref() != Some(PASSWORD) {
        return login_form(&p, Some("Invalid username or password.")).into_response();
    }
    let code = crate::auth::random_hex(16);
    let redirect_uri = p.redirect_uri.clone().unwrap_or_default();
    lock(&sim.codes).insert(
        code.clone(),
        Grant {
            redirect_uri: redirect_uri.clone(),
            nonce: p.nonce.clone(),
            challenge: p.code_challenge.clone().unwrap_or_default(),
            email: user.map(|u| u.0.to_string()).unwrap_or_default(),
            issued: Instant::now(),
        },
    );
    let mut target = reqwest::Url::parse(&redirect_uri).expect("checked above");
    target.query_pairs_mut().append_pair("code", &code);
    if let Some(s) = &p.state {
        target.query_pairs_mut().append_pair("state", s);
    }
    Redirect::to(target.as_str()).into_response()
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// The client as `client_secret_basic` (preferred) or `client_secret_post` sent it.
fn client_credentials(headers: &HeaderMap, f: &TokenForm) -> Option<(String, String)> {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(basic)
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (id, secret) = text.split_once(':')?;
        return Some((id.to_string(), secret.to_string()));
    }
    Some((f.client_id.clone()?, f.client_secret.clone()?))
}

async fn token(
    State(sim): State<Arc<OidcSim>>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    match client_credentials(&headers, &f) {
        Some((id, secret)) if id == CLIENT_ID && secret == CLIENT_SECRET => {}
        _ => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            )
        }
    }
    if f.grant_type.as_deref() != Some("authorization_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only authorization_code",
        );
    }
    // Codes are single-use: taken out whatever happens next.
    let grant = f.code.as_deref().and_then(|c| lock(&sim.codes).remove(c));
    let Some(grant) = grant.filter(|g| g.issued.elapsed() < CODE_TTL) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the code is unknown, used or expired",
        );
    };
    if f.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri does not match",
        );
    }
    let verifier = f.code_verifier.unwrap_or_default();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if challenge != grant.challenge {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "PKCE verification failed",
        );
    }
    let (email, name, groups) = USERS
        .iter()
        .find(|u| u.0 == grant.email)
        .copied()
        .expect("codes are issued to known users");
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "iss": issuer(&headers), "sub": format!("sim-{}", email.split('@').next().unwrap_or(email)),
        "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": grant.nonce,
        "email": email, "email_verified": true, "name": name, "preferred_username": email,
        "groups": groups,
    });
    let mut jwt_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    jwt_header.kid = Some(KID.into());
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(SIGNING_KEY).expect("the simulator's key parses");
    let id_token = jsonwebtoken::encode(&jwt_header, &claims, &key).expect("signing works");
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({
            "access_token": crate::auth::random_hex(24), "token_type": "Bearer",
            "expires_in": 300, "id_token": id_token, "scope": "openid email profile",
        })),
    )
        .into_response()
}
