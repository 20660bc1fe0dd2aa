//! `/login`, `/logout` and `/api/me`.

use super::{sessions, users, AuthMethod, Principal};
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use axum::extract::{ConnectInfo, FromRequest, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use maud::html;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .merge(super::oidc::router())
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: super::Role,
    pub company_id: Option<i64>,
    /// Present for cookie sessions: send it back in `X-CSRF-Token` on writes.
    pub csrf_token: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    ctx: crate::web::PublicCtx,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    // Already signed in: no second login.
    if ctx.principal.is_some() {
        return Redirect::to(&next).into_response();
    }
    login_view(&ctx, None, &next, sso_label(&state)).into_response()
}

/// The single sign-on button's text, when `[oidc]` is configured.
fn sso_label(state: &AppState) -> Option<&str> {
    state.oidc.as_deref().map(|o| o.settings.label.as_str())
}

/// The login form on the shared layout (no sidebar), with the single sign-on button
/// when an identity provider is configured.
pub(crate) fn login_view(
    ctx: &crate::web::PublicCtx,
    error: Option<&str>,
    next: &str,
    sso: Option<&str>,
) -> crate::web::Page {
    let mut p = crate::web::Page::public(ctx, "Log in");
    if let Some(e) = error {
        p = p.flash(crate::web::Flash::error(e));
    }
    p.body(html! {
        div class="card login" {
            h1 { "Hive" span class="brand-accent" { "Matrix" } }
            form method="post" action="/login" class="stack" {
                input type="hidden" name="next" value=(next);
                div class="field" {
                    label for="email" { "E-mail" }
                    input type="email" id="email" name="email" required autofocus autocomplete="username";
                }
                div class="field" {
                    label for="password" { "Password" }
                    input type="password" id="password" name="password" required autocomplete="current-password";
                }
                div class="actions" { button type="submit" { "Log in" } }
            }
            @if let Some(label) = sso {
                p class="muted center" { "or" }
                a class="button" id="sso" href={ (super::oidc::START) "?next=" (urlencode(next)) } { (label) }
            }
        }
    })
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Starts a cookie session for the user; returns its `Set-Cookie` value.
pub(crate) async fn start_session(
    state: &AppState,
    user_id: i64,
    ip: Option<String>,
    user_agent: Option<String>,
) -> AppResult<header::HeaderValue> {
    let session = sessions::create(
        &state.db,
        user_id,
        state.settings.session.ttl_hours,
        ip,
        user_agent,
    )
    .await?;
    session_cookie(state, &session.cookie_value)
}

fn session_cookie(state: &AppState, value: &str) -> AppResult<header::HeaderValue> {
    let cookie = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        sessions::COOKIE,
        value,
        state.settings.session.ttl_hours * 3600,
        if state.settings.session.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    );
    Ok(cookie.parse().map_err(anyhow::Error::from)?)
}

/// Only same-site relative paths are followed after login (no open redirect).
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".into(),
    }
}

async fn login(State(state): State<AppState>, req: Request) -> AppResult<Response> {
    let connect = req.extensions().get::<ConnectInfo<SocketAddr>>().cloned();
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let form: LoginForm = if is_json {
        crate::http::extract::JsonBody::<LoginForm>::from_request(req, &state)
            .await
            .map_err(|_| AppError::BadRequest("expected JSON {\"email\", \"password\"}".into()))?
            .0
    } else {
        axum::Form::<LoginForm>::from_request(req, &state)
            .await
            .map_err(|_| AppError::BadRequest("expected form fields email and password".into()))?
            .0
    };
    let next = safe_next(form.next.as_deref());
    let ctx = crate::web::PublicCtx {
        principal: None,
        flash: None,
        path: "/login".into(),
        correlation_id: None,
    };
    let user = match users::authenticate(&state.db, &form.email, &form.password).await {
        Ok(u) => u,
        Err(AppError::Unauthorized(msg)) if !is_json => {
            let view = login_view(&ctx, Some(&msg), &next, sso_label(&state));
            return Ok((StatusCode::UNAUTHORIZED, view).into_response());
        }
        Err(e) => return Err(e),
    };
    let ip = connect.map(|c| c.0.ip().to_string());
    let session = sessions::create(
        &state.db,
        user.id,
        state.settings.session.ttl_hours,
        ip,
        user_agent,
    )
    .await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        session_cookie(&state, &session.cookie_value)?,
    );
    if is_json {
        let me = Me {
            id: user.id,
            email: user.email,
            name: user.name,
            role: user.role,
            company_id: user.company_id,
            csrf_token: Some(session.csrf_token),
        };
        return Ok((headers, Json(me)).into_response());
    }
    Ok((headers, Redirect::to(&next)).into_response())
}

async fn logout(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> AppResult<Response> {
    if let AuthMethod::Session { session_id, .. } = &principal.method {
        sessions::revoke(&state.db, session_id).await?;
    }
    let clear = format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
        sessions::COOKIE
    );
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let mut out = HeaderMap::new();
    out.insert(
        header::SET_COOKIE,
        clear.parse().map_err(anyhow::Error::from)?,
    );
    if wants_json {
        return Ok((StatusCode::NO_CONTENT, out).into_response());
    }
    let mut resp = crate::web::Flash::info("You are logged out.").redirect("/login");
    for v in out.get_all(header::SET_COOKIE) {
        resp.headers_mut().append(header::SET_COOKIE, v.clone());
    }
    Ok(resp)
}

/// Who am I (and, for cookie sessions, the CSRF token to use).
#[utoipa::path(get, path = "/api/me", tag = "auth", responses((status = 200, body = Me)))]
pub async fn me(principal: Principal) -> Json<Me> {
    let csrf_token = match &principal.method {
        AuthMethod::Session { csrf_token, .. } => Some(csrf_token.clone()),
        AuthMethod::ApiToken { .. } => None,
    };
    Json(Me {
        id: principal.user_id,
        email: principal.email,
        name: principal.name,
        role: principal.role,
        company_id: principal.company_id,
        csrf_token,
    })
}
