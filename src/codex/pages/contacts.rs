//! Contact pages: the list (search, company filter, inactive toggle, sort, server-side
//! paging), the detail page (companies, assigned assets) and add/edit/delete through
//! `codex::contacts`' own validation.

use super::{can_write, nonblank, or_dash, order_param, patch_of, ticked};
use crate::codex::contacts::{self, Contact, ContactInput, ContactQuery};
use crate::codex::{assets, companies};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::extract::QueryParams;
use crate::http::pagination::{Order, Page as Paging};
use crate::http::AppState;
use crate::web::forms::{csrf, error_summary, field_errors, Field};
use crate::web::table::{pager, sort_header};
use crate::web::time::local;
use crate::web::{Access, Flash, Page, PageCtx, Pages};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

pub const LIST: &str = "/codex/contacts";

pub fn register(p: Pages) -> Pages {
    p.get(LIST, Access::Scoped, list_page)
        .get("/codex/contacts/new", Access::Master, new_page)
        .post("/codex/contacts/new", Access::Master, create)
        .get("/codex/contacts/{id}", Access::Scoped, detail)
        .get("/codex/contacts/{id}/edit", Access::Master, edit_page)
        .post("/codex/contacts/{id}/edit", Access::Master, save)
        .post("/codex/contacts/{id}/delete", Access::Master, delete)
}

pub fn href(id: i64) -> String {
    format!("{LIST}/{id}")
}

/// A table of contacts (the list page and the company's tab).
pub fn table(rows: &[Contact]) -> Markup {
    html! {
        div class="table-wrap" {
            table {
                thead { tr { th { "Name" } th { "E-mail" } th { "Title" } th { "Companies" } th { "Status" } } }
                tbody { @for c in rows { (row(c)) } }
            }
            @if rows.is_empty() { p class="empty" { "No contacts match." } }
        }
    }
}

fn row(c: &Contact) -> Markup {
    html! {
        tr {
            td { a href=(href(c.id)) { (c.name) } @if c.vip_user { " " span class="badge" { "VIP" } } }
            td { (c.email) }
            td { (or_dash(c.job_title.as_deref())) }
            td {
                @for (i, co) in c.companies.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href=(super::companies::href(&co.account_number)) { (co.name) }
                }
            }
            td {
                @if c.deleted_at.is_some() { span class="badge" { "deleted" } }
                @else if c.active { "Active" } @else { span class="muted" { "Inactive" } }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    search: Option<String>,
    company: Option<String>,
    include_inactive: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    QueryParams(q): QueryParams<ListParams>,
) -> AppResult<Page> {
    let page = Paging::new(q.limit, q.offset, 50, 100)?;
    let sort = nonblank(&q.sort).unwrap_or_else(|| "name".into());
    let order = order_param(&q.order).unwrap_or(Order::Asc);
    let inactive = ticked(&q.include_inactive);
    let query = ContactQuery {
        search: nonblank(&q.search),
        company: nonblank(&q.company),
        include_inactive: Some(inactive),
        sort: Some(sort.clone()),
        order: Some(order),
        ..Default::default()
    };
    let (rows, total) =
        contacts::list(&state.db, ctx.principal.company_scope(), &query, page).await?;
    let none = FieldErrors::new();
    let pq = &ctx.path_and_query;
    Ok(Page::new(&ctx, "Contacts")
        .crumb("Codex", "/codex")
        .crumb("Contacts", LIST)
        .body(html! {
            div class="page-head" {
                h1 { "Contacts" }
                @if can_write(&ctx) { a class="button" href="/codex/contacts/new" { "Add contact" } }
            }
            form method="get" action=(LIST) class="inline card" role="search" {
                (Field::input("search", "search", "Search").value(q.search.clone().unwrap_or_default())
                    .hint("Name, e-mail or phone").render(&none))
                (Field::text("company", "Company (account number)").value(q.company.clone().unwrap_or_default()).render(&none))
                (Field::checkbox("include_inactive", "Show inactive").value(if inactive { "1" } else { "" }).render(&none))
                input type="hidden" name="sort" value=(sort);
                button type="submit" { "Filter" }
            }
            div class="table-wrap" {
                table {
                    thead { tr {
                        (sort_header("Name", "name", &sort, order, pq))
                        (sort_header("E-mail", "email", &sort, order, pq))
                        th { "Title" } th { "Companies" }
                        (sort_header("Status", "active", &sort, order, pq))
                    } }
                    tbody { @for c in &rows { (row(c)) } }
                }
                @if rows.is_empty() { p class="empty" { "No contacts match." } }
            }
            (pager(total, &page, pq))
        }))
}

async fn detail(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> AppResult<Page> {
    let c = contacts::visible(&state.db, &ctx.principal, id).await?;
    let mut devices = Vec::new();
    for aid in c.asset_ids.iter().take(100) {
        if let Some(a) = assets::get(&state.db, *aid).await? {
            if ctx.principal.may_see_company(a.company_id) {
                devices.push(a);
            }
        }
    }
    let row = |label: &str, v: Option<&str>| html! { dt { (label) } dd { (or_dash(v)) } };
    Ok(Page::new(&ctx, c.name.clone())
        .crumb("Codex", "/codex")
        .crumb("Contacts", LIST)
        .crumb(c.name.clone(), href(c.id))
        .body(html! {
            div class="page-head" {
                h1 { (c.name)
                    @if c.vip_user { " " span class="badge" { "VIP" } }
                    @if !c.active { " " span class="badge" { "inactive" } }
                    @if c.deleted_at.is_some() { " " span class="badge" { "deleted" } } }
                @if can_write(&ctx) {
                    div class="actions" {
                        a class="button" href={ (href(c.id)) "/edit" } { "Edit" }
                        @if c.deleted_at.is_none() {
                            form method="post" action={ (href(c.id)) "/delete" } data-confirm={ "Delete " (c.name) "?" } {
                                (csrf(&ctx))
                                button type="submit" class="danger" { "Delete" }
                            }
                        }
                    }
                }
            }
            div class="card" {
                dl class="props" {
                    dt { "E-mail" } dd { a href={ "mailto:" (c.email) } { (c.email) } }
                    @if !c.secondary_emails.is_empty() { dt { "Other e-mails" } dd { (c.secondary_emails.join(", ")) } }
                    (row("Title", c.job_title.as_deref()))
                    (row("Mobile", c.mobile_phone_number.as_deref()))
                    (row("Work phone", c.work_phone_number.as_deref()))
                    (row("Location", c.location_name.as_deref()))
                    (row("Address", c.address.as_deref()))
                    (row("Time zone", c.time_zone.as_deref()))
                    dt { "Employment" } dd { (c.employment_type) }
                    (row("Background", c.background_information.as_deref()))
                    (row("Source", c.external_source.as_deref()))
                    dt { "Agent" } dd { (if c.is_agent { "Yes" } else { "No" }) }
                    dt { "Updated" } dd { (local(&ctx, &c.updated_at)) }
                }
            }
            h2 { "Companies" }
            div class="table-wrap" { table {
                thead { tr { th { "Account #" } th { "Name" } th { "Primary" } } }
                tbody { @for co in &c.companies { tr {
                    td class="mono" { (co.account_number) }
                    td { a href=(super::companies::href(&co.account_number)) { (co.name) } }
                    td { (if co.is_primary { "Yes" } else { "" }) }
                } } }
            }
            @if c.companies.is_empty() { p class="empty" { "No companies." } } }
            h2 { "Assigned assets" }
            (super::assets::table(&ctx, &devices, true))
        }))
}

/// The form's fields, under the JSON API's names.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ContactForm {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    secondary_emails: Option<String>,
    job_title: Option<String>,
    mobile_phone_number: Option<String>,
    work_phone_number: Option<String>,
    address: Option<String>,
    location_name: Option<String>,
    time_zone: Option<String>,
    background_information: Option<String>,
    /// Comma-separated account numbers.
    company_account_numbers: Option<String>,
    primary_company: Option<String>,
    /// Present when the form had the flag checkboxes (unticked boxes send nothing).
    flags: Option<String>,
    active: Option<String>,
    vip_user: Option<String>,
    is_agent: Option<String>,
}

impl ContactForm {
    fn of(c: &Contact) -> ContactForm {
        let flag = |b: bool| Some(if b { "1" } else { "" }.to_string());
        ContactForm {
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            email: Some(c.email.clone()),
            secondary_emails: Some(c.secondary_emails.join(", ")),
            job_title: c.job_title.clone(),
            mobile_phone_number: c.mobile_phone_number.clone(),
            work_phone_number: c.work_phone_number.clone(),
            address: c.address.clone(),
            location_name: c.location_name.clone(),
            time_zone: c.time_zone.clone(),
            background_information: c.background_information.clone(),
            company_account_numbers: Some(
                c.companies
                    .iter()
                    .map(|x| x.account_number.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            primary_company: c
                .companies
                .iter()
                .find(|x| x.is_primary)
                .map(|x| x.account_number.clone()),
            flags: Some("1".into()),
            active: flag(c.active),
            vip_user: flag(c.vip_user),
            is_agent: flag(c.is_agent),
        }
    }

    fn input(&self) -> ContactInput {
        let flags = self.flags.is_some();
        let flag = |v: &Option<String>| flags.then(|| ticked(v));
        ContactInput {
            first_name: patch_of(&self.first_name),
            last_name: patch_of(&self.last_name),
            email: patch_of(&self.email),
            secondary_emails: self
                .secondary_emails
                .as_ref()
                .map(|s| Some(serde_json::Value::String(s.clone()))),
            job_title: patch_of(&self.job_title),
            mobile_phone_number: patch_of(&self.mobile_phone_number),
            work_phone_number: patch_of(&self.work_phone_number),
            address: patch_of(&self.address),
            location_name: patch_of(&self.location_name),
            time_zone: patch_of(&self.time_zone),
            background_information: patch_of(&self.background_information),
            company_account_numbers: self.company_account_numbers.as_ref().map(|s| {
                s.split([',', '\n', ' '])
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect()
            }),
            primary_company: nonblank(&self.primary_company).map(Some),
            active: flag(&self.active),
            vip_user: flag(&self.vip_user),
            is_agent: flag(&self.is_agent),
            ..Default::default()
        }
    }
}

fn form_view(
    ctx: &PageCtx,
    existing: Option<&Contact>,
    f: &ContactForm,
    errors: &FieldErrors,
) -> Page {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let (title, action) = match existing {
        Some(c) => (format!("Edit {}", c.name), format!("{}/edit", href(c.id))),
        None => ("Add contact".to_string(), "/codex/contacts/new".to_string()),
    };
    let mut page = Page::new(ctx, title.clone())
        .crumb("Codex", "/codex")
        .crumb("Contacts", LIST);
    if let Some(c) = existing {
        page = page.crumb(c.name.clone(), href(c.id));
    }
    page.crumb(title.clone(), action.clone()).body(html! {
        h1 { (title) }
        div class="card" {
            (error_summary(errors))
            form method="post" action=(action) class="stack" novalidate {
                (csrf(ctx))
                input type="hidden" name="flags" value="1";
                (Field::text("first_name", "First name").value(v(&f.first_name)).autofocus().render(errors))
                (Field::text("last_name", "Last name").value(v(&f.last_name)).render(errors))
                (Field::input("email", "email", "E-mail").value(v(&f.email)).required().error_key("primary_email").render(errors))
                (Field::text("secondary_emails", "Other e-mails").value(v(&f.secondary_emails)).hint("Comma-separated.").render(errors))
                (Field::text("company_account_numbers", "Companies (account numbers)").value(v(&f.company_account_numbers))
                    .hint("Comma-separated; the first is primary unless set below.").render(errors))
                (Field::text("primary_company", "Primary company (account number)").value(v(&f.primary_company)).render(errors))
                (Field::text("job_title", "Title").value(v(&f.job_title)).error_key("title").render(errors))
                (Field::input("tel", "mobile_phone_number", "Mobile").value(v(&f.mobile_phone_number)).render(errors))
                (Field::input("tel", "work_phone_number", "Work phone").value(v(&f.work_phone_number)).render(errors))
                (Field::text("location_name", "Location").value(v(&f.location_name)).render(errors))
                (Field::text("time_zone", "Time zone").value(v(&f.time_zone)).render(errors))
                (Field::textarea("address", "Address").value(v(&f.address)).render(errors))
                (Field::textarea("background_information", "Background").value(v(&f.background_information)).render(errors))
                (Field::checkbox("active", "Active").value(f.active.clone().unwrap_or_else(|| if existing.is_none() { "1".into() } else { String::new() })).render(errors))
                (Field::checkbox("vip_user", "VIP").value(v(&f.vip_user)).render(errors))
                (Field::checkbox("is_agent", "Agent").value(v(&f.is_agent)).render(errors))
                div class="actions" {
                    button type="submit" { "Save" }
                    a class="button secondary" href=(existing.map(|c| href(c.id)).unwrap_or_else(|| LIST.to_string())) { "Cancel" }
                }
            }
        }
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct NewParams {
    company: Option<String>,
}

async fn new_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    QueryParams(q): QueryParams<NewParams>,
) -> AppResult<Page> {
    let mut f = ContactForm::default();
    if let Some(a) = nonblank(&q.company) {
        // Only a company the user may see is filled in.
        if companies::visible(&state.db, &ctx.principal, &a)
            .await
            .is_ok()
        {
            f.company_account_numbers = Some(a);
        }
    }
    Ok(form_view(&ctx, None, &f, &FieldErrors::new()))
}

fn rejected(
    ctx: &PageCtx,
    existing: Option<&Contact>,
    f: &ContactForm,
    e: AppError,
) -> AppResult<Response> {
    let errors = match e {
        // A taken e-mail address belongs next to its field.
        AppError::Conflict(m) => {
            let mut errs = FieldErrors::new();
            errs.insert("email".into(), m);
            errs
        }
        e => field_errors(e)?,
    };
    Ok(form_view(ctx, existing, f, &errors)
        .status(StatusCode::UNPROCESSABLE_ENTITY)
        .into_response())
}

async fn create(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<ContactForm>,
) -> AppResult<Response> {
    let mut input = f.input();
    if input.email.is_none() {
        input.email = Some(Some(String::new()));
    }
    match contacts::create(&state.db, &ctx.principal, &input).await {
        Ok(c) => Ok(Flash::success(format!("Contact {} created.", c.name)).redirect(&href(c.id))),
        Err(e) => rejected(&ctx, None, &f, e),
    }
}

async fn edit_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> AppResult<Page> {
    let c = contacts::visible(&state.db, &ctx.principal, id).await?;
    Ok(form_view(
        &ctx,
        Some(&c),
        &ContactForm::of(&c),
        &FieldErrors::new(),
    ))
}

async fn save(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<ContactForm>,
) -> AppResult<Response> {
    let c = contacts::visible(&state.db, &ctx.principal, id).await?;
    match contacts::update(&state.db, &ctx.principal, id, &f.input()).await {
        Ok(c) => Ok(Flash::success(format!("Contact {} saved.", c.name)).redirect(&href(c.id))),
        Err(e) => rejected(&ctx, Some(&c), &f, e),
    }
}

async fn delete(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let c = contacts::visible(&state.db, &ctx.principal, id).await?;
    contacts::soft_delete(&state.db, &ctx.principal, id).await?;
    Ok(Flash::success(format!("Contact {} deleted.", c.name)).redirect(LIST))
}
