//! A page router whose every route states who may reach it. The rule is enforced by a
//! route layer before the handler (and before any form body is read), and the list of
//! routes feeds the route × role table in `tests/api/roles.rs`, which fails on a page
//! route without a row.

use crate::auth::{Principal, Role};
use crate::error::AppError;
use crate::http::AppState;
use axum::extract::Request;
use axum::handler::Handler;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;

/// Who may reach a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No login (the beacon wall display, say). The handler gets a `PublicCtx`.
    Public,
    /// Every signed-in user, clients included (their own settings).
    Anyone,
    /// Every signed-in user; clients see only their own company's records (the
    /// handler filters with `Principal::company_scope`).
    Scoped,
    /// Admin, technician, billing.
    Staff,
    /// Admin, technician (master data, tickets).
    Master,
    /// Admin, billing.
    Billing,
    Admin,
}

impl Access {
    pub fn allows(self, role: Role) -> bool {
        match self {
            Access::Public | Access::Anyone | Access::Scoped => true,
            Access::Staff => role != Role::Client,
            Access::Master => matches!(role, Role::Admin | Role::Technician),
            Access::Billing => matches!(role, Role::Admin | Role::Billing),
            Access::Admin => role == Role::Admin,
        }
    }

    /// Whether a sidebar link to a page with this rule should be shown.
    pub fn shows_for(self, p: Option<&Principal>) -> bool {
        match (self, p) {
            (Access::Public, _) => true,
            (_, Some(p)) => self.allows(p.role),
            (_, None) => false,
        }
    }

    fn check(self, p: Option<&Principal>) -> Result<(), AppError> {
        if self == Access::Public {
            return Ok(());
        }
        let p = p.ok_or_else(|| AppError::Unauthorized("authentication required".into()))?;
        if self.allows(p.role) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "the {} role may not open this page",
                p.role
            )))
        }
    }
}

/// One page route: method, axum path, rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRoute {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

/// Builder: `Pages::new().get("/codex/companies", Access::Scoped, list).post(…)`.
#[derive(Default)]
pub struct Pages {
    router: Router<AppState>,
    routes: Vec<PageRoute>,
}

async fn guard(access: Access, req: Request, next: Next) -> Response {
    match access.check(req.extensions().get::<Principal>()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

impl Pages {
    pub fn new() -> Pages {
        Pages::default()
    }

    fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        access: Access,
        mr: MethodRouter<AppState>,
    ) -> Pages {
        let mr = mr.route_layer(axum::middleware::from_fn(
            move |req: Request, next: Next| guard(access, req, next),
        ));
        self.router = self.router.route(path, mr);
        self.routes.push(PageRoute {
            method,
            path,
            access,
        });
        self
    }

    pub fn get<H, T>(self, path: &'static str, access: Access, handler: H) -> Pages
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add("GET", path, access, get(handler))
    }

    pub fn post<H, T>(self, path: &'static str, access: Access, handler: H) -> Pages
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add("POST", path, access, post(handler))
    }

    pub fn routes(&self) -> &[PageRoute] {
        &self.routes
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_by_role() {
        use Role::*;
        let who = |a: Access| {
            Role::ALL
                .into_iter()
                .filter(|r| a.allows(*r))
                .collect::<Vec<_>>()
        };
        assert_eq!(who(Access::Staff), vec![Admin, Technician, Billing]);
        assert_eq!(who(Access::Master), vec![Admin, Technician]);
        assert_eq!(who(Access::Billing), vec![Admin, Billing]);
        assert_eq!(who(Access::Admin), vec![Admin]);
        assert_eq!(who(Access::Scoped).len(), 4);
        assert!(Access::Public.shows_for(None));
        assert!(!Access::Anyone.shows_for(None));
        assert!(matches!(
            Access::Admin.check(None),
            Err(AppError::Unauthorized(_))
        ));
    }
}
