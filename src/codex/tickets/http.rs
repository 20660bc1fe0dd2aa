//! The JSON handlers of tickets, at the original's paths under `/codex`. They check the
//! role, parse and cap the query, and call the functions of the parent module.

use super::{
    company_tickets, create_manual, detail, find_by_external, list, quick_update, update_manual,
    visible, CompanyTicket, Ticket, TicketDetail, TicketInput, TicketQuery, TicketUpdate,
    TicketUpdateResult,
};
use crate::auth::Principal;
use crate::codex::companies::{self, uri_str};
use crate::error::AppResult;
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::pagination::Page;
use crate::http::AppState;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};

/// The original's list envelope.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketPage {
    pub tickets: Vec<Ticket>,
    pub count: usize,
    pub total: i64,
    pub offset: i64,
    pub limit: i64,
}

/// Lists tickets, newest update first (clients see only their company's).
#[utoipa::path(get, path = "/codex/api/tickets", tag = "codex", params(TicketQuery),
    responses((status = 200, body = TicketPage, headers(("X-Total-Count" = i64, description = "matching tickets"))),
              (status = 401, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn list_tickets(
    State(state): State<AppState>,
    who: Principal,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<TicketQuery>,
) -> AppResult<(HeaderMap, Json<TicketPage>)> {
    let page = Page::new(q.limit, q.offset, 50, 1000)?;
    let (tickets, total) = list(&state.db, who.company_scope(), &q, page).await?;
    let body = TicketPage {
        count: tickets.len(),
        tickets,
        total,
        offset: page.offset,
        limit: page.limit,
    };
    Ok((page.headers(total, uri_str(&uri)), Json(body)))
}

/// Creates a manual ticket (technician or admin).
#[utoipa::path(post, path = "/codex/api/tickets", tag = "codex", request_body = TicketInput,
    responses((status = 201, body = Ticket), (status = 403, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn create_ticket(
    State(state): State<AppState>,
    crate::auth::MasterWriter(who): crate::auth::MasterWriter,
    JsonBody(input): JsonBody<TicketInput>,
) -> AppResult<(StatusCode, Json<Ticket>)> {
    let t = create_manual(&state.db, &who, &input).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// One ticket by row id, with time entries, conversations and notes.
#[utoipa::path(get, path = "/codex/api/tickets/{id}", tag = "codex", params(("id" = i64, Path)),
    responses((status = 200, body = TicketDetail), (status = 404, body = crate::error::Problem)))]
pub async fn get_ticket_by_row(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<TicketDetail>> {
    let t = visible(&state.db, &who, id).await?;
    Ok(Json(detail(&state.db, t).await?))
}

/// Edits status, priority, subject, agent, group… of a ticket (PUT and PATCH both patch).
#[utoipa::path(put, path = "/codex/api/tickets/{id}", tag = "codex", params(("id" = i64, Path)),
    request_body = TicketInput,
    responses((status = 200, body = Ticket), (status = 404, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn update_ticket(
    State(state): State<AppState>,
    crate::auth::MasterWriter(who): crate::auth::MasterWriter,
    Path(id): Path<i64>,
    JsonBody(input): JsonBody<TicketInput>,
) -> AppResult<Json<Ticket>> {
    Ok(Json(update_manual(&state.db, &who, id, &input).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SourceQuery {
    /// The PSA, when two PSAs share the id.
    pub source: Option<String>,
}

/// One ticket by PSA id (as the original), with time entries, conversations and notes.
#[utoipa::path(get, path = "/codex/api/ticket/{id}", tag = "codex",
    params(("id" = String, Path, description = "PSA ticket id"), SourceQuery),
    responses((status = 200, body = TicketDetail), (status = 404, body = crate::error::Problem),
              (status = 409, body = crate::error::Problem, description = "id exists in several PSAs")))]
pub async fn get_ticket(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<SourceQuery>,
) -> AppResult<Json<TicketDetail>> {
    let t = find_by_external(&state.db, &who, &id, q.source.as_deref()).await?;
    Ok(Json(detail(&state.db, t).await?))
}

/// Sets a ticket's status and/or appends a private note (id = row id, as the original).
#[utoipa::path(post, path = "/codex/api/ticket/{id}/update", tag = "codex",
    params(("id" = i64, Path, description = "ticket row id")), request_body = TicketUpdate,
    responses((status = 200, body = TicketUpdateResult), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn post_ticket_update(
    State(state): State<AppState>,
    crate::auth::MasterWriter(who): crate::auth::MasterWriter,
    Path(id): Path<i64>,
    JsonBody(input): JsonBody<TicketUpdate>,
) -> AppResult<Json<TicketUpdateResult>> {
    let ticket = quick_update(&state.db, &who, id, &input).await?;
    Ok(Json(TicketUpdateResult {
        success: true,
        ticket_id: id,
        message: "Ticket updated".into(),
        ticket,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompanyTicketQuery {
    /// UTC calendar year of `last_updated_at` (2000..=2100).
    pub year: Option<i32>,
    /// 1..=1000, default 500.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A company's tickets with conversations and notes (the original's ticket objects).
#[utoipa::path(get, path = "/codex/api/companies/{account_number}/tickets", tag = "codex",
    params(("account_number" = String, Path), CompanyTicketQuery),
    responses((status = 200, body = [CompanyTicket], headers(("X-Total-Count" = i64, description = "matching tickets"))),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn list_company_tickets(
    State(state): State<AppState>,
    who: Principal,
    Path(account_number): Path<String>,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<CompanyTicketQuery>,
) -> AppResult<(HeaderMap, Json<Vec<CompanyTicket>>)> {
    let company = companies::visible(&state.db, &who, &account_number).await?;
    let page = Page::new(q.limit, q.offset, 500, 1000)?;
    let (list, total) = company_tickets(&state.db, company.id, q.year, page).await?;
    Ok((page.headers(total, uri_str(&uri)), Json(list)))
}

/// The original's `/api/psa/tickets` object.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PsaTicket {
    pub id: i64,
    pub external_id: String,
    pub source: String,
    pub ticket_number: Option<String>,
    pub subject: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub company_id: Option<i64>,
    pub company_account_number: Option<String>,
    /// "Unknown" when the ticket has no company.
    pub company_name: String,
    pub requester_name: Option<String>,
    pub requester_email: Option<String>,
    pub responder_id: Option<String>,
    pub group_id: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub total_hours: f64,
}

impl From<Ticket> for PsaTicket {
    fn from(t: Ticket) -> Self {
        PsaTicket {
            id: t.id,
            external_id: t.external_id,
            source: t.external_source,
            ticket_number: t.ticket_number,
            subject: t.subject,
            status: t.status,
            priority: t.priority,
            company_id: t.company_id,
            company_account_number: t.company_account_number,
            company_name: t.company_name.unwrap_or_else(|| "Unknown".into()),
            requester_name: t.requester_name,
            requester_email: t.requester_email,
            responder_id: t.responder_external_id,
            group_id: t.group_external_id,
            created_at: t.created_at,
            updated_at: t.last_updated_at,
            total_hours: t.total_hours_spent,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PsaTicketQuery {
    pub provider: Option<String>,
    /// Comma-separated statuses.
    pub status: Option<String>,
    /// Company account number.
    pub company: Option<String>,
    /// 1..=1000, default 100.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Tickets in the original's PSA-neutral shape, newest update first.
#[utoipa::path(get, path = "/codex/api/psa/tickets", tag = "codex", params(PsaTicketQuery),
    responses((status = 200, body = [PsaTicket], headers(("X-Total-Count" = i64, description = "matching tickets"))),
              (status = 422, body = crate::error::Problem)))]
pub async fn psa_tickets(
    State(state): State<AppState>,
    who: Principal,
    OriginalUri(uri): OriginalUri,
    QueryParams(q): QueryParams<PsaTicketQuery>,
) -> AppResult<(HeaderMap, Json<Vec<PsaTicket>>)> {
    let page = Page::new(q.limit, q.offset, 100, 1000)?;
    let tq = TicketQuery {
        source: q.provider,
        status: q.status,
        company_id: q.company,
        ..TicketQuery::default()
    };
    let (list, total) = list(&state.db, who.company_scope(), &tq, page).await?;
    let list = list.into_iter().map(PsaTicket::from).collect();
    Ok((page.headers(total, uri_str(&uri)), Json(list)))
}
