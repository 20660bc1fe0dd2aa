//! `/login`, `/logout` and `/api/me`.

use super::{sessions, users, AuthMethod, Principal};
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use axum::extract::{ConnectInfo, FromRequest, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use maud::{html, Markup, DOCTYPE};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
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

async fn login_page(Query(q): Query<LoginQuery>) -> Html<String> {
    Html(page(None, q.next.as_deref().unwrap_or("/")).into_string())
}

fn page(error: Option<&str>, next: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Log in · HiveMatrix" }
                style { (maud::PreEscaped(LOGIN_CSS)) }
            }
            body {
                main class="login" {
                    h1 { "HiveMatrix" }
                    @if let Some(e) = error { p class="error" role="alert" { (e) } }
                    form method="post" action="/login" {
                        input type="hidden" name="next" value=(next);
                        label { "E-mail" input type="email" name="email" required autofocus autocomplete="username"; }
                        label { "Password" input type="password" name="password" required autocomplete="current-password"; }
                        button type="submit" { "Log in" }
                    }
                }
            }
        }
    }
}

const LOGIN_CSS: &str = "body{font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:100vh;margin:0;background:#f4f2fa;color:#1d1b24}\
.login{background:#fff;padding:2rem;border-radius:12px;box-shadow:0 2px 12px #0002;min-width:320px}\
label{display:block;margin:.8rem 0}input{display:block;width:100%;padding:.5rem;margin-top:.3rem;box-sizing:border-box}\
button{padding:.6rem 1.2rem;background:#5b3fc4;color:#fff;border:0;border-radius:6px;cursor:pointer}.error{color:#b00020}\
@media (prefers-color-scheme:dark){body{background:#16141c;color:#eee}.login{background:#221f2b}}";

/// Only same-site relative paths are followed after login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
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
    let user = match users::authenticate(&state.db, &form.email, &form.password).await {
        Ok(u) => u,
        Err(AppError::Unauthorized(msg)) if !is_json => {
            return Ok((
                StatusCode::UNAUTHORIZED,
                Html(page(Some(&msg), &next).into_string()),
            )
                .into_response());
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
    let cookie = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        sessions::COOKIE,
        session.cookie_value,
        state.settings.session.ttl_hours * 3600,
        if state.settings.session.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        cookie.parse().map_err(anyhow::Error::from)?,
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
    Ok((out, Redirect::to("/login")).into_response())
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
