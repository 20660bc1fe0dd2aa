//! Single sign-on with an OpenID Connect provider (Keycloak, Entra ID, Google…): the
//! authorization code flow with PKCE, `state` and `nonce`, as a confidential client.
//!
//! 1. `GET /login/oidc?next=…` stores a one-time login attempt (state, nonce, PKCE
//!    verifier, where to go after) in the database, so any app node can finish it, and
//!    sends the browser to the provider's `authorization_endpoint`.
//! 2. `GET /login/oidc/callback?code&state` takes that attempt out (single use, 10
//!    minutes), exchanges the code at the `token_endpoint` with the client secret and
//!    the verifier, and checks the ID token: RS256 signature against the provider's
//!    JWKS (refetched when a new `kid` appears), `iss`, `aud`, `exp`, `nonce`, a verified
//!    e-mail. The provider's groups map to a role (admin > technician > billing); a
//!    person with none of the configured groups is refused.
//! 3. The user is found by e-mail (created on first login when `create_users`), their
//!    role follows the groups, and a normal session starts.
//!
//! `[oidc]` in hivematrix.toml turns it on; the login page then shows the button.

use super::{users, Role};
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

pub const START: &str = "/login/oidc";
pub const CALLBACK: &str = "/login/oidc/callback";
/// How long a started login may take at the provider.
const ATTEMPT_TTL_SECS: i64 = 600;

fn default_label() -> String {
    "Sign in with single sign-on".into()
}
fn default_scopes() -> String {
    "openid email profile".into()
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_admin() -> Vec<String> {
    vec!["hivematrix-admins".into()]
}
fn default_tech() -> Vec<String> {
    vec!["hivematrix-technicians".into()]
}
fn default_billing() -> Vec<String> {
    vec!["hivematrix-billing".into()]
}
fn yes() -> bool {
    true
}

/// `[oidc]` in hivematrix.toml.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The issuer URL; `<issuer>/.well-known/openid-configuration` is read from it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Where users reach HiveMatrix (`https://hm.example.com`); the redirect URI
    /// registered at the provider is `<public_url>/login/oidc/callback`.
    pub public_url: String,
    /// The button's text on the login page.
    #[serde(default = "default_label")]
    pub label: String,
    #[serde(default = "default_scopes")]
    pub scopes: String,
    /// The ID-token claim listing the person's groups (Keycloak: `groups`).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    #[serde(default = "default_admin")]
    pub admin_groups: Vec<String>,
    #[serde(default = "default_tech")]
    pub technician_groups: Vec<String>,
    #[serde(default = "default_billing")]
    pub billing_groups: Vec<String>,
    /// Create an account at the first sign-on (else only existing accounts may use it).
    #[serde(default = "yes")]
    pub create_users: bool,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl OidcSettings {
    pub fn redirect_uri(&self) -> String {
        format!("{}{CALLBACK}", self.public_url.trim_end_matches('/'))
    }

    /// The highest role any of the person's groups grants (a leading `/`, as
    /// Keycloak writes group paths, is ignored).
    pub fn role_for(&self, groups: &[String]) -> Option<Role> {
        let has = |names: &[String]| {
            groups.iter().any(|g| {
                let g = g.trim().trim_start_matches('/');
                names.iter().any(|n| n.trim().trim_start_matches('/') == g)
            })
        };
        if has(&self.admin_groups) {
            Some(Role::Admin)
        } else if has(&self.technician_groups) {
            Some(Role::Technician)
        } else if has(&self.billing_groups) {
            Some(Role::Billing)
        } else {
            None
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// The provider's metadata and keys, fetched on first use and when a token names a
/// key we do not have (providers rotate keys).
pub struct OidcClient {
    pub settings: OidcSettings,
    http: reqwest::Client,
    discovery: tokio::sync::Mutex<Option<Discovery>>,
    keys: Mutex<Option<jsonwebtoken::jwk::JwkSet>>,
}

impl OidcClient {
    pub fn new(settings: OidcSettings) -> anyhow::Result<OidcClient> {
        for (name, v) in [
            ("issuer", &settings.issuer),
            ("client_id", &settings.client_id),
            ("client_secret", &settings.client_secret),
            ("public_url", &settings.public_url),
        ] {
            if v.trim().is_empty() {
                anyhow::bail!("[oidc] {name} is required");
            }
        }
        reqwest::Url::parse(&settings.issuer)
            .map_err(|e| anyhow::anyhow!("[oidc] issuer is not a URL: {e}"))?;
        reqwest::Url::parse(&settings.public_url)
            .map_err(|e| anyhow::anyhow!("[oidc] public_url is not a URL: {e}"))?;
        Ok(OidcClient {
            settings,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            discovery: tokio::sync::Mutex::new(None),
            keys: Mutex::new(None),
        })
    }

    async fn discovery(&self) -> AppResult<Discovery> {
        let mut d = self.discovery.lock().await;
        if let Some(d) = d.as_ref() {
            return Ok(d.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.settings.issuer.trim_end_matches('/')
        );
        let got: Discovery = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| upstream(format!("cannot read {url}: {e}")))?
            .json()
            .await
            .map_err(|e| upstream(format!("{url} is not OIDC discovery: {e}")))?;
        if got.issuer.trim_end_matches('/') != self.settings.issuer.trim_end_matches('/') {
            return Err(upstream(format!(
                "the provider calls itself {} but is configured as {}",
                got.issuer, self.settings.issuer
            )));
        }
        *d = Some(got.clone());
        Ok(got)
    }

    async fn key_for(&self, kid: Option<&str>) -> AppResult<jsonwebtoken::DecodingKey> {
        let find = |set: &jsonwebtoken::jwk::JwkSet| match kid {
            Some(k) => set.find(k).cloned(),
            None => set.keys.first().cloned(),
        };
        let cached = self
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(find);
        let jwk = match cached {
            Some(j) => j,
            None => {
                let d = self.discovery().await?;
                let set: jsonwebtoken::jwk::JwkSet = self
                    .http
                    .get(&d.jwks_uri)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| upstream(format!("cannot read the provider's keys: {e}")))?
                    .json()
                    .await
                    .map_err(|e| upstream(format!("the provider's keys do not parse: {e}")))?;
                let found = find(&set);
                *self.keys.lock().unwrap_or_else(|p| p.into_inner()) = Some(set);
                found.ok_or_else(|| {
                    AppError::Unauthorized("the ID token is signed with an unknown key".into())
                })?
            }
        };
        jsonwebtoken::DecodingKey::from_jwk(&jwk)
            .map_err(|e| upstream(format!("the provider's key is unusable: {e}")))
    }
}

fn upstream(msg: String) -> AppError {
    tracing::warn!(error = %msg, "OIDC provider");
    AppError::Internal(anyhow::anyhow!("single sign-on is unavailable: {msg}"))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(START, get(start))
        .route(CALLBACK, get(callback))
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Deserialize)]
struct StartQuery {
    next: Option<String>,
}

fn client(state: &AppState) -> AppResult<&OidcClient> {
    state
        .oidc
        .as_deref()
        .ok_or_else(|| AppError::not_found("single sign-on is not configured"))
}

async fn start(State(state): State<AppState>, Query(q): Query<StartQuery>) -> AppResult<Response> {
    let oidc = client(&state)?;
    let d = oidc.discovery().await?;
    let attempt = crate::auth::random_hex(16);
    let nonce = crate::auth::random_hex(16);
    let verifier = b64url(crate::auth::random_hex(32).as_bytes());
    let next = super::routes::safe_next(q.next.as_deref());
    // Old attempts nobody finished are dropped here, so the table stays small.
    let cutoff = chrono::Utc::now() - chrono::Duration::seconds(ATTEMPT_TTL_SECS);
    sqlx::query("DELETE FROM oidc_logins WHERE created_at < $1")
        .bind(crate::time::to_db(cutoff))
        .execute(&state.db.pool)
        .await?;
    sqlx::query(
        "INSERT INTO oidc_logins (state, nonce, code_verifier, next_path, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&attempt)
    .bind(&nonce)
    .bind(&verifier)
    .bind(&next)
    .bind(crate::time::now_db())
    .execute(&state.db.pool)
    .await?;
    let mut url = reqwest::Url::parse(&d.authorization_endpoint)
        .map_err(|e| upstream(format!("authorization_endpoint: {e}")))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &oidc.settings.client_id)
        .append_pair("redirect_uri", &oidc.settings.redirect_uri())
        .append_pair("scope", &oidc.settings.scopes)
        .append_pair("state", &attempt)
        .append_pair("nonce", &nonce)
        .append_pair(
            "code_challenge",
            &b64url(&Sha256::digest(verifier.as_bytes())),
        )
        .append_pair("code_challenge_method", "S256");
    Ok(Redirect::to(url.as_str()).into_response())
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The login page again with the reason (the attempt is over either way).
fn refused(status: StatusCode, why: &str) -> Response {
    let ctx = crate::web::PublicCtx {
        principal: None,
        flash: None,
        path: "/login".into(),
        correlation_id: None,
    };
    (
        status,
        super::routes::login_view(&ctx, Some(why), "/", None),
    )
        .into_response()
}

async fn callback(
    State(state): State<AppState>,
    Query(q): Query<CallbackQuery>,
    req: axum::extract::Request,
) -> AppResult<Response> {
    let oidc = client(&state)?;
    if let Some(e) = &q.error {
        let why = q.error_description.as_deref().unwrap_or(e.as_str());
        return Ok(refused(
            StatusCode::UNAUTHORIZED,
            &format!("The sign-on was not completed: {why}"),
        ));
    }
    let (Some(code), Some(attempt)) = (q.code, q.state) else {
        return Ok(refused(
            StatusCode::BAD_REQUEST,
            "The sign-on answer is incomplete.",
        ));
    };
    // One use only: the row is deleted by the request that finds it.
    let row = sqlx::query(
        "DELETE FROM oidc_logins WHERE state = $1 RETURNING nonce, code_verifier, next_path, created_at",
    )
    .bind(&attempt)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(row) = row else {
        return Ok(refused(
            StatusCode::BAD_REQUEST,
            "This sign-on link was already used or is unknown; please start again.",
        ));
    };
    let created: String = row.try_get("created_at")?;
    let fresh = crate::time::from_db(&created)
        .is_some_and(|t| chrono::Utc::now() - t < chrono::Duration::seconds(ATTEMPT_TTL_SECS));
    if !fresh {
        return Ok(refused(
            StatusCode::BAD_REQUEST,
            "The sign-on took too long; please start again.",
        ));
    }
    let nonce: String = row.try_get("nonce")?;
    let verifier: String = row.try_get("code_verifier")?;
    let next: String = row.try_get("next_path")?;

    let d = oidc.discovery().await?;
    let answer: TokenAnswer = oidc
        .http
        .post(&d.token_endpoint)
        .basic_auth(&oidc.settings.client_id, Some(&oidc.settings.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", oidc.settings.redirect_uri().as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .map_err(|e| upstream(format!("token endpoint: {e}")))?
        .json()
        .await
        .map_err(|e| upstream(format!("token endpoint answer: {e}")))?;
    let Some(id_token) = answer.id_token else {
        let why = answer
            .error_description
            .or(answer.error)
            .unwrap_or_else(|| "no ID token".into());
        return Ok(refused(
            StatusCode::UNAUTHORIZED,
            &format!("The provider refused the sign-on: {why}"),
        ));
    };
    let claims = match verify(oidc, &d, &id_token, &nonce).await {
        Ok(c) => c,
        Err(why) => return Ok(refused(StatusCode::UNAUTHORIZED, &why)),
    };
    let user = match account_for(&state, oidc, &claims).await? {
        Ok(u) => u,
        Err(why) => return Ok(refused(StatusCode::FORBIDDEN, &why)),
    };
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let cookie = super::routes::start_session(&state, user.id, ip, ua).await?;
    let mut resp = Redirect::to(&next).into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(resp)
}

/// What we read from a verified ID token.
#[derive(Debug, Deserialize)]
struct IdClaims {
    nonce: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

async fn verify(
    oidc: &OidcClient,
    d: &Discovery,
    token: &str,
    nonce: &str,
) -> Result<IdClaims, String> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| format!("The ID token is malformed: {e}"))?;
    if header.alg != jsonwebtoken::Algorithm::RS256 {
        return Err(format!(
            "The ID token is signed with {:?}, not RS256.",
            header.alg
        ));
    }
    let key = oidc
        .key_for(header.kid.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[&oidc.settings.client_id]);
    v.set_issuer(&[&d.issuer]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.leeway = 60;
    let data = jsonwebtoken::decode::<IdClaims>(token, &key, &v)
        .map_err(|e| format!("The ID token was refused: {e}"))?;
    let c = data.claims;
    if c.nonce.as_deref() != Some(nonce) {
        return Err("The ID token belongs to another sign-on (nonce mismatch).".into());
    }
    if c.email.as_deref().is_none_or(|e| e.trim().is_empty()) {
        return Err("The provider sent no e-mail address for this person.".into());
    }
    if c.email_verified == Some(false) {
        return Err("The provider has not verified this person's e-mail address.".into());
    }
    Ok(c)
}

/// The account the sign-on is for, with its role following the groups; `Err(reason)`
/// when the person may not sign in.
async fn account_for(
    state: &AppState,
    oidc: &OidcClient,
    c: &IdClaims,
) -> AppResult<Result<users::User, String>> {
    let email = c.email.clone().unwrap_or_default().trim().to_lowercase();
    let groups: Vec<String> = match c.rest.get(&oidc.settings.groups_claim) {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|g| g.as_str().map(String::from))
            .collect(),
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    let Some(role) = oidc.settings.role_for(&groups) else {
        return Ok(Err(format!(
            "{email} is in none of the groups that give access to HiveMatrix; ask an administrator."
        )));
    };
    let user = match users::find_by_email(&state.db, &email).await? {
        Some(u) if u.disabled => return Ok(Err(format!("The account {email} is disabled."))),
        Some(u) if u.role == Role::Client => {
            return Ok(Err("Client accounts sign in with their password.".into()))
        }
        Some(u) if u.role != role => users::set_role(&state.db, u.id, role, None).await?,
        Some(u) => u,
        None if oidc.settings.create_users => {
            users::create(
                &state.db,
                users::NewUser {
                    email: &email,
                    name: c.name.as_deref().unwrap_or(&email),
                    role,
                    company_id: None,
                    password: None,
                },
            )
            .await?
        }
        None => return Ok(Err(format!("There is no HiveMatrix account for {email}."))),
    };
    Ok(Ok(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OidcSettings {
        toml::from_str(
            "issuer = \"http://idp/realms/msp\"\nclient_id = \"hm\"\nclient_secret = \"s\"\npublic_url = \"https://hm.example/\"",
        )
        .unwrap()
    }

    #[test]
    fn groups_map_to_the_highest_role() {
        let s = settings();
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            s.role_for(&g(&["/hivematrix-billing", "/hivematrix-admins"])),
            Some(Role::Admin)
        );
        assert_eq!(
            s.role_for(&g(&["hivematrix-technicians"])),
            Some(Role::Technician)
        );
        assert_eq!(
            s.role_for(&g(&["/hivematrix-billing"])),
            Some(Role::Billing)
        );
        assert_eq!(s.role_for(&g(&["/staff"])), None);
        assert_eq!(s.redirect_uri(), "https://hm.example/login/oidc/callback");
        assert!(!format!("{s:?}").contains("\"s\""));
    }
}
