//! Billing plan pages (staff): the plans with their prices and features, paged, the
//! feature options per category, the export (the JSON API's document) and the import
//! of such a document (billing writers), with a dry run that shows what would change.

use super::nonblank;
use crate::codex::plans::{self, PlanQuery};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::extract::QueryParams;
use crate::http::pagination::Page as Paging;
use crate::http::AppState;
use crate::web::forms::{csrf, error_summary, Field};
use crate::web::table::pager;
use crate::web::{Access, Flash, Page, PageCtx, Pages};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::BTreeMap;

pub const LIST: &str = "/codex/billing-plans";
const EXPORT: &str = "/codex/api/billing-plans/export";

pub fn register(p: Pages) -> Pages {
    p.get(LIST, Access::Staff, list_page).post(
        "/codex/billing-plans/import",
        Access::Billing,
        import,
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    search: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn can_import(ctx: &PageCtx) -> bool {
    ctx.principal.require_billing_write().is_ok()
}

async fn view(
    state: &AppState,
    ctx: &PageCtx,
    q: &ListParams,
    import_form: Markup,
) -> AppResult<Page> {
    let page = Paging::new(q.limit, q.offset, 25, 100)?;
    let query = PlanQuery {
        search: nonblank(&q.search),
        ..Default::default()
    };
    let (rows, total) = plans::list_plans_page(&state.db, &query, page).await?;
    let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in plans::all_options(&state.db).await? {
        options
            .entry(o.feature_category.clone())
            .or_default()
            .push(o.display_name.clone().unwrap_or(o.option_value.clone()));
    }
    let none = FieldErrors::new();
    let money = |d: &rust_decimal::Decimal| format!("{d:.2}");
    Ok(Page::new(ctx, "Billing plans")
        .crumb("Codex", "/codex")
        .crumb("Billing plans", LIST)
        .body(html! {
            div class="page-head" {
                h1 { "Billing plans" }
                div class="actions" { a class="button secondary" href=(EXPORT) download="billing_plans_export.json" { "Export (JSON)" } }
            }
            form method="get" action=(LIST) class="inline card" role="search" {
                (Field::input("search", "search", "Plan name").value(q.search.clone().unwrap_or_default()).render(&none))
                button type="submit" { "Filter" }
            }
            div class="table-wrap" {
                table id="plans" {
                    thead { tr {
                        th { "Plan" } th { "Term" } th { "Support" }
                        th class="num" { "Per user" } th class="num" { "Per workstation" } th class="num" { "Per server" }
                        th class="num" { "Per hour" } th { "Features" }
                    } }
                    tbody { @for p in &rows { tr {
                        td { (p.plan_name) } td { (p.term_length) } td { (p.support_level) }
                        td class="num" { (money(&p.costs.per_user_cost)) }
                        td class="num" { (money(&p.costs.per_workstation_cost)) }
                        td class="num" { (money(&p.costs.per_server_cost)) }
                        td class="num" { (money(&p.costs.per_hour_ticket_cost)) }
                        td { @for (i, (k, v)) in p.features.iter().enumerate() {
                            @if i > 0 { ", " }
                            span class="muted" { (plans::default_display_name(k)) ": " } (v)
                        } }
                    } } }
                }
                @if rows.is_empty() { p class="empty" { "No billing plans." } }
            }
            (pager(total, &page, &ctx.path_and_query))
            h2 { "Feature options" }
            div class="table-wrap" { table id="feature-options" {
                thead { tr { th { "Category" } th { "Options" } } }
                tbody { @for (cat, vals) in &options { tr {
                    td { (plans::default_display_name(cat)) } td { (vals.join(", ")) }
                } } }
            }
            @if options.is_empty() { p class="empty" { "No feature options." } } }
            (import_form)
        }))
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct ImportForm {
    document: Option<String>,
    dry_run: Option<String>,
}

fn import_form(
    ctx: &PageCtx,
    f: &ImportForm,
    errors: &FieldErrors,
    report: Option<Markup>,
) -> Markup {
    if !can_import(ctx) {
        return html! {};
    }
    html! {
        h2 id="import" { "Import" }
        @if let Some(r) = report { (r) }
        div class="card" {
            (error_summary(errors))
            form method="post" action="/codex/billing-plans/import" class="stack" novalidate {
                (csrf(ctx))
                (Field::textarea("document", "Export document (JSON)").value(f.document.clone().unwrap_or_default())
                    .hint("Plans are matched by name and term; records not in the document are kept.").render(errors))
                (Field::checkbox("dry_run", "Dry run: show what would change, write nothing")
                    .value(f.dry_run.clone().unwrap_or_default()).render(errors))
                div class="actions" { button type="submit" { "Import" } }
            }
        }
    }
}

async fn list_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    QueryParams(q): QueryParams<ListParams>,
) -> AppResult<Page> {
    let form = import_form(&ctx, &ImportForm::default(), &FieldErrors::new(), None);
    view(&state, &ctx, &q, form).await
}

fn report_view(r: &plans::ImportReport) -> Markup {
    let counts = |label: &str, c: &plans::ImportCounts| {
        html! { tr { td { (label) } td class="num" { (c.created) } td class="num" { (c.updated) } td class="num" { (c.unchanged) } } }
    };
    html! {
        div class="card" id="import-report" role="status" {
            p { strong { @if r.dry_run { "Dry run — nothing was written. It would change:" } @else { "Imported:" } } }
            table {
                thead { tr { th { "Records" } th class="num" { "Created" } th class="num" { "Updated" } th class="num" { "Unchanged" } } }
                tbody {
                    (counts("Plans", &r.plans))
                    (counts("Feature options", &r.feature_options))
                }
            }
        }
    }
}

async fn import(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<ImportForm>,
) -> AppResult<Response> {
    let dry_run = super::ticked(&f.dry_run);
    let parsed: Result<serde_json::Value, AppError> =
        serde_json::from_str(f.document.as_deref().unwrap_or(""))
            .map_err(|e| AppError::invalid("document", format!("is not JSON: {e}")));
    let result = match parsed {
        Ok(doc) => plans::import_document(&state.db, &ctx.principal, &doc, dry_run).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(r) if !r.dry_run => Ok(Flash::success(format!(
            "Imported: {} plans created, {} updated; {} feature options created, {} updated.",
            r.plans.created, r.plans.updated, r.feature_options.created, r.feature_options.updated
        ))
        .redirect(LIST)),
        Ok(r) => {
            let form = import_form(&ctx, &f, &FieldErrors::new(), Some(report_view(&r)));
            Ok(view(&state, &ctx, &ListParams::default(), form)
                .await?
                .into_response())
        }
        Err(AppError::Validation(errs)) => {
            // The document's own errors (by JSON path) are shown at the field.
            let mut shown = FieldErrors::new();
            let all: Vec<String> = errs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            shown.insert("document".into(), all.join("; "));
            let form = import_form(&ctx, &f, &shown, None);
            Ok(view(&state, &ctx, &ListParams::default(), form)
                .await?
                .status(StatusCode::UNPROCESSABLE_ENTITY)
                .into_response())
        }
        Err(e) => Err(e),
    }
}
