//! Company pages: the list (search, filters, sort, server-side paging, per-row counts
//! from one grouped query per count), the detail page with its tabs (each loaded with
//! htmx from `/codex/companies/{acct}/tabs/{tab}`, and server-rendered for a direct
//! link), and add/edit/delete through `codex::companies`' own validation.

use super::{can_write, nonblank, or_dash, order_param, patch_of};
use crate::audit::{self, AuditQuery};
use crate::codex::companies::{self, Company, CompanyInput, CompanyQuery};
use crate::codex::{assets, contacts, locations, plans, sites, tickets};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::extract::QueryParams;
use crate::http::pagination::{Order, Page as Paging};
use crate::http::AppState;
use crate::web::forms::{csrf, error_summary, field_errors, Field};
use crate::web::layout::fragment;
use crate::web::table::{pager, sort_header};
use crate::web::time::local;
use crate::web::{Access, Flash, Page, PageCtx, Pages};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

pub const LIST: &str = "/codex/companies";
pub const PROVIDERS: &[&str] = &["freshservice", "superops", "manual"];

pub fn register(p: Pages) -> Pages {
    p.get(LIST, Access::Scoped, list_page)
        .get("/codex/companies/new", Access::Master, new_page)
        .post("/codex/companies/new", Access::Master, create)
        .get("/codex/companies/{account_number}", Access::Scoped, detail)
        .get(
            "/codex/companies/{account_number}/tabs/{tab}",
            Access::Scoped,
            tab_fragment,
        )
        .get(
            "/codex/companies/{account_number}/edit",
            Access::Master,
            edit_page,
        )
        .post(
            "/codex/companies/{account_number}/edit",
            Access::Master,
            save,
        )
        .post(
            "/codex/companies/{account_number}/delete",
            Access::Master,
            delete,
        )
        .post(
            "/codex/companies/{account_number}/features",
            Access::Billing,
            save_features,
        )
}

pub fn href(account_number: &str) -> String {
    format!(
        "{LIST}/{}",
        crate::auth::middleware::urlencode(account_number)
    )
}

// ---------------------------------------------------------------------------
// List
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    search: Option<String>,
    billing_plan: Option<String>,
    psa_provider: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The distinct plan names (for the filter and the form).
async fn plan_names(state: &AppState) -> AppResult<Vec<String>> {
    let mut names: Vec<String> = plans::all_plans(&state.db)
        .await?
        .into_iter()
        .map(|p| p.plan_name)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

fn choices(values: &[String], any: &str) -> Vec<(String, String)> {
    std::iter::once((String::new(), any.to_string()))
        .chain(values.iter().map(|v| (v.clone(), v.clone())))
        .collect()
}

async fn list_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    QueryParams(q): QueryParams<ListParams>,
) -> AppResult<Page> {
    let page = Paging::new(q.limit, q.offset, 50, 100)?;
    let sort = nonblank(&q.sort).unwrap_or_else(|| "name".into());
    let order = order_param(&q.order).unwrap_or(Order::Asc);
    let query = CompanyQuery {
        search: nonblank(&q.search),
        billing_plan: nonblank(&q.billing_plan),
        psa_provider: nonblank(&q.psa_provider),
        sort: Some(sort.clone()),
        order: Some(order),
        ..Default::default()
    };
    let db = &state.db;
    let (rows, total) = companies::list(db, ctx.principal.company_scope(), &query, page).await?;
    let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
    let users = contacts::count_by_company(db, &ids).await?;
    let devices = assets::count_by_company(db, &ids).await?;
    let open = tickets::open_count_by_company(db, &ids).await?;
    let plan_names = if ctx.principal.company_scope().is_none() {
        plan_names(&state).await?
    } else {
        vec![]
    };
    let none = FieldErrors::new();
    let pq = &ctx.path_and_query;
    let providers: Vec<String> = PROVIDERS.iter().map(|s| s.to_string()).collect();
    let count = |m: &std::collections::HashMap<i64, i64>, id: i64| m.get(&id).copied().unwrap_or(0);
    Ok(Page::new(&ctx, "Companies")
        .crumb("Codex", "/codex")
        .crumb("Companies", LIST)
        .body(html! {
            div class="page-head" {
                h1 { "Companies" }
                @if can_write(&ctx) { a class="button" href="/codex/companies/new" { "Add company" } }
            }
            form method="get" action=(LIST) class="inline card" role="search" {
                (Field::input("search", "search", "Search").value(q.search.clone().unwrap_or_default())
                    .hint("Name, account number, description or domain").render(&none))
                @if ctx.principal.company_scope().is_none() {
                    (Field::select("billing_plan", "Plan", choices(&plan_names, "Any plan"))
                        .value(q.billing_plan.clone().unwrap_or_default()).render(&none))
                    (Field::select("psa_provider", "Provider", choices(&providers, "Any provider"))
                        .value(q.psa_provider.clone().unwrap_or_default()).render(&none))
                }
                input type="hidden" name="sort" value=(sort);
                button type="submit" { "Filter" }
            }
            div class="table-wrap" {
                table {
                    thead { tr {
                        (sort_header("Account #", "account_number", &sort, order, pq))
                        (sort_header("Name", "name", &sort, order, pq))
                        (sort_header("Plan", "billing_plan", &sort, order, pq))
                        th { "Provider" }
                        th class="num" { "Users" }
                        th class="num" { "Assets" }
                        th class="num" { "Open tickets" }
                        (sort_header("Contract end", "contract_end_date", &sort, order, pq))
                    } }
                    tbody {
                        @for c in &rows {
                            tr {
                                td class="mono" { (c.account_number) }
                                td {
                                    a href=(href(&c.account_number)) { (c.name) }
                                    @if c.deleted_at.is_some() { " " span class="badge" { "deleted" } }
                                }
                                td { (or_dash(c.billing_plan.as_deref())) }
                                td { (or_dash(c.psa_provider.as_deref())) }
                                td class="num" { (count(&users, c.id)) }
                                td class="num" { (count(&devices, c.id)) }
                                td class="num" { (count(&open, c.id)) }
                                td { (or_dash(c.contract_end_date.as_deref())) }
                            }
                        }
                    }
                }
                @if rows.is_empty() { p class="empty" { "No companies match." } }
            }
            (pager(total, &page, pq))
        }))
}

// ---------------------------------------------------------------------------
// Detail and tabs
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Contacts,
    Assets,
    Locations,
    Tickets,
    Plan,
    Sites,
    Audit,
}

impl Tab {
    const ALL: [Tab; 7] = [
        Tab::Contacts,
        Tab::Assets,
        Tab::Locations,
        Tab::Tickets,
        Tab::Plan,
        Tab::Sites,
        Tab::Audit,
    ];

    fn key(self) -> &'static str {
        match self {
            Tab::Contacts => "contacts",
            Tab::Assets => "assets",
            Tab::Locations => "locations",
            Tab::Tickets => "tickets",
            Tab::Plan => "plan",
            Tab::Sites => "sites",
            Tab::Audit => "audit",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tab::Contacts => "Contacts",
            Tab::Assets => "Assets",
            Tab::Locations => "Locations",
            Tab::Tickets => "Tickets",
            Tab::Plan => "Plan and features",
            Tab::Sites => "RMM sites",
            Tab::Audit => "History",
        }
    }

    fn parse(s: &str) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.key() == s)
    }

    /// Plan/feature and audit tabs are staff and admin reading, like their JSON APIs.
    fn visible(self, ctx: &PageCtx) -> bool {
        match self {
            Tab::Plan => ctx.principal.company_scope().is_none(),
            Tab::Audit => ctx.principal.require_admin().is_ok(),
            _ => true,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DetailParams {
    tab: Option<String>,
}

/// Rows shown per tab; the tab links to the full, paged list.
const TAB_ROWS: i64 = 25;

async fn detail(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(account_number): Path<String>,
    QueryParams(q): QueryParams<DetailParams>,
) -> AppResult<Page> {
    let c = companies::visible(&state.db, &ctx.principal, &account_number).await?;
    let tab = q
        .tab
        .as_deref()
        .and_then(Tab::parse)
        .filter(|t| t.visible(&ctx))
        .unwrap_or(Tab::Contacts);
    let tabs = tabs(&state, &ctx, &c, tab).await?;
    Ok(Page::new(&ctx, c.name.clone())
        .crumb("Codex", "/codex")
        .crumb("Companies", LIST)
        .crumb(c.name.clone(), href(&c.account_number))
        .body(html! {
            div class="page-head" {
                h1 { (c.name) " " span class="badge mono" { (c.account_number) }
                    @if c.deleted_at.is_some() { " " span class="badge" { "deleted" } } }
                @if can_write(&ctx) {
                    div class="actions" {
                        a class="button" href={ (href(&c.account_number)) "/edit" } { "Edit" }
                        @if c.deleted_at.is_none() {
                            form method="post" action={ (href(&c.account_number)) "/delete" }
                                data-confirm={ "Delete " (c.name) "? Its history stays and it can be restored." } {
                                (csrf(&ctx))
                                button type="submit" class="danger" { "Delete" }
                            }
                        }
                    }
                }
            }
            (properties(&ctx, &c))
            (tabs)
        }))
}

fn properties(ctx: &PageCtx, c: &Company) -> Markup {
    let row = |label: &str, v: Option<&str>| {
        html! { dt { (label) } dd { (or_dash(v)) } }
    };
    html! {
        div class="card" {
            dl class="props" {
                @if let Some(d) = &c.description { dt { "Description" } dd { (d) } }
                (row("Plan", c.billing_plan.as_deref()))
                (row("Contract term", c.contract_term_length.as_deref()))
                (row("Contract start", c.contract_start_date.as_deref()))
                (row("Contract end", c.contract_end_date.as_deref()))
                (row("Support level", c.support_level.as_deref()))
                dt { "Compliance" } dd { (c.compliance_level) }
                (row("Provider", c.psa_provider.as_deref()))
                @if let Some(p) = &c.parent_account_number {
                    dt { "Parent company" } dd { a href=(href(p)) { (p) } }
                }
                (row("Head user", c.head_name.as_deref()))
                (row("Prime user", c.prime_user_name.as_deref()))
                (row("Main number", c.company_main_number.as_deref()))
                (row("Address", c.address.as_deref()))
                dt { "Domains" } dd {
                    @if c.domain_list.is_empty() { "—" }
                    @for (i, d) in c.domain_list.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href={ "https://" (d) } rel="noopener noreferrer" target="_blank" { (d) }
                    }
                }
                (row("Managed users", c.managed_users.as_deref()))
                (row("Managed devices", c.managed_devices.as_deref()))
                (row("Managed network", c.managed_network.as_deref()))
                (row("E-mail system", c.email_system.as_deref()))
                (row("Phone system", c.phone_system.as_deref()))
                (row("Company start", c.company_start_date.as_deref()))
                @if let Some(u) = c.datto_portal_url.as_deref().filter(|u| u.starts_with("http")) {
                    dt { "Datto portal" } dd { a href=(u) rel="noopener noreferrer" target="_blank" { "Open" } }
                }
                dt { "Updated" } dd { (local(ctx, &c.updated_at)) }
            }
        }
    }
}

/// The tab bar and the selected tab's panel; htmx swaps the whole block.
async fn tabs(state: &AppState, ctx: &PageCtx, c: &Company, tab: Tab) -> AppResult<Markup> {
    let panel = panel(state, ctx, c, tab).await?;
    let base = href(&c.account_number);
    Ok(html! {
        div id="company-tabs" {
            nav class="tabs" aria-label="Company sections" {
                @for t in Tab::ALL.into_iter().filter(|t| t.visible(ctx)) {
                    a href={ (base) "?tab=" (t.key()) }
                        hx-get={ (base) "/tabs/" (t.key()) }
                        hx-target="#company-tabs" hx-swap="outerHTML"
                        hx-push-url={ (base) "?tab=" (t.key()) }
                        aria-current=[(t == tab).then_some("page")] { (t.label()) }
                }
            }
            div class="tab-panel" id="tab-panel" { (panel) }
        }
    })
}

async fn tab_fragment(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path((account_number, tab)): Path<(String, String)>,
) -> AppResult<Response> {
    let c = companies::visible(&state.db, &ctx.principal, &account_number).await?;
    let tab = Tab::parse(&tab).ok_or_else(|| AppError::not_found("no such tab"))?;
    if !tab.visible(&ctx) {
        return Err(AppError::Forbidden(format!(
            "the {} role may not see this tab",
            ctx.principal.role
        )));
    }
    Ok(fragment(tabs(&state, &ctx, &c, tab).await?))
}

fn more(shown: usize, total: i64, what: &str, link: String) -> Markup {
    html! {
        @if total > shown as i64 {
            p class="muted" { "Showing " (shown) " of " (total) " " (what) ". " a href=(link) { "See all" } }
        }
    }
}

async fn panel(state: &AppState, ctx: &PageCtx, c: &Company, tab: Tab) -> AppResult<Markup> {
    let db = &state.db;
    let scope = ctx.principal.company_scope();
    let page = Paging::new(Some(TAB_ROWS), None, TAB_ROWS, TAB_ROWS)?;
    let acct = crate::auth::middleware::urlencode(&c.account_number);
    Ok(match tab {
        Tab::Contacts => {
            let q = contacts::ContactQuery {
                company: Some(c.account_number.clone()),
                include_inactive: Some(true),
                ..Default::default()
            };
            let (rows, total) = contacts::list(db, scope, &q, page).await?;
            html! {
                @if can_write(ctx) { p { a href={ "/codex/contacts/new?company=" (acct) } { "Add contact" } } }
                (super::contacts::table(&rows))
                (more(rows.len(), total, "contacts", format!("/codex/contacts?company={acct}&include_inactive=1")))
            }
        }
        Tab::Assets => {
            let q = assets::AssetQuery {
                company: Some(c.account_number.clone()),
                ..Default::default()
            };
            let (rows, total) = assets::list(db, scope, &q, page).await?;
            html! {
                @if can_write(ctx) { p { a href={ "/codex/assets/new?company=" (acct) } { "Add asset" } } }
                (super::assets::table(ctx, &rows, false))
                (more(rows.len(), total, "assets", format!("/codex/assets?company={acct}")))
            }
        }
        Tab::Locations => {
            let (rows, total) = locations::for_company(db, c.id, &Default::default(), page).await?;
            html! {
                div class="table-wrap" { table {
                    thead { tr { th { "Name" } th { "Address" } th { "Phone" } } }
                    tbody { @for l in &rows { tr {
                        td { (l.name) } td { (or_dash(l.address.as_deref())) } td { (or_dash(l.phone_number.as_deref())) }
                    } } }
                }
                @if rows.is_empty() { p class="empty" { "No locations." } } }
                @if total > rows.len() as i64 { p class="muted" { "Showing " (rows.len()) " of " (total) "." } }
            }
        }
        Tab::Tickets => {
            let q = tickets::TicketQuery {
                company_id: Some(c.account_number.clone()),
                ..Default::default()
            };
            let (rows, total) = tickets::list(db, scope, &q, page).await?;
            html! {
                div class="table-wrap" { table {
                    thead { tr { th { "Number" } th { "Subject" } th { "Status" } th { "Priority" } th { "Agent" } th { "Updated" } } }
                    tbody { @for t in &rows { tr {
                        td class="mono" { (t.ticket_number.as_deref().unwrap_or(&t.external_id)) }
                        td { (or_dash(t.subject.as_deref())) }
                        td { (t.status.as_deref().map(tickets::status_display).unwrap_or_default()) }
                        td { (t.priority.as_deref().map(tickets::priority_display).unwrap_or_default()) }
                        td { (or_dash(t.agent_name.as_deref())) }
                        td { (crate::web::time::local_opt(ctx, t.last_updated_at.as_deref())) }
                    } } }
                }
                @if rows.is_empty() { p class="empty" { "No tickets." } } }
                @if total > rows.len() as i64 { p class="muted" { "Showing the " (rows.len()) " most recently updated of " (total) " tickets." } }
            }
        }
        Tab::Plan => {
            let f = plans::effective_features(db, c.id).await?;
            let billing = ctx.principal.require_billing_write().is_ok();
            let mut options: std::collections::BTreeMap<String, Vec<String>> = Default::default();
            if billing {
                for o in plans::all_options(db).await? {
                    options
                        .entry(o.feature_category)
                        .or_default()
                        .push(o.option_value);
                }
            }
            html! {
                dl class="props card" {
                    dt { "Plan" } dd { (or_dash(f.plan_name.as_deref().or(c.billing_plan.as_deref()))) }
                    dt { "Term" } dd { (f.term_length) }
                    dt { "Support level" } dd { (f.support_level) }
                }
                @if f.plan_id.is_none() && c.billing_plan.is_some() {
                    p class="flash flash-warning" { "No billing plan named “" (c.billing_plan.as_deref().unwrap_or_default()) "” with term " (f.term_length) " exists." }
                }
                div class="table-wrap" { table {
                    thead { tr { th { "Feature" } th { "Value" } th { "Plan's value" } th { "From" } } }
                    tbody { @for d in &f.details { tr {
                        td { (d.display_name) } td { (d.value) } td { (d.plan_value) }
                        td { span class="badge" { (d.source) } }
                    } } }
                }
                @if f.details.is_empty() { p class="empty" { "No features." } } }
                @if billing && !f.details.is_empty() {
                    form method="post" action={ (href(&c.account_number)) "/features" } class="card stack" id="feature-overrides" {
                        (csrf(ctx))
                        h3 { "Overrides for this company" }
                        @for d in &f.details {
                            @let current = f.overrides.get(&d.feature_type).cloned().unwrap_or_default();
                            @let opts = override_choices(d, options.get(&d.feature_type), &current);
                            (Field::select(&format!("f_{}", d.feature_type), &d.display_name, opts).value(&current).render(&FieldErrors::new()))
                        }
                        div class="actions" { button type="submit" { "Save overrides" } }
                    }
                }
            }
        }
        Tab::Sites => {
            let (rows, _) =
                sites::for_company(db, c.id, Paging::new(Some(100), None, 100, 100)?).await?;
            html! {
                div class="table-wrap" { table {
                    thead { tr { th { "Provider" } th { "Site" } th { "Site id" } th { "Linked" } } }
                    tbody { @for s in &rows { tr {
                        td { (s.rmm_provider) } td { (or_dash(s.rmm_site_name.as_deref())) }
                        td class="mono" { (s.rmm_site_uid) } td { (local(ctx, &s.created_at)) }
                    } } }
                }
                @if rows.is_empty() { p class="empty" { "No RMM sites linked." } } }
            }
        }
        Tab::Audit => {
            let q = AuditQuery {
                entity: Some("company".into()),
                entity_id: Some(c.account_number.clone()),
                ..Default::default()
            };
            let (rows, total) = audit::query(db, &q, page).await?;
            html! {
                div class="table-wrap" { table {
                    thead { tr { th { "When" } th { "Who" } th { "Action" } th { "Correlation id" } } }
                    tbody { @for e in &rows { tr {
                        td { (local(ctx, &e.at)) }
                        td { (e.actor_email.as_deref().unwrap_or(e.module.as_str())) }
                        td { span class="badge" { (e.action) } }
                        td class="mono" { (e.correlation_id.as_deref().unwrap_or("")) }
                    } } }
                }
                @if rows.is_empty() { p class="empty" { "No recorded changes." } } }
                (more(rows.len(), total, "changes", format!("/codex/audit?entity=company&entity_id={acct}")))
            }
        }
    })
}

// ---------------------------------------------------------------------------
// Add, edit, delete
// ---------------------------------------------------------------------------

/// The form's fields, under the JSON API's names (so its field errors land on them).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct CompanyForm {
    account_number: Option<String>,
    name: Option<String>,
    description: Option<String>,
    compliance_level: Option<String>,
    parent_account_number: Option<String>,
    psa_provider: Option<String>,
    billing_plan: Option<String>,
    contract_term_length: Option<String>,
    contract_start_date: Option<String>,
    support_level: Option<String>,
    managed_users: Option<String>,
    managed_devices: Option<String>,
    managed_network: Option<String>,
    email_system: Option<String>,
    phone_system: Option<String>,
    company_main_number: Option<String>,
    address: Option<String>,
    /// One domain per line (or comma-separated).
    domains: Option<String>,
    company_start_date: Option<String>,
    datto_portal_url: Option<String>,
}

impl CompanyForm {
    fn of(c: &Company) -> CompanyForm {
        CompanyForm {
            account_number: Some(c.account_number.clone()),
            name: Some(c.name.clone()),
            description: c.description.clone(),
            compliance_level: Some(c.compliance_level.clone()),
            parent_account_number: c.parent_account_number.clone(),
            psa_provider: c.psa_provider.clone(),
            billing_plan: c.billing_plan.clone(),
            contract_term_length: c.contract_term_length.clone(),
            contract_start_date: c.contract_start_date.clone(),
            support_level: c.support_level.clone(),
            managed_users: c.managed_users.clone(),
            managed_devices: c.managed_devices.clone(),
            managed_network: c.managed_network.clone(),
            email_system: c.email_system.clone(),
            phone_system: c.phone_system.clone(),
            company_main_number: c.company_main_number.clone(),
            address: c.address.clone(),
            domains: Some(c.domain_list.join("\n")),
            company_start_date: c.company_start_date.clone(),
            datto_portal_url: c.datto_portal_url.clone(),
        }
    }

    /// The API's input: fields the form sent are set (empty clears), others stay.
    fn input(&self, creating: bool) -> CompanyInput {
        CompanyInput {
            account_number: if creating {
                patch_of(&self.account_number)
            } else {
                None
            },
            name: patch_of(&self.name),
            description: patch_of(&self.description),
            compliance_level: nonblank(&self.compliance_level).map(Some),
            parent_account_number: patch_of(&self.parent_account_number),
            psa_provider: patch_of(&self.psa_provider),
            billing_plan: patch_of(&self.billing_plan),
            contract_term_length: patch_of(&self.contract_term_length),
            contract_start_date: patch_of(&self.contract_start_date),
            support_level: patch_of(&self.support_level),
            managed_users: patch_of(&self.managed_users),
            managed_devices: patch_of(&self.managed_devices),
            managed_network: patch_of(&self.managed_network),
            email_system: patch_of(&self.email_system),
            phone_system: patch_of(&self.phone_system),
            company_main_number: patch_of(&self.company_main_number),
            address: patch_of(&self.address),
            domains: self.domains.as_ref().map(|d| {
                serde_json::Value::Array(
                    d.split(['\n', ',', ' '])
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| serde_json::Value::String(s.into()))
                        .collect(),
                )
            }),
            company_start_date: patch_of(&self.company_start_date),
            datto_portal_url: patch_of(&self.datto_portal_url),
            ..Default::default()
        }
    }
}

async fn form_view(
    state: &AppState,
    ctx: &PageCtx,
    existing: Option<&Company>,
    f: &CompanyForm,
    errors: &FieldErrors,
) -> AppResult<Page> {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let mut plan_opts = choices(&plan_names(state).await?, "No plan");
    if let Some(p) = nonblank(&f.billing_plan) {
        if !plan_opts.iter().any(|(v, _)| *v == p) {
            plan_opts.push((p.clone(), format!("{p} (no such plan)")));
        }
    }
    let terms: Vec<String> = companies::TERMS.iter().map(|s| s.to_string()).collect();
    let providers: Vec<String> = PROVIDERS.iter().map(|s| s.to_string()).collect();
    let levels: Vec<(String, String)> = companies::COMPLIANCE_LEVELS
        .iter()
        .map(|l| (l.to_string(), l.to_uppercase()))
        .collect();
    let (title, action) = match existing {
        Some(c) => (
            format!("Edit {}", c.name),
            format!("{}/edit", href(&c.account_number)),
        ),
        None => (
            "Add company".to_string(),
            "/codex/companies/new".to_string(),
        ),
    };
    let mut page = Page::new(ctx, title.clone())
        .crumb("Codex", "/codex")
        .crumb("Companies", LIST);
    if let Some(c) = existing {
        page = page.crumb(c.name.clone(), href(&c.account_number));
    }
    Ok(page.crumb(title.clone(), action.clone()).body(html! {
        h1 { (title) }
        div class="card" {
            (error_summary(errors))
            form method="post" action=(action) class="stack" novalidate {
                (csrf(ctx))
                @if existing.is_none() {
                    (Field::text("account_number", "Account number").value(v(&f.account_number))
                        .hint("Leave empty to get a free six-digit number.").render(errors))
                } @else {
                    p { "Account number " span class="mono" { (v(&f.account_number)) } " (it never changes)." }
                }
                (Field::text("name", "Name").value(v(&f.name)).required().autofocus().render(errors))
                (Field::textarea("description", "Description").value(v(&f.description)).render(errors))
                (Field::select("billing_plan", "Plan", plan_opts).value(v(&f.billing_plan)).render(errors))
                (Field::select("contract_term_length", "Contract term", choices(&terms, "None")).value(v(&f.contract_term_length)).render(errors))
                (Field::input("date", "contract_start_date", "Contract start").value(v(&f.contract_start_date))
                    .hint("The end date follows from start and term.").render(errors))
                (Field::text("support_level", "Support level").value(v(&f.support_level)).render(errors))
                (Field::select("compliance_level", "Compliance level", levels).value(f.compliance_level.clone().unwrap_or_else(|| "standard".into())).render(errors))
                (Field::select("psa_provider", "Provider", choices(&providers, "None")).value(v(&f.psa_provider)).render(errors))
                (Field::text("parent_account_number", "Parent company (account number)").value(v(&f.parent_account_number)).render(errors))
                (Field::text("company_main_number", "Main number").value(v(&f.company_main_number)).render(errors))
                (Field::textarea("address", "Address").value(v(&f.address)).render(errors))
                (Field::textarea("domains", "Domains").value(v(&f.domains)).hint("One per line.").render(errors))
                (Field::text("managed_users", "Managed users").value(v(&f.managed_users)).render(errors))
                (Field::text("managed_devices", "Managed devices").value(v(&f.managed_devices)).render(errors))
                (Field::text("managed_network", "Managed network").value(v(&f.managed_network)).render(errors))
                (Field::text("email_system", "E-mail system").value(v(&f.email_system)).render(errors))
                (Field::text("phone_system", "Phone system").value(v(&f.phone_system)).render(errors))
                (Field::input("date", "company_start_date", "Company start").value(v(&f.company_start_date)).render(errors))
                (Field::input("url", "datto_portal_url", "Datto portal URL").value(v(&f.datto_portal_url)).render(errors))
                div class="actions" {
                    button type="submit" { "Save" }
                    a class="button secondary" href=(existing.map(|c| href(&c.account_number)).unwrap_or_else(|| LIST.to_string())) { "Cancel" }
                }
            }
        }
    }))
}

async fn new_page(State(state): State<AppState>, ctx: PageCtx) -> AppResult<Page> {
    form_view(
        &state,
        &ctx,
        None,
        &CompanyForm::default(),
        &FieldErrors::new(),
    )
    .await
}

/// A rejected form: its errors next to the fields, the user's input kept, 422.
async fn rejected(
    state: &AppState,
    ctx: &PageCtx,
    existing: Option<&Company>,
    f: &CompanyForm,
    e: AppError,
) -> AppResult<Response> {
    let errors = match e {
        // A taken account number belongs next to its field too.
        AppError::Conflict(m) if existing.is_none() => {
            let mut errs = FieldErrors::new();
            errs.insert("account_number".into(), m);
            errs
        }
        e => field_errors(e)?,
    };
    Ok(form_view(state, ctx, existing, f, &errors)
        .await?
        .status(StatusCode::UNPROCESSABLE_ENTITY)
        .into_response())
}

async fn create(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<CompanyForm>,
) -> AppResult<Response> {
    let mut input = f.input(true);
    if input.name.is_none() {
        input.name = Some(Some(String::new()));
    }
    match companies::create(&state.db, &ctx.principal, &input).await {
        Ok(c) => Ok(Flash::success(format!("Company {} created.", c.name))
            .redirect(&href(&c.account_number))),
        Err(e) => rejected(&state, &ctx, None, &f, e).await,
    }
}

async fn edit_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(account_number): Path<String>,
) -> AppResult<Page> {
    let c = companies::visible(&state.db, &ctx.principal, &account_number).await?;
    form_view(
        &state,
        &ctx,
        Some(&c),
        &CompanyForm::of(&c),
        &FieldErrors::new(),
    )
    .await
}

async fn save(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(account_number): Path<String>,
    Form(mut f): Form<CompanyForm>,
) -> AppResult<Response> {
    let c = companies::visible(&state.db, &ctx.principal, &account_number).await?;
    match companies::update(&state.db, &ctx.principal, &account_number, &f.input(false)).await {
        Ok(c) => {
            Ok(Flash::success(format!("Company {} saved.", c.name))
                .redirect(&href(&c.account_number)))
        }
        Err(e) => {
            f.account_number = Some(c.account_number.clone());
            rejected(&state, &ctx, Some(&c), &f, e).await
        }
    }
}

async fn delete(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(account_number): Path<String>,
) -> AppResult<Response> {
    let c = companies::visible(&state.db, &ctx.principal, &account_number).await?;
    companies::soft_delete(&state.db, &ctx.principal, &account_number).await?;
    Ok(Flash::success(format!("Company {} deleted.", c.name)).redirect(LIST))
}

/// The choices for one feature: the plan's value, the category's options, and the
/// current override when it is not (or no longer) an option.
fn override_choices(
    d: &plans::EffectiveFeature,
    known: Option<&Vec<String>>,
    current: &str,
) -> Vec<(String, String)> {
    let mut opts = vec![(
        String::new(),
        format!("Use plan default ({})", d.plan_value),
    )];
    let known = known.cloned().unwrap_or_default();
    if !current.is_empty() && !known.iter().any(|k| k == current) {
        opts.push((current.to_string(), current.to_string()));
    }
    opts.extend(known.into_iter().map(|v| (v.clone(), v)));
    opts
}

/// Replaces the company's feature overrides with the plan tab's choices (`f_<feature>`
/// fields; an empty choice means the plan's value), through the API's own function.
async fn save_features(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(account_number): Path<String>,
    Form(form): Form<std::collections::BTreeMap<String, String>>,
) -> AppResult<Response> {
    let c = companies::visible(&state.db, &ctx.principal, &account_number).await?;
    let raw: std::collections::BTreeMap<String, Option<String>> = form
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix("f_").map(|k| (k.to_string(), Some(v))))
        .collect();
    let back = format!("{}?tab=plan", href(&c.account_number));
    match plans::replace_overrides(&state.db, &ctx.principal, &c, &raw).await {
        Ok(f) => Ok(Flash::success(format!(
            "{} override(s) saved for {}.",
            f.overrides.len(),
            c.name
        ))
        .redirect(&back)),
        Err(AppError::Validation(errs)) => {
            let msg: Vec<String> = errs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            Ok(Flash::error(format!("Not saved: {}.", msg.join("; "))).redirect(&back))
        }
        Err(e) => Err(e),
    }
}
