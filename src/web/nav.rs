//! The module registry: the sidebar, the home-page redirect and the page router are
//! all built from `modules()`. A module that has pages adds one line here pointing at
//! its `WebModule` (its sidebar entry and its `Pages`); a module that is not listed has
//! no link anywhere, so links to modules that do not exist yet cannot be broken.

use super::pages::{Access, Pages};
use crate::auth::Principal;

/// A link under a module's heading in the sidebar.
#[derive(Clone, Copy, Debug)]
pub struct NavItem {
    pub label: &'static str,
    pub href: &'static str,
    pub access: Access,
}

/// One module of the UI.
#[derive(Clone, Copy)]
pub struct WebModule {
    /// The preference value naming it (`home_page_preference`: codex, beacon, ledger…).
    pub id: &'static str,
    pub label: &'static str,
    /// Its landing page, the target of the home-page redirect.
    pub href: &'static str,
    /// Who sees the module at all.
    pub access: Access,
    /// Shown in the sidebar (a module with only helper pages, like `core`, is not).
    pub in_sidebar: bool,
    pub items: &'static [NavItem],
    /// Its page routes.
    pub pages: fn() -> Pages,
}

impl WebModule {
    pub fn visible_to(&self, p: Option<&Principal>) -> bool {
        self.access.shows_for(p)
    }

    /// Whether `path` belongs to this module (its link is marked current).
    pub fn owns(&self, path: &str) -> bool {
        under(path, self.href) || self.items.iter().any(|i| under(path, i.href))
    }
}

/// `path` is `prefix` or below it (`/codex/companies/7` is under `/codex/companies`).
pub fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || (path.starts_with(prefix)
            && (prefix.ends_with('/') || path[prefix.len()..].starts_with('/')))
}

/// Every registered module, in sidebar order. Add your module's line here.
pub fn modules() -> &'static [WebModule] {
    &[
        super::core::MODULE,
        crate::codex::pages::MODULE,
        crate::beacon::pages::MODULE,
        crate::ledger::pages::MODULE,
        crate::sync::pages::MODULE,
        crate::auth::pages::MODULE,
    ]
}

/// Where "/" sends this user: their home-page preference when that module is
/// registered and visible to them, else the first module they may see, else settings.
pub fn home_for(p: &Principal, home_page: &str) -> &'static str {
    let visible = |m: &&WebModule| m.in_sidebar && m.visible_to(Some(p));
    modules()
        .iter()
        .filter(visible)
        .find(|m| m.id == home_page)
        .or_else(|| modules().iter().find(visible))
        .map(|m| m.href)
        .unwrap_or(super::core::SETTINGS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(under("/codex/companies", "/codex/companies"));
        assert!(under("/codex/companies/7/edit", "/codex/companies"));
        assert!(!under("/codex/companiesx", "/codex/companies"));
        assert!(under("/anything", "/"));
    }
}
