//! Asset pages: the list (search, company/type/online filters, sort, server-side
//! paging), the detail page (every RMM field and the user-defined fields under their
//! labels) and add/edit/delete through `codex::assets`' own validation.

use super::{can_write, nonblank, or_dash, order_param, patch_of};
use crate::codex::assets::{self, Asset, AssetInput, AssetQuery};
use crate::codex::{companies, contacts};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::extract::QueryParams;
use crate::http::pagination::{Order, Page as Paging};
use crate::http::AppState;
use crate::web::forms::{csrf, error_summary, field_errors, Field};
use crate::web::table::{pager, sort_header};
use crate::web::time::{local, local_opt};
use crate::web::{Access, Flash, Page, PageCtx, Pages};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

pub const LIST: &str = "/codex/assets";

pub fn register(p: Pages) -> Pages {
    p.get(LIST, Access::Scoped, list_page)
        .get("/codex/assets/new", Access::Master, new_page)
        .post("/codex/assets/new", Access::Master, create)
        .get("/codex/assets/{id}", Access::Scoped, detail)
        .get("/codex/assets/{id}/edit", Access::Master, edit_page)
        .post("/codex/assets/{id}/edit", Access::Master, save)
        .post("/codex/assets/{id}/delete", Access::Master, delete)
        .post("/codex/assets/{id}/contacts", Access::Master, save_users)
}

pub fn href(id: i64) -> String {
    format!("{LIST}/{id}")
}

fn online(a: &Asset) -> Markup {
    html! {
        @if a.deleted_at.is_some() { span class="badge" { "deleted" } }
        @else if a.online { span class="badge ok" { "Online" } }
        @else { span class="badge" { "Offline" } }
    }
}

/// A table of assets (the company tab and the contact page); `with_company` adds the
/// company column.
pub fn table(ctx: &PageCtx, rows: &[Asset], with_company: bool) -> Markup {
    html! {
        div class="table-wrap" {
            table {
                thead { tr {
                    th { "Hostname" }
                    @if with_company { th { "Company" } }
                    th { "Type" } th { "Operating system" } th { "Status" } th { "Last seen" }
                } }
                tbody { @for a in rows { tr {
                    td { a href=(href(a.id)) { (a.hostname) } }
                    @if with_company { td { a href=(super::companies::href(&a.company_account_number)) { (a.company_name) } } }
                    td { (or_dash(a.hardware_type.as_deref())) }
                    td { (or_dash(a.operating_system.as_deref())) }
                    td { (online(a)) }
                    td { (local_opt(ctx, a.last_seen.as_deref())) }
                } } }
            }
            @if rows.is_empty() { p class="empty" { "No assets." } }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    search: Option<String>,
    company: Option<String>,
    hardware_type: Option<String>,
    online: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

const HARDWARE_TYPES: &[&str] = &[
    "Desktop",
    "Laptop",
    "Server",
    "Virtual Machine",
    "Network Device",
    "Printer",
    "Mobile",
];

async fn list_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    QueryParams(q): QueryParams<ListParams>,
) -> AppResult<Page> {
    let page = Paging::new(q.limit, q.offset, 50, 100)?;
    let sort = nonblank(&q.sort).unwrap_or_else(|| "hostname".into());
    let order = order_param(&q.order).unwrap_or(Order::Asc);
    let query = AssetQuery {
        search: nonblank(&q.search),
        company: nonblank(&q.company),
        hardware_type: nonblank(&q.hardware_type),
        online: match nonblank(&q.online).as_deref() {
            Some("1") => Some(true),
            Some("0") => Some(false),
            _ => None,
        },
        sort: Some(sort.clone()),
        order: Some(order),
        ..Default::default()
    };
    let (rows, total) =
        assets::list(&state.db, ctx.principal.company_scope(), &query, page).await?;
    let none = FieldErrors::new();
    let pq = &ctx.path_and_query;
    let types: Vec<(String, String)> = std::iter::once((String::new(), "Any type".to_string()))
        .chain(
            HARDWARE_TYPES
                .iter()
                .map(|t| (t.to_string(), t.to_string())),
        )
        .collect();
    Ok(Page::new(&ctx, "Assets")
        .crumb("Codex", "/codex")
        .crumb("Assets", LIST)
        .body(html! {
            div class="page-head" {
                h1 { "Assets" }
                @if can_write(&ctx) { a class="button" href="/codex/assets/new" { "Add asset" } }
            }
            form method="get" action=(LIST) class="inline card" role="search" {
                (Field::input("search", "search", "Search").value(q.search.clone().unwrap_or_default())
                    .hint("Hostname, description, site, serial, IP or company").render(&none))
                (Field::text("company", "Company (account number)").value(q.company.clone().unwrap_or_default()).render(&none))
                (Field::select("hardware_type", "Type", types).value(q.hardware_type.clone().unwrap_or_default()).render(&none))
                (Field::select("online", "Status", [("", "Any"), ("1", "Online"), ("0", "Offline")])
                    .value(q.online.clone().unwrap_or_default()).render(&none))
                input type="hidden" name="sort" value=(sort);
                button type="submit" { "Filter" }
            }
            div class="table-wrap" {
                table {
                    thead { tr {
                        (sort_header("Hostname", "hostname", &sort, order, pq))
                        (sort_header("Company", "company", &sort, order, pq))
                        (sort_header("Type", "hardware_type", &sort, order, pq))
                        (sort_header("Operating system", "operating_system", &sort, order, pq))
                        (sort_header("Status", "online", &sort, order, pq))
                        (sort_header("Last seen", "last_seen", &sort, order, pq))
                        th { "Remote" }
                    } }
                    tbody { @for a in &rows { tr {
                        td { a href=(href(a.id)) { (a.hostname) } }
                        td { a href=(super::companies::href(&a.company_account_number)) { (a.company_name) } }
                        td { (or_dash(a.hardware_type.as_deref())) }
                        td { (or_dash(a.operating_system.as_deref())) }
                        td { (online(a)) }
                        td { (local_opt(&ctx, a.last_seen.as_deref())) }
                        td { @if let Some(u) = safe_url(a.web_remote_url.as_deref()) {
                            a href=(u) rel="noopener noreferrer" target="_blank" { "Connect" } } }
                    } } }
                }
                @if rows.is_empty() { p class="empty" { "No assets match." } }
            }
            (pager(total, &page, pq))
        }))
}

/// Only http(s) links are rendered as links (a stored `javascript:` URL is shown as text).
fn safe_url(u: Option<&str>) -> Option<&str> {
    u.filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

async fn detail(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> AppResult<Page> {
    let a = assets::visible(&state.db, &ctx.principal, id).await?;
    let mut people = Vec::new();
    for cid in a.contact_ids.iter().take(100) {
        if let Ok(c) = contacts::visible(&state.db, &ctx.principal, *cid).await {
            people.push(c);
        }
    }
    // Writers assign users from the company's contacts (checkboxes).
    let candidates = if can_write(&ctx) {
        let q = contacts::ContactQuery {
            company: Some(a.company_account_number.clone()),
            ..Default::default()
        };
        contacts::list(&state.db, None, &q, Paging::new(Some(200), None, 200, 200)?)
            .await?
            .0
    } else {
        vec![]
    };
    let row = |label: &str, v: Option<&str>| html! { dt { (label) } dd { (or_dash(v)) } };
    let time = |label: &str, v: Option<&str>| html! { dt { (label) } dd { (or_dash(Some(&local_opt(&ctx, v)))) } };
    Ok(Page::new(&ctx, a.hostname.clone())
        .crumb("Codex", "/codex")
        .crumb("Assets", LIST)
        .crumb(a.hostname.clone(), href(a.id))
        .body(html! {
            div class="page-head" {
                h1 { (a.hostname) " " (online(&a)) }
                @if can_write(&ctx) {
                    div class="actions" {
                        a class="button" href={ (href(a.id)) "/edit" } { "Edit" }
                        @if a.deleted_at.is_none() {
                            form method="post" action={ (href(a.id)) "/delete" } data-confirm={ "Delete " (a.hostname) "?" } {
                                (csrf(&ctx))
                                button type="submit" class="danger" { "Delete" }
                            }
                        }
                    }
                }
            }
            div class="card" {
                h2 { "Device" }
                dl class="props" {
                    dt { "Company" } dd { a href=(super::companies::href(&a.company_account_number)) { (a.company_name) } }
                    (row("Description", a.description.as_deref()))
                    (row("Hardware type", a.hardware_type.as_deref()))
                    (row("Device type", a.device_type.as_deref()))
                    (row("Operating system", a.operating_system.as_deref()))
                    (row("Manufacturer", a.manufacturer.as_deref()))
                    (row("Model", a.model.as_deref()))
                    (row("Serial number", a.serial_number.as_deref()))
                    (row("Warranty expires", a.warranty_expires.as_deref()))
                    (row("Last logged-in user", a.last_logged_in_user.as_deref()))
                    (row("Enabled administrators", a.enabled_administrators.as_deref()))
                }
            }
            div class="card" {
                h2 { "RMM" }
                dl class="props" {
                    (row("Source", a.external_source.as_deref()))
                    (row("Device id", a.external_id.as_deref()))
                    (row("Site", a.rmm_site_name.as_deref()))
                    (row("Site id", a.rmm_site_uid.as_deref()))
                    (row("Internal IP", a.int_ip_address.as_deref()))
                    (row("External IP", a.ext_ip_address.as_deref()))
                    (row("Domain", a.domain.as_deref()))
                    (row("Antivirus", a.antivirus_product.as_deref()))
                    (row("Antivirus status", a.antivirus_status.as_deref()))
                    (row("Patch status", a.patch_status.as_deref()))
                    (time("Last seen", a.last_seen.as_deref()))
                    (time("Last reboot", a.last_reboot.as_deref()))
                    (time("Last audit", a.last_audit_date.as_deref()))
                    dt { "Backup usage" } dd { @if let Some(tb) = &a.backup_usage_tb { (tb) " TB" } @else { "—" } }
                    dt { "Portal" } dd { @if let Some(u) = safe_url(a.portal_url.as_deref()) {
                        a href=(u) rel="noopener noreferrer" target="_blank" { "Open in the RMM" } } @else { (or_dash(a.portal_url.as_deref())) } }
                    dt { "Remote access" } dd { @if let Some(u) = safe_url(a.web_remote_url.as_deref()) {
                        a href=(u) rel="noopener noreferrer" target="_blank" { "Connect" } } @else { (or_dash(a.web_remote_url.as_deref())) } }
                    dt { "Updated" } dd { (local(&ctx, &a.updated_at)) }
                }
            }
            div class="card" {
                h2 { "User-defined fields" }
                @if a.udfs.0.is_empty() { p class="muted" { "None." } }
                @else {
                    dl class="props" id="udfs" {
                        @for (n, v) in &a.udfs.0 {
                            dt { (assets::udf_label(*n)) " " span class="muted" { "(udf" (n) ")" } }
                            dd class="mono" { (v) }
                        }
                    }
                }
            }
            h2 { "Assigned users" }
            (super::contacts::table(&people))
            @if can_write(&ctx) {
                form method="post" action={ (href(a.id)) "/contacts" } class="card" id="assign-users" {
                    (csrf(&ctx))
                    fieldset {
                        legend { "Users of " (a.company_name) }
                        @if candidates.is_empty() { p class="muted" { "The company has no active contacts." } }
                        @for c in &candidates {
                            div { label {
                                input type="checkbox" name="contact_ids" value=(c.id) checked[a.contact_ids.contains(&c.id)];
                                " " (c.name) " " span class="muted" { (c.email) }
                            } }
                        }
                    }
                    div class="actions" { button type="submit" { "Save assigned users" } }
                }
            }
        }))
}

/// The form's fields, under the JSON API's names.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AssetForm {
    company_account_number: Option<String>,
    hostname: Option<String>,
    description: Option<String>,
    hardware_type: Option<String>,
    device_type: Option<String>,
    operating_system: Option<String>,
    manufacturer: Option<String>,
    model: Option<String>,
    serial_number: Option<String>,
    int_ip_address: Option<String>,
    ext_ip_address: Option<String>,
    domain: Option<String>,
    warranty_expires: Option<String>,
    portal_url: Option<String>,
    web_remote_url: Option<String>,
}

impl AssetForm {
    fn of(a: &Asset) -> AssetForm {
        AssetForm {
            company_account_number: Some(a.company_account_number.clone()),
            hostname: Some(a.hostname.clone()),
            description: a.description.clone(),
            hardware_type: a.hardware_type.clone(),
            device_type: a.device_type.clone(),
            operating_system: a.operating_system.clone(),
            manufacturer: a.manufacturer.clone(),
            model: a.model.clone(),
            serial_number: a.serial_number.clone(),
            int_ip_address: a.int_ip_address.clone(),
            ext_ip_address: a.ext_ip_address.clone(),
            domain: a.domain.clone(),
            warranty_expires: a.warranty_expires.clone(),
            portal_url: a.portal_url.clone(),
            web_remote_url: a.web_remote_url.clone(),
        }
    }

    fn input(&self) -> AssetInput {
        AssetInput {
            company_account_number: self
                .company_account_number
                .as_deref()
                .map(|s| s.trim().to_string()),
            hostname: patch_of(&self.hostname),
            description: patch_of(&self.description),
            hardware_type: patch_of(&self.hardware_type),
            device_type: patch_of(&self.device_type),
            operating_system: patch_of(&self.operating_system),
            manufacturer: patch_of(&self.manufacturer),
            model: patch_of(&self.model),
            serial_number: patch_of(&self.serial_number),
            int_ip_address: patch_of(&self.int_ip_address),
            ext_ip_address: patch_of(&self.ext_ip_address),
            domain: patch_of(&self.domain),
            warranty_expires: patch_of(&self.warranty_expires),
            portal_url: patch_of(&self.portal_url),
            web_remote_url: patch_of(&self.web_remote_url),
            ..Default::default()
        }
    }
}

fn form_view(ctx: &PageCtx, existing: Option<&Asset>, f: &AssetForm, errors: &FieldErrors) -> Page {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let (title, action) = match existing {
        Some(a) => (
            format!("Edit {}", a.hostname),
            format!("{}/edit", href(a.id)),
        ),
        None => ("Add asset".to_string(), "/codex/assets/new".to_string()),
    };
    let mut page = Page::new(ctx, title.clone())
        .crumb("Codex", "/codex")
        .crumb("Assets", LIST);
    if let Some(a) = existing {
        page = page.crumb(a.hostname.clone(), href(a.id));
    }
    page.crumb(title.clone(), action.clone()).body(html! {
        h1 { (title) }
        div class="card" {
            (error_summary(errors))
            form method="post" action=(action) class="stack" novalidate {
                (csrf(ctx))
                (Field::text("company_account_number", "Company (account number)").value(v(&f.company_account_number)).required().render(errors))
                (Field::text("hostname", "Hostname").value(v(&f.hostname)).required().autofocus().render(errors))
                (Field::textarea("description", "Description").value(v(&f.description)).render(errors))
                (Field::text("hardware_type", "Hardware type").value(v(&f.hardware_type)).hint("Desktop, Laptop, Server…").render(errors))
                (Field::text("device_type", "Device type").value(v(&f.device_type)).render(errors))
                (Field::text("operating_system", "Operating system").value(v(&f.operating_system)).render(errors))
                (Field::text("manufacturer", "Manufacturer").value(v(&f.manufacturer)).render(errors))
                (Field::text("model", "Model").value(v(&f.model)).render(errors))
                (Field::text("serial_number", "Serial number").value(v(&f.serial_number)).render(errors))
                (Field::text("int_ip_address", "Internal IP").value(v(&f.int_ip_address)).render(errors))
                (Field::text("ext_ip_address", "External IP").value(v(&f.ext_ip_address)).render(errors))
                (Field::text("domain", "Domain").value(v(&f.domain)).render(errors))
                (Field::input("date", "warranty_expires", "Warranty expires").value(v(&f.warranty_expires)).render(errors))
                (Field::input("url", "portal_url", "Portal URL").value(v(&f.portal_url)).render(errors))
                (Field::input("url", "web_remote_url", "Remote access URL").value(v(&f.web_remote_url)).render(errors))
                div class="actions" {
                    button type="submit" { "Save" }
                    a class="button secondary" href=(existing.map(|a| href(a.id)).unwrap_or_else(|| LIST.to_string())) { "Cancel" }
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
    let mut f = AssetForm::default();
    if let Some(acct) = nonblank(&q.company) {
        if companies::visible(&state.db, &ctx.principal, &acct)
            .await
            .is_ok()
        {
            f.company_account_number = Some(acct);
        }
    }
    Ok(form_view(&ctx, None, &f, &FieldErrors::new()))
}

fn rejected(
    ctx: &PageCtx,
    existing: Option<&Asset>,
    f: &AssetForm,
    e: AppError,
) -> AppResult<Response> {
    let errors = match e {
        AppError::NotFound(m) => {
            let mut errs = FieldErrors::new();
            errs.insert("company_account_number".into(), m);
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
    Form(f): Form<AssetForm>,
) -> AppResult<Response> {
    let mut input = f.input();
    if input.hostname.is_none() {
        input.hostname = Some(Some(String::new()));
    }
    match assets::create(&state.db, &ctx.principal, &input).await {
        Ok(a) => Ok(Flash::success(format!("Asset {} created.", a.hostname)).redirect(&href(a.id))),
        Err(e) => rejected(&ctx, None, &f, e),
    }
}

async fn edit_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> AppResult<Page> {
    let a = assets::visible(&state.db, &ctx.principal, id).await?;
    Ok(form_view(
        &ctx,
        Some(&a),
        &AssetForm::of(&a),
        &FieldErrors::new(),
    ))
}

async fn save(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    Form(f): Form<AssetForm>,
) -> AppResult<Response> {
    let a = assets::visible(&state.db, &ctx.principal, id).await?;
    let mut input = f.input();
    if input.company_account_number.as_deref() == Some("") {
        input.company_account_number = None;
    }
    match assets::update(&state.db, &ctx.principal, id, &input).await {
        Ok(a) => Ok(Flash::success(format!("Asset {} saved.", a.hostname)).redirect(&href(a.id))),
        Err(e) => rejected(&ctx, Some(&a), &f, e),
    }
}

async fn delete(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let a = assets::visible(&state.db, &ctx.principal, id).await?;
    assets::soft_delete(&state.db, &ctx.principal, id).await?;
    Ok(Flash::success(format!("Asset {} deleted.", a.hostname)).redirect(LIST))
}

/// Replaces the asset's assigned users with the ticked contacts (repeated
/// `contact_ids` fields, which a plain form deserialiser does not collect).
async fn save_users(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<i64>,
    body: String,
) -> AppResult<Response> {
    let ids = body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "contact_ids")
        .map(|(_, v)| v.parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| AppError::invalid("contact_ids", "must be contact ids"))?;
    match assets::set_contacts(&state.db, &ctx.principal, id, &ids).await {
        Ok(a) => Ok(Flash::success(format!(
            "{} user(s) assigned to {}.",
            a.contact_ids.len(),
            a.hostname
        ))
        .redirect(&href(a.id))),
        Err(AppError::Validation(errs)) => {
            let msg: Vec<String> = errs.values().cloned().collect();
            Ok(Flash::error(format!("Not changed: {}.", msg.join("; "))).redirect(&href(id)))
        }
        Err(e) => Err(e),
    }
}
