//! The shared layout: `<head>` with the versioned assets and the user's theme, the
//! sidebar of the modules the user may see, breadcrumbs, flash messages, the body.
//!
//! ```ignore
//! async fn list(ctx: PageCtx) -> Page {
//!     Page::new(&ctx, "Companies")
//!         .crumb("Codex", "/codex")
//!         .crumb("Companies", "/codex/companies")
//!         .body(html! { h1 { "Companies" } … })
//! }
//! ```
//! A `Page` is a response: status 200 unless `.status(…)`, `Cache-Control: no-store`,
//! a Content-Security-Policy without inline scripts, and the shown flash cleared.

use super::context::{PageCtx, PublicCtx};
use super::flash::{self, Flash};
use super::{assets, nav};
use crate::auth::Principal;
use crate::codex::preferences::Preferences;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

/// One breadcrumb; the last one is the current page.
#[derive(Clone, Debug)]
pub struct Crumb {
    pub label: String,
    pub href: String,
}

pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub struct Page {
    principal: Option<Principal>,
    csrf_token: String,
    prefs: Option<Preferences>,
    path: String,
    path_and_query: String,
    /// The flash read from the cookie (cleared by this response).
    shown_flash: Option<Flash>,
    /// Flashes added by the handler for this very response.
    flashes: Vec<Flash>,
    title: String,
    crumbs: Vec<Crumb>,
    status: StatusCode,
    body: Markup,
    chrome: bool,
}

impl Page {
    /// A page with the sidebar, for a signed-in user.
    pub fn new(ctx: &PageCtx, title: impl Into<String>) -> Page {
        Page {
            principal: Some(ctx.principal.clone()),
            csrf_token: ctx.csrf_token.clone(),
            prefs: Some(ctx.prefs.clone()),
            path: ctx.path.clone(),
            path_and_query: ctx.path_and_query.clone(),
            shown_flash: ctx.flash.clone(),
            flashes: Vec::new(),
            title: title.into(),
            crumbs: Vec::new(),
            status: StatusCode::OK,
            body: html! {},
            chrome: true,
        }
    }

    /// A page without sidebar (login, public displays); system theme.
    pub fn public(ctx: &PublicCtx, title: impl Into<String>) -> Page {
        Page {
            principal: None,
            csrf_token: String::new(),
            prefs: None,
            path: ctx.path.clone(),
            path_and_query: ctx.path.clone(),
            shown_flash: ctx.flash.clone(),
            flashes: Vec::new(),
            title: title.into(),
            crumbs: Vec::new(),
            status: StatusCode::OK,
            body: html! {},
            chrome: false,
        }
    }

    /// A page for a request whose handler did not run (error pages): the sidebar when
    /// the principal is known, with their preferences when loaded.
    pub fn bare(
        principal: Option<Principal>,
        prefs: Option<Preferences>,
        path: &str,
        title: impl Into<String>,
    ) -> Page {
        let csrf_token = match principal.as_ref().map(|p| &p.method) {
            Some(crate::auth::AuthMethod::Session { csrf_token, .. }) => csrf_token.clone(),
            _ => String::new(),
        };
        Page {
            chrome: principal.is_some(),
            principal,
            csrf_token,
            prefs,
            path: path.to_string(),
            path_and_query: path.to_string(),
            shown_flash: None,
            flashes: Vec::new(),
            title: title.into(),
            crumbs: Vec::new(),
            status: StatusCode::OK,
            body: html! {},
        }
    }

    pub fn crumb(mut self, label: impl Into<String>, href: impl Into<String>) -> Page {
        self.crumbs.push(Crumb {
            label: label.into(),
            href: href.into(),
        });
        self
    }

    pub fn status(mut self, status: StatusCode) -> Page {
        self.status = status;
        self
    }

    /// Shows a message on this response (for one after a redirect, use `Flash::redirect`).
    pub fn flash(mut self, f: Flash) -> Page {
        self.flashes.push(f);
        self
    }

    pub fn body(mut self, body: Markup) -> Page {
        self.body = body;
        self
    }

    fn sidebar(&self, p: &Principal) -> Markup {
        let dark = self
            .prefs
            .as_ref()
            .is_some_and(|x| x.stored && x.theme == "dark");
        html! {
            nav class="sidebar" aria-label="Modules" {
                a class="brand" href="/" { "Hive" span { "Matrix" } }
                @for m in nav::modules().iter().filter(|m| m.in_sidebar && m.visible_to(Some(p))) {
                    div class="nav-module" {
                        a href=(m.href) aria-current=[(self.path == m.href).then_some("page")] { (m.label) }
                        @let items: Vec<_> = m.items.iter().filter(|i| i.access.shows_for(Some(p))).collect();
                        @if !items.is_empty() {
                            ul {
                                @for i in items {
                                    li class="nav-item" {
                                        a href=(i.href) aria-current=[nav::under(&self.path, i.href).then_some("page")] { (i.label) }
                                    }
                                }
                            }
                        }
                    }
                }
                div class="sidebar-foot" {
                    div class="who" { (p.name) " · " (p.role.as_str()) }
                    form method="post" action=(super::core::THEME) {
                        (super::forms::csrf_field(&self.csrf_token))
                        input type="hidden" name="theme" value=(if dark { "light" } else { "dark" });
                        input type="hidden" name="next" value=(self.path_and_query);
                        button type="submit" class="link" id="theme-toggle" {
                            (if dark { "Light theme" } else { "Dark theme" })
                        }
                    }
                    a href=(super::core::SETTINGS) aria-current=[(self.path == super::core::SETTINGS).then_some("page")] { "My settings" }
                    form method="post" action="/logout" {
                        (super::forms::csrf_field(&self.csrf_token))
                        button type="submit" class="link" { "Log out" }
                    }
                }
            }
        }
    }

    fn flashes(&self) -> Markup {
        html! {
            div id="flash-area" aria-live="polite" {
                @for f in self.shown_flash.iter().chain(self.flashes.iter()) {
                    div class={ "flash flash-" (f.level.as_str()) }
                        role=[(f.level == flash::Level::Error).then_some("alert")] { (f.message) }
                }
            }
        }
    }

    /// On the search page, the query it shows (kept in the box).
    fn search_query(&self) -> String {
        if self.path != "/search" {
            return String::new();
        }
        self.path_and_query
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix("q="))
            .map(|v| crate::auth::middleware::urldecode(&v.replace('+', " ")))
            .unwrap_or_default()
    }

    pub fn render(&self) -> Markup {
        let theme = self
            .prefs
            .as_ref()
            .filter(|p| p.stored)
            .map(|p| p.theme.as_str());
        let color = self
            .prefs
            .as_ref()
            .map(|p| p.color_theme.as_str())
            .unwrap_or("purple");
        let signed_in = self.principal.is_some() && self.chrome;
        let content = html! {
            @if !self.crumbs.is_empty() || signed_in {
                div class="topbar" {
                    nav class="breadcrumbs" aria-label="Breadcrumbs" {
                            ol {
                                @for (i, c) in self.crumbs.iter().enumerate() {
                                    li {
                                        @if i + 1 == self.crumbs.len() {
                                            a href=(c.href) aria-current="page" { (c.label) }
                                        } @else {
                                            a href=(c.href) { (c.label) }
                                        }
                                    }
                                }
                            }
                        }
                    @if signed_in { (search_box(&self.search_query())) }
                    }
            }
            (self.flashes())
            (self.body)
        };
        html! {
            (DOCTYPE)
            html lang="en" data-theme=[theme] data-color-theme=(color) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    @if !self.csrf_token.is_empty() {
                        meta name="csrf-token" content=(self.csrf_token);
                    }
                    meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false}"#;
                    title { (self.title) " · HiveMatrix" }
                    link rel="stylesheet" href=(assets::url("app.css"));
                    link rel="icon" href=(assets::url("icon.svg")) type="image/svg+xml";
                    script src=(assets::url("htmx.min.js")) defer {}
                    script src=(assets::url("app.js")) defer {}
                }
                body {
                    a class="skip" href="#main" { "Skip to content" }
                    @match (&self.principal, self.chrome) {
                        (Some(p), true) => {
                            div class="layout" {
                                (self.sidebar(p))
                                main class="main" id="main" {
                                    (content)
                                    footer class="footer" { "HiveMatrix " (env!("CARGO_PKG_VERSION")) }
                                }
                            }
                        }
                        _ => {
                            main class="center" id="main" { div { (content) } }
                        }
                    }
                }
            }
        }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            axum::response::Html(self.render().into_string()),
        )
            .into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if self.shown_flash.is_some() {
            h.append(header::SET_COOKIE, flash::clear_cookie());
        }
        resp
    }
}

/// The global search box of every signed-in page's top bar: submits to `/search`;
/// typing asks htmx for a dropdown of the first matches.
fn search_box(q: &str) -> Markup {
    html! {
        form class="search" role="search" method="get" action="/search" {
            label for="global-search" class="visually-hidden" { "Search" }
            input type="search" id="global-search" name="q" value=(q)
                placeholder="Companies, contacts, assets, tickets" autocomplete="off"
                hx-get="/search" hx-trigger="input changed delay:300ms, search"
                hx-target="#search-suggest" hx-swap="innerHTML";
            button type="submit" class="secondary" { "Search" }
            div id="search-suggest" class="search-suggest" aria-live="polite" {}
        }
    }
}

/// An HTML fragment for htmx to swap into a page (a tab, search suggestions): no
/// layout, the same no-store and CSP headers as a page.
pub fn fragment(markup: Markup) -> Response {
    let mut resp = axum::response::Html(markup.into_string()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}
