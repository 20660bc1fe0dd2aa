//! Core/Nexus: local accounts, roles, sessions, API tokens and the request guard.
//!
//! Every request passes `middleware::authenticate`, which resolves a `Principal` from
//! the session cookie or a bearer token and enforces CSRF on cookie-authenticated
//! writes. Handlers then ask the principal for what they need (`require_admin`,
//! `require_master_write`, `company_scope`…), so the role rules live here only.

pub mod middleware;
pub mod oidc;
pub mod pages;
pub mod password;
pub mod routes;
pub mod sessions;
pub mod tokens;
pub mod users;

use crate::error::AppError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including users and settings.
    Admin,
    /// Reads everything; writes master data and tickets.
    Technician,
    /// Reads everything; writes billing (plans, features, overrides).
    Billing,
    /// Reads its own company only; writes nothing but its own preferences.
    Client,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Technician, Role::Billing, Role::Client];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Technician => "technician",
            Role::Billing => "billing",
            Role::Client => "client",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim().to_lowercase())
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// How the request proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Session {
        session_id: String,
        csrf_token: String,
    },
    ApiToken {
        token_id: i64,
    },
}

/// The authenticated user of a request. Extract it in handlers with `principal: Principal`.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Set for client users: the only company they may see.
    pub company_id: Option<i64>,
    pub method: AuthMethod,
    /// The request's correlation id, carried here so audit records can quote it.
    pub correlation_id: Option<String>,
}

impl Principal {
    fn deny(&self, what: &str) -> AppError {
        AppError::Forbidden(format!("the {} role may not {what}", self.role))
    }

    pub fn require_admin(&self) -> Result<(), AppError> {
        match self.role {
            Role::Admin => Ok(()),
            _ => Err(self.deny("do this (admin only)")),
        }
    }

    /// Companies, contacts, assets, locations, tickets.
    pub fn require_master_write(&self) -> Result<(), AppError> {
        match self.role {
            Role::Admin | Role::Technician => Ok(()),
            _ => Err(self.deny("change master data")),
        }
    }

    /// Plans, features, overrides, invoices.
    pub fn require_billing_write(&self) -> Result<(), AppError> {
        match self.role {
            Role::Admin | Role::Billing => Ok(()),
            _ => Err(self.deny("change billing data")),
        }
    }

    /// Staff may read everything; clients only their company.
    pub fn require_staff(&self) -> Result<(), AppError> {
        match self.role {
            Role::Client => Err(self.deny("see data of other companies")),
            _ => Ok(()),
        }
    }

    /// `None`: may see every company. `Some(id)`: restricted to that company. A client
    /// without a company sees nothing (id 0 never exists).
    pub fn company_scope(&self) -> Option<i64> {
        match self.role {
            Role::Client => Some(self.company_id.unwrap_or(0)),
            _ => None,
        }
    }

    pub fn may_see_company(&self, company_id: i64) -> bool {
        self.company_scope().is_none_or(|c| c == company_id)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| AppError::Unauthorized("authentication required".into()))
    }
}

/// Extractors that check a role before anything else of the request is read. Handlers
/// that take a body use them instead of `Principal` + `require_…`, because axum reads
/// the body before the handler runs: a refused role must get 403, not a 422 about a
/// body it was never allowed to send.
macro_rules! role_guard {
    ($(#[$doc:meta])* $name:ident, $check:ident) => {
        $(#[$doc])*
        pub struct $name(pub Principal);

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = AppError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
                let p = Principal::from_request_parts(parts, state).await?;
                p.$check()?;
                Ok($name(p))
            }
        }
    };
}

role_guard!(
    /// Admin or technician (master data and tickets).
    MasterWriter,
    require_master_write
);
role_guard!(
    /// Admin or billing.
    BillingWriter,
    require_billing_write
);
role_guard!(
    /// Admin only.
    AdminOnly,
    require_admin
);

/// Random secret as lowercase hex (`bytes` of entropy).
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

pub fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}
