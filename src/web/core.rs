//! Pages every user has: `/` (the home-page redirect), "my settings", the theme toggle.

use super::context::PageCtx;
use super::flash::Flash;
use super::forms::{csrf, error_summary, field_errors, Field};
use super::layout::Page;
use super::nav::{self, WebModule};
use super::pages::{Access, Pages};
use crate::codex::preferences::{self, PreferencesInput};
use crate::error::{AppResult, FieldErrors};
use crate::http::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;

pub const SETTINGS: &str = "/settings";
pub const THEME: &str = "/settings/theme";

pub const MODULE: WebModule = WebModule {
    id: "core",
    label: "HiveMatrix",
    href: "/",
    access: Access::Anyone,
    in_sidebar: false,
    items: &[],
    pages,
};

fn pages() -> Pages {
    Pages::new()
        .get("/", Access::Anyone, home)
        .get(SETTINGS, Access::Anyone, settings_page)
        .post(SETTINGS, Access::Anyone, save_settings)
        .post(THEME, Access::Anyone, set_theme)
}

/// `/`: the user's home page (their preference, when that module exists and they may
/// see it; else the first module they may see).
async fn home(ctx: PageCtx) -> Redirect {
    Redirect::to(nav::home_for(&ctx.principal, &ctx.prefs.home_page))
}

/// The settings form's fields, under the JSON API's names.
#[derive(Debug, Default, Deserialize)]
pub struct SettingsForm {
    theme_preference: Option<String>,
    preferred_color_theme: Option<String>,
    knowledgetree_view_preference: Option<String>,
    home_page_preference: Option<String>,
    time_zone_preference: Option<String>,
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn options(values: &[&str]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|v| (v.to_string(), capitalised(v)))
        .collect()
}

fn settings_view(ctx: &PageCtx, form: &SettingsForm, errors: &FieldErrors) -> Page {
    let p = &ctx.prefs;
    let pick = |v: &Option<String>, stored: &str| v.clone().unwrap_or_else(|| stored.to_string());
    // Home pages: the modules that exist and this user may see.
    let mut homes: Vec<(String, String)> = nav::modules()
        .iter()
        .filter(|m| m.in_sidebar && m.visible_to(Some(&ctx.principal)))
        .filter(|m| preferences::HOME_PAGES.contains(&m.id))
        .map(|m| (m.id.to_string(), m.label.to_string()))
        .collect();
    // A saved choice of a module this node does not have (yet) stays selectable, so
    // saving other settings does not silently change it.
    let home = pick(&form.home_page_preference, &p.home_page);
    if !homes.is_empty() && !homes.iter().any(|(v, _)| *v == home) {
        homes.push((
            home.clone(),
            format!("{} (not available)", capitalised(&home)),
        ));
    }
    Page::new(ctx, "My settings")
        .crumb("My settings", SETTINGS)
        .body(html! {
            h1 { "My settings" }
            div class="card" {
                (error_summary(errors))
                form method="post" action=(SETTINGS) class="stack" {
                    (csrf(ctx))
                    (Field::select("theme_preference", "Theme", [("light", "Light"), ("dark", "Dark")])
                        .value(pick(&form.theme_preference, &p.theme)).render(errors))
                    (Field::select("preferred_color_theme", "Colour theme", options(preferences::COLOR_THEMES))
                        .value(pick(&form.preferred_color_theme, &p.color_theme)).render(errors))
                    @if homes.is_empty() {
                        p class="muted" { "No module you may see can be a home page yet; you land here." }
                    } @else {
                        (Field::select("home_page_preference", "Home page", homes)
                            .value(home)
                            .hint("Where you land after logging in.")
                            .render(errors))
                    }
                    (Field::select("knowledgetree_view_preference", "Knowledge-base view", options(preferences::KNOWLEDGETREE_VIEWS))
                        .value(pick(&form.knowledgetree_view_preference, &p.knowledgetree_view)).render(errors))
                    (Field::select("time_zone_preference", "Time zone", super::time::choices().into_iter().map(|z| (z, z)))
                        .value(pick(&form.time_zone_preference, &p.time_zone))
                        .hint("Times on every page are shown in this zone.")
                        .render(errors))
                    div class="actions" { button type="submit" { "Save settings" } }
                }
            }
            p class="muted" { "Signed in as " (ctx.principal.email) " (" (ctx.principal.role.as_str()) "). "
                a href="/settings/tokens" { "Personal API tokens" } }
        })
}

async fn settings_page(ctx: PageCtx) -> Page {
    settings_view(&ctx, &SettingsForm::default(), &FieldErrors::new())
}

async fn save_settings(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<SettingsForm>,
) -> AppResult<Response> {
    let input = PreferencesInput {
        theme_preference: form.theme_preference.clone(),
        preferred_color_theme: form.preferred_color_theme.clone(),
        knowledgetree_view_preference: form.knowledgetree_view_preference.clone(),
        home_page_preference: form.home_page_preference.clone(),
        time_zone_preference: form.time_zone_preference.clone(),
    };
    match preferences::save(&state.db, &ctx.principal, ctx.principal.user_id, &input).await {
        Ok(_) => Ok(Flash::success("Settings saved.").redirect(SETTINGS)),
        Err(e) => {
            let errors = field_errors(e)?;
            Ok(settings_view(&ctx, &form, &errors)
                .status(StatusCode::UNPROCESSABLE_ENTITY)
                .into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ThemeForm {
    theme: String,
    next: Option<String>,
}

/// The sidebar's light/dark toggle: saves the theme and goes back where the user was.
async fn set_theme(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<ThemeForm>,
) -> AppResult<Response> {
    let input = PreferencesInput {
        theme_preference: Some(form.theme),
        ..Default::default()
    };
    preferences::save(&state.db, &ctx.principal, ctx.principal.user_id, &input).await?;
    let next = crate::auth::routes::safe_next(form.next.as_deref());
    Ok(Redirect::to(&next).into_response())
}
