//! The OpenAPI 3 document, collected from the handlers' `#[utoipa::path]` annotations
//! by `utoipa_axum::routes!`, and the Swagger UI at `/docs` (assets vendored into the
//! binary, so it works offline).

use crate::http::AppState;
use axum::Router;
use std::sync::Arc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "HiveMatrix API", description = "Codex master data and the modules built on it. \
        Authenticate with `Authorization: Bearer <token>` (see `hivematrix token create`) or a login \
        session cookie plus `X-CSRF-Token` on writes. Errors are RFC 7807 problem+json."),
    modifiers(&Security),
    security(("bearer" = []), ("session" = [])),
    components(schemas(crate::error::Problem))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::sessions::COOKIE,
            ))),
        );
    }
}

/// Every documented JSON route of every module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(crate::auth::routes::me))
        .routes(routes!(crate::audit::list))
        .merge(crate::codex::routes())
        .merge(crate::sync::routes::routes())
        .merge(crate::beacon::http::routes())
        .merge(crate::ledger::http::routes())
}

/// `/openapi.json` and the viewer at `/docs`.
pub fn docs_router(doc: Arc<utoipa::openapi::OpenApi>) -> Router<AppState> {
    utoipa_swagger_ui::SwaggerUi::new("/docs")
        .url("/openapi.json", (*doc).clone())
        .into()
}
