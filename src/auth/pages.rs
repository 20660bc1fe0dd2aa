//! Account pages: `/admin/users` (admin: create, set role, disable/enable, reset a
//! password) and `/settings/tokens` (every user: their own API tokens; a new token is
//! shown once). They call `users` and `tokens`, the same functions as the CLI. Changes
//! to accounts are written to the audit log (module `auth`).

use super::{tokens, users, Principal, Role};
use crate::audit::{self, Action, Change};
use crate::codex::companies;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::AppState;
use crate::web::forms::{csrf, error_summary, field_errors, Field};
use crate::web::time::{local, local_opt};
use crate::web::{Access, Flash, NavItem, Page, PageCtx, Pages, WebModule};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;

pub const USERS: &str = "/admin/users";
pub const TOKENS: &str = "/settings/tokens";

pub const MODULE: WebModule = WebModule {
    id: "admin",
    label: "Admin",
    href: USERS,
    access: Access::Admin,
    in_sidebar: true,
    items: &[NavItem {
        label: "Users",
        href: USERS,
        access: Access::Admin,
    }],
    pages,
};

fn pages() -> Pages {
    Pages::new()
        .get(USERS, Access::Admin, users_page)
        .post("/admin/users/new", Access::Admin, create_user)
        .post("/admin/users/{id}/role", Access::Admin, set_role)
        .post("/admin/users/{id}/disable", Access::Admin, disable)
        .post("/admin/users/{id}/enable", Access::Admin, enable)
        .post("/admin/users/{id}/password", Access::Admin, reset_password)
        .get(TOKENS, Access::Anyone, tokens_page)
        .post("/settings/tokens/new", Access::Anyone, create_token)
        .post("/settings/tokens/{id}/revoke", Access::Anyone, revoke_token)
}

fn role_options() -> Vec<(String, String)> {
    Role::ALL
        .iter()
        .map(|r| (r.as_str().to_string(), r.as_str().to_string()))
        .collect()
}

async fn record(
    state: &AppState,
    who: &Principal,
    action: Action,
    u: &users::User,
) -> AppResult<()> {
    let mut conn = state.db.pool.acquire().await?;
    let after = serde_json::to_value(u).map_err(anyhow::Error::from)?;
    audit::record(
        &mut conn,
        Some(who),
        Change {
            module: "auth",
            action,
            entity: "user",
            entity_id: u.id.to_string(),
            before: None,
            after: Some(after),
        },
    )
    .await
}

// ---------------------------------------------------------------------------
// Users (admin)
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Clone, Deserialize)]
pub struct NewUserForm {
    email: Option<String>,
    name: Option<String>,
    role: Option<String>,
    company: Option<String>,
    password: Option<String>,
}

async fn users_view(
    state: &AppState,
    ctx: &PageCtx,
    f: &NewUserForm,
    errors: &FieldErrors,
) -> AppResult<Page> {
    let list = users::list(&state.db).await?;
    // Client users' companies, looked up once each.
    let mut accounts = std::collections::HashMap::new();
    for id in list.iter().filter_map(|u| u.company_id) {
        if let std::collections::hash_map::Entry::Vacant(e) = accounts.entry(id) {
            if let Some(c) = companies::get_by_id(&state.db, id).await? {
                e.insert(c.account_number);
            }
        }
    }
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    Ok(Page::new(ctx, "Users")
        .crumb("Admin", USERS)
        .crumb("Users", USERS)
        .body(html! {
            h1 { "Users" }
            div class="table-wrap" {
                table id="users" {
                    thead { tr { th { "E-mail" } th { "Name" } th { "Role" } th { "Status" } th { "Last login" } th { "Password" } } }
                    tbody { @for u in &list {
                        @let me = u.id == ctx.principal.user_id;
                        @let acct = u.company_id.and_then(|id| accounts.get(&id)).cloned().unwrap_or_default();
                        tr id={ "user-" (u.id) } {
                            td { (u.email) @if me { " " span class="badge" { "you" } } }
                            td { (u.name) }
                            td {
                                form class="inline" method="post" action={ "/admin/users/" (u.id) "/role" } {
                                    (csrf(ctx))
                                    label class="visually-hidden" for={ "role-" (u.id) } { "Role" }
                                    select id={ "role-" (u.id) } name="role" {
                                        @for r in Role::ALL { option value=(r.as_str()) selected[r == u.role] { (r.as_str()) } }
                                    }
                                    label class="visually-hidden" for={ "company-" (u.id) } { "Company account number (clients)" }
                                    input id={ "company-" (u.id) } name="company" value=(acct) placeholder="account # (clients)" size="10";
                                    button type="submit" class="secondary" { "Set" }
                                }
                            }
                            td {
                                @if u.disabled {
                                    span class="badge" { "disabled" } " "
                                    form class="inline" method="post" action={ "/admin/users/" (u.id) "/enable" } {
                                        (csrf(ctx)) button type="submit" class="secondary" { "Enable" }
                                    }
                                } @else {
                                    "Active "
                                    @if !me {
                                        form class="inline" method="post" action={ "/admin/users/" (u.id) "/disable" }
                                            data-confirm={ "Disable " (u.email) "? Their sessions end at once." } {
                                            (csrf(ctx)) button type="submit" class="secondary" { "Disable" }
                                        }
                                    }
                                }
                            }
                            td { (local_opt(ctx, u.last_login_at.as_deref())) }
                            td {
                                form class="inline" method="post" action={ "/admin/users/" (u.id) "/password" } {
                                    (csrf(ctx))
                                    label class="visually-hidden" for={ "pw-" (u.id) } { "New password" }
                                    input type="password" id={ "pw-" (u.id) } name="password" autocomplete="new-password" placeholder="new password" size="14";
                                    button type="submit" class="secondary" { "Reset" }
                                }
                            }
                        }
                    } }
                }
            }
            h2 { "Add a user" }
            div class="card" {
                (error_summary(errors))
                form method="post" action="/admin/users/new" class="stack" novalidate {
                    (csrf(ctx))
                    (Field::input("email", "email", "E-mail").value(v(&f.email)).required().render(errors))
                    (Field::text("name", "Name").value(v(&f.name)).required().render(errors))
                    (Field::select("role", "Role", role_options()).value(f.role.clone().unwrap_or_else(|| "technician".into())).render(errors))
                    (Field::text("company", "Company account number").value(v(&f.company)).hint("Required for client users: the one company they see.").render(errors))
                    (Field::input("password", "password", "Password").required().hint("At least 12 characters.").render(errors))
                    div class="actions" { button type="submit" { "Add user" } }
                }
            }
        }))
}

async fn users_page(State(state): State<AppState>, ctx: PageCtx) -> AppResult<Page> {
    users_view(&state, &ctx, &NewUserForm::default(), &FieldErrors::new()).await
}

/// The company id of an account number typed into a form (`company` field errors).
async fn company_of(state: &AppState, raw: &Option<String>) -> AppResult<Option<i64>> {
    let Some(acct) = raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    match companies::find(&state.db, acct).await? {
        Some(c) if c.deleted_at.is_none() => Ok(Some(c.id)),
        _ => Err(AppError::invalid(
            "company",
            format!("no company with account number {acct}"),
        )),
    }
}

fn parse_role(raw: &Option<String>) -> AppResult<Role> {
    raw.as_deref()
        .and_then(|r| Role::parse(r.trim()))
        .ok_or_else(|| {
            AppError::invalid("role", "must be one of: admin, technician, billing, client")
        })
}

async fn create_user(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<NewUserForm>,
) -> AppResult<Response> {
    let result = async {
        let role = parse_role(&f.role)?;
        let company_id = company_of(&state, &f.company).await?;
        let u = users::create(
            &state.db,
            users::NewUser {
                email: f.email.as_deref().unwrap_or(""),
                name: f.name.as_deref().unwrap_or(""),
                role,
                company_id: if role == Role::Client {
                    company_id
                } else {
                    None
                },
                password: Some(f.password.as_deref().unwrap_or("")),
            },
        )
        .await?;
        record(&state, &ctx.principal, Action::Create, &u).await?;
        Ok::<_, AppError>(u)
    }
    .await;
    match result {
        Ok(u) => Ok(Flash::success(format!("User {} added.", u.email)).redirect(USERS)),
        Err(e) => {
            let errors = match e {
                AppError::Conflict(m) => {
                    let mut errs = FieldErrors::new();
                    errs.insert("email".into(), m);
                    errs
                }
                e => field_errors(e)?,
            };
            Ok(users_view(&state, &ctx, &f, &errors)
                .await?
                .status(StatusCode::UNPROCESSABLE_ENTITY)
                .into_response())
        }
    }
}

/// A per-row action's outcome: back to the list with a message (a refused change says
/// why and changes nothing).
fn back(result: AppResult<String>) -> AppResult<Response> {
    match result {
        Ok(msg) => Ok(Flash::success(msg).redirect(USERS)),
        Err(AppError::Validation(errs)) => {
            let msg: Vec<String> = errs.iter().map(|(k, v)| format!("{k} {v}")).collect();
            Ok(Flash::error(format!("Not changed: {}.", msg.join("; "))).redirect(USERS))
        }
        Err(AppError::Conflict(m)) => {
            Ok(Flash::error(format!("Not changed: {m}.")).redirect(USERS))
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RoleForm {
    role: Option<String>,
    company: Option<String>,
}

async fn set_role(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<RoleForm>,
) -> AppResult<Response> {
    let result = async {
        let target = users::get(&state.db, id).await?;
        let role = parse_role(&f.role)?;
        if id == ctx.principal.user_id && role != Role::Admin {
            return Err(AppError::Conflict(
                "you cannot take the admin role from your own account".into(),
            ));
        }
        let company_id = if role == Role::Client {
            company_of(&state, &f.company).await?
        } else {
            None
        };
        let u = users::set_role(&state.db, target.id, role, company_id).await?;
        record(&state, &ctx.principal, Action::Update, &u).await?;
        Ok(format!("{} is now {}.", u.email, u.role.as_str()))
    }
    .await;
    back(result)
}

async fn set_disabled(
    state: &AppState,
    ctx: &PageCtx,
    id: i64,
    disabled: bool,
) -> AppResult<Response> {
    let result = async {
        let target = users::get(&state.db, id).await?;
        if disabled && id == ctx.principal.user_id {
            return Err(AppError::Conflict(
                "you cannot disable your own account".into(),
            ));
        }
        let u = users::set_disabled(&state.db, target.id, disabled).await?;
        record(state, &ctx.principal, Action::Update, &u).await?;
        Ok(format!(
            "{} {}.",
            u.email,
            if disabled {
                "is disabled; their sessions have ended"
            } else {
                "is enabled"
            }
        ))
    }
    .await;
    back(result)
}

async fn disable(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    set_disabled(&state, &ctx, id, true).await
}

async fn enable(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    set_disabled(&state, &ctx, id, false).await
}

#[derive(Debug, Default, Deserialize)]
pub struct PasswordForm {
    password: Option<String>,
}

async fn reset_password(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<PasswordForm>,
) -> AppResult<Response> {
    let result = async {
        let target = users::get(&state.db, id).await?;
        users::reset_password(&state.db, target.id, f.password.as_deref().unwrap_or("")).await?;
        record(&state, &ctx.principal, Action::Update, &target).await?;
        Ok(format!(
            "Password of {} reset; their sessions have ended.",
            target.email
        ))
    }
    .await;
    back(result)
}

// ---------------------------------------------------------------------------
// Personal API tokens (every user)
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Clone, Deserialize)]
pub struct TokenForm {
    name: Option<String>,
    expires_days: Option<String>,
}

fn tokens_view(
    ctx: &PageCtx,
    list: &[tokens::ApiToken],
    created: Option<&str>,
    f: &TokenForm,
    errors: &FieldErrors,
) -> Page {
    let now = crate::time::now_db();
    Page::new(ctx, "API tokens")
        .crumb("My settings", crate::web::core::SETTINGS)
        .crumb("API tokens", TOKENS)
        .body(html! {
            h1 { "Personal API tokens" }
            p class="muted" { "Send a token as " code { "Authorization: Bearer hm_…" } "; it acts as you, with your role." }
            @if let Some(t) = created {
                div class="card" role="status" {
                    p { strong { "Your new token — copy it now, it is shown only once:" } }
                    p class="token-once" id="new-token" { (t) }
                }
            }
            div class="table-wrap" {
                table id="tokens" {
                    thead { tr { th { "Name" } th { "Starts with" } th { "Created" } th { "Expires" } th { "Last used" } th { "Status" } th {} } }
                    tbody { @for t in list {
                        @let expired = t.expires_at.as_deref().is_some_and(|e| e <= now.as_str());
                        tr {
                            td { (t.name) }
                            td class="mono" { (t.prefix) "…" }
                            td { (local(ctx, &t.created_at)) }
                            td { (local_opt(ctx, t.expires_at.as_deref())) }
                            td { (local_opt(ctx, t.last_used_at.as_deref())) }
                            td { @if t.revoked_at.is_some() { "Revoked" } @else if expired { "Expired" } @else { "Active" } }
                            td { @if t.revoked_at.is_none() {
                                form class="inline" method="post" action={ "/settings/tokens/" (t.id) "/revoke" }
                                    data-confirm={ "Revoke the token " (t.name) "? Programs using it stop working." } {
                                    (csrf(ctx)) button type="submit" class="secondary" { "Revoke" }
                                }
                            } }
                        }
                    } }
                }
                @if list.is_empty() { p class="empty" { "No tokens yet." } }
            }
            h2 { "Create a token" }
            div class="card" {
                (error_summary(errors))
                form method="post" action="/settings/tokens/new" class="stack" novalidate {
                    (csrf(ctx))
                    (Field::text("name", "Name").value(f.name.clone().unwrap_or_default()).required().hint("What uses it, e.g. “billing script”.").render(errors))
                    (Field::input("number", "expires_days", "Expires after (days)").value(f.expires_days.clone().unwrap_or_default()).hint("Empty: never expires.").render(errors))
                    div class="actions" { button type="submit" { "Create token" } }
                }
            }
        })
}

async fn tokens_page(State(state): State<AppState>, ctx: PageCtx) -> AppResult<Page> {
    let list = tokens::list(&state.db, Some(ctx.principal.user_id)).await?;
    Ok(tokens_view(
        &ctx,
        &list,
        None,
        &TokenForm::default(),
        &FieldErrors::new(),
    ))
}

async fn create_token(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<TokenForm>,
) -> AppResult<Response> {
    let days = match f
        .expires_days
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => Ok(None),
        Some(d) => d
            .parse::<i64>()
            .map(Some)
            .map_err(|_| AppError::invalid("expires_days", "must be a whole number of days")),
    };
    let result = match days {
        Ok(days) => {
            tokens::create(
                &state.db,
                ctx.principal.user_id,
                f.name.as_deref().unwrap_or(""),
                days,
            )
            .await
        }
        Err(e) => Err(e),
    };
    let user = ctx.principal.user_id;
    match result {
        Ok((_, plain)) => {
            let list = tokens::list(&state.db, Some(user)).await?;
            // Shown in this response only (never stored, never in a redirect or cookie).
            Ok(tokens_view(
                &ctx,
                &list,
                Some(&plain),
                &TokenForm::default(),
                &FieldErrors::new(),
            )
            .status(StatusCode::CREATED)
            .flash(Flash::success("Token created."))
            .into_response())
        }
        Err(e) => {
            let errors = field_errors(e)?;
            let list = tokens::list(&state.db, Some(user)).await?;
            Ok(tokens_view(&ctx, &list, None, &f, &errors)
                .status(StatusCode::UNPROCESSABLE_ENTITY)
                .into_response())
        }
    }
}

async fn revoke_token(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    // Only the user's own tokens (another user's id answers 404).
    tokens::revoke(&state.db, id, Some(ctx.principal.user_id)).await?;
    Ok(Flash::success("Token revoked.").redirect(TOKENS))
}
