//! User preferences: light/dark theme, colour theme, knowledge-base view and home page.
//! The web UI applies them on every page (`for_user`), the login flow picks the home
//! page, and users change their own from the settings page. A user without a stored
//! row gets the defaults (light, purple, grid, beacon), so nothing has to be "synced"
//! before a new account works. One allow-list per preference, used by every writer
//! (the original's gateway, Codex and KnowledgeTree disagreed on them).

use crate::audit::{self, Action, Change};
use crate::auth::{users, Principal, Role};
use crate::db::Db;
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::AppState;
use crate::validate;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub const THEMES: &[&str] = &["light", "dark"];
pub const COLOR_THEMES: &[&str] = &[
    "purple", "blue", "green", "orange", "gold", "red", "yellow", "matrix", "bee",
];
pub const KNOWLEDGETREE_VIEWS: &[&str] = &["grid", "tree", "hierarchy"];
pub const HOME_PAGES: &[&str] = &[
    "beacon",
    "knowledgetree",
    "brainhair",
    "codex",
    "ledger",
    "archive",
    "helm",
];

/// One user's preferences. `stored` is false when these are the defaults because the
/// user never saved any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Preferences {
    pub theme: String,
    pub color_theme: String,
    pub knowledgetree_view: String,
    pub home_page: String,
    /// IANA time zone the pages show times in (`Europe/Berlin`); `UTC` by default.
    pub time_zone: String,
    pub stored: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            theme: "light".into(),
            color_theme: "purple".into(),
            knowledgetree_view: "grid".into(),
            home_page: "beacon".into(),
            time_zone: "UTC".into(),
            stored: false,
        }
    }
}

fn from_row(r: &AnyRow) -> Result<Preferences, sqlx::Error> {
    Ok(Preferences {
        theme: r.try_get("theme")?,
        color_theme: r.try_get("color_theme")?,
        knowledgetree_view: r.try_get("knowledgetree_view")?,
        home_page: r.try_get("home_page")?,
        time_zone: r.try_get("time_zone")?,
        stored: true,
    })
}

const COLUMNS: &str = "p.theme, p.color_theme, p.knowledgetree_view, p.home_page, p.time_zone";

// ---------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------

async fn load(conn: &mut AnyConnection, user_id: i64) -> AppResult<Preferences> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM user_preferences p WHERE p.user_id = $1"
    ))
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| from_row(&r)).transpose()?.unwrap_or_default())
}

/// The preferences of a user (defaults when none are stored or the user is unknown).
pub async fn for_user(db: &Db, user_id: i64) -> AppResult<Preferences> {
    let mut conn = db.pool.acquire().await?;
    load(&mut conn, user_id).await
}

/// The preferences of the user with this e-mail address (defaults when unknown).
pub async fn for_email(db: &Db, email: &str) -> AppResult<Preferences> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM user_preferences p JOIN users u ON u.id = p.user_id \
         WHERE u.email = $1"
    ))
    .bind(email.trim().to_lowercase())
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|r| from_row(&r)).transpose()?.unwrap_or_default())
}

/// The settings a user may change, under the original API's names. Absent fields stay
/// as they are.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesInput {
    /// light or dark
    pub theme_preference: Option<String>,
    /// purple, blue, green, orange, gold, red, yellow, matrix or bee
    pub preferred_color_theme: Option<String>,
    /// grid, tree or hierarchy
    pub knowledgetree_view_preference: Option<String>,
    /// beacon, knowledgetree, brainhair, codex, ledger, archive or helm
    pub home_page_preference: Option<String>,
    /// An IANA time zone name (`Europe/Berlin`, `America/New_York`, `UTC`): pages show
    /// times in it.
    pub time_zone_preference: Option<String>,
}

impl PreferencesInput {
    fn is_empty(&self) -> bool {
        self.theme_preference.is_none()
            && self.preferred_color_theme.is_none()
            && self.knowledgetree_view_preference.is_none()
            && self.home_page_preference.is_none()
            && self.time_zone_preference.is_none()
    }
}

/// Sets `target` to the allowed spelling of `value`, or records why it is not allowed.
fn apply_choice(
    e: &mut FieldErrors,
    name: &str,
    target: &mut String,
    value: &Option<String>,
    allowed: &[&str],
) {
    if let Some(v) = value {
        match validate::one_of(v, allowed) {
            Ok(v) => *target = v,
            Err(m) => {
                e.insert(name.to_string(), m);
            }
        }
    }
}

/// Applies `input` to `p`, collecting every invalid field before failing.
fn apply(p: &mut Preferences, input: &PreferencesInput) -> AppResult<()> {
    let mut e = FieldErrors::new();
    apply_choice(
        &mut e,
        "theme_preference",
        &mut p.theme,
        &input.theme_preference,
        THEMES,
    );
    apply_choice(
        &mut e,
        "preferred_color_theme",
        &mut p.color_theme,
        &input.preferred_color_theme,
        COLOR_THEMES,
    );
    apply_choice(
        &mut e,
        "knowledgetree_view_preference",
        &mut p.knowledgetree_view,
        &input.knowledgetree_view_preference,
        KNOWLEDGETREE_VIEWS,
    );
    apply_choice(
        &mut e,
        "home_page_preference",
        &mut p.home_page,
        &input.home_page_preference,
        HOME_PAGES,
    );
    if let Some(tz) = &input.time_zone_preference {
        match validate_time_zone(tz) {
            Ok(tz) => p.time_zone = tz,
            Err(m) => {
                e.insert("time_zone_preference".into(), m);
            }
        }
    }
    if e.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(e))
    }
}

/// The canonical IANA name of a time zone (`europe/berlin` → `Europe/Berlin`).
pub fn validate_time_zone(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(raw))
        .map(|tz| tz.name().to_string())
        .ok_or_else(|| "must be an IANA time zone name such as Europe/Berlin or UTC".to_string())
}

fn to_json(p: &Preferences) -> AppResult<serde_json::Value> {
    Ok(serde_json::to_value(p).map_err(anyhow::Error::from)?)
}

/// Changes the given preferences of `user_id` (the caller has checked who may) and
/// returns the result. An empty input changes and records nothing.
pub async fn save(
    db: &Db,
    who: &Principal,
    user_id: i64,
    input: &PreferencesInput,
) -> AppResult<Preferences> {
    let mut tx = db.pool.begin().await?;
    let before = load(&mut tx, user_id).await?;
    let mut after = before.clone();
    apply(&mut after, input)?;
    if input.is_empty() {
        return Ok(before);
    }
    after.stored = true;
    sqlx::query(
        "INSERT INTO user_preferences (user_id, theme, color_theme, knowledgetree_view, home_page, time_zone, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (user_id) DO UPDATE SET theme = excluded.theme, color_theme = excluded.color_theme, \
         knowledgetree_view = excluded.knowledgetree_view, home_page = excluded.home_page, \
         time_zone = excluded.time_zone, updated_at = excluded.updated_at",
    )
    .bind(user_id)
    .bind(&after.theme)
    .bind(&after.color_theme)
    .bind(&after.knowledgetree_view)
    .bind(&after.home_page)
    .bind(&after.time_zone)
    .bind(crate::time::now_db())
    .execute(&mut *tx)
    .await?;
    let change = Change {
        module: "codex",
        action: if before.stored {
            Action::Update
        } else {
            Action::Create
        },
        entity: "user_preferences",
        entity_id: user_id.to_string(),
        before: before.stored.then(|| to_json(&before)).transpose()?,
        after: Some(to_json(&after)?),
    };
    audit::record(&mut tx, Some(who), change).await?;
    tx.commit().await?;
    Ok(after)
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

/// A user's settings as the original `/api/my/settings` showed them. `synced` is true
/// when the user has saved preferences, false when these are the defaults.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Settings {
    pub user_id: i64,
    pub theme_preference: String,
    pub preferred_color_theme: String,
    pub knowledgetree_view_preference: String,
    pub home_page_preference: String,
    /// IANA time zone name the pages show times in.
    pub time_zone_preference: String,
    /// The user's display name.
    pub username: String,
    pub email: String,
    pub synced: bool,
}

impl Settings {
    fn new(user_id: i64, name: &str, email: &str, p: Preferences) -> Settings {
        Settings {
            user_id,
            theme_preference: p.theme,
            preferred_color_theme: p.color_theme,
            knowledgetree_view_preference: p.knowledgetree_view,
            home_page_preference: p.home_page,
            time_zone_preference: p.time_zone,
            username: name.to_string(),
            email: email.to_string(),
            synced: p.stored,
        }
    }
}

/// The answer to a settings change: the original's `{success, message}` plus the
/// settings as now stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SettingsSaved {
    pub success: bool,
    pub message: String,
    #[serde(flatten)]
    pub settings: Settings,
}

fn saved(settings: Settings) -> Json<SettingsSaved> {
    Json(SettingsSaved {
        success: true,
        message: "Settings updated".into(),
        settings,
    })
}

/// The calling user's settings (defaults when never saved).
#[utoipa::path(get, path = "/codex/api/my/settings", tag = "codex",
    responses((status = 200, body = Settings), (status = 401, body = crate::error::Problem)))]
pub async fn get_my_settings(
    State(state): State<AppState>,
    who: Principal,
) -> AppResult<Json<Settings>> {
    let p = for_user(&state.db, who.user_id).await?;
    Ok(Json(Settings::new(who.user_id, &who.name, &who.email, p)))
}

/// Changes the calling user's settings (any role, clients included).
#[utoipa::path(put, path = "/codex/api/my/settings", tag = "codex", request_body = PreferencesInput,
    responses((status = 200, body = SettingsSaved), (status = 401, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn put_my_settings(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(input): JsonBody<PreferencesInput>,
) -> AppResult<Json<SettingsSaved>> {
    let p = save(&state.db, &who, who.user_id, &input).await?;
    Ok(saved(Settings::new(who.user_id, &who.name, &who.email, p)))
}

/// Any user's settings (admin only; the original's `/api/agents/<id>/settings`).
#[utoipa::path(get, path = "/codex/api/users/{id}/settings", tag = "codex",
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = Settings), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem)))]
pub async fn get_user_settings(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<i64>,
) -> AppResult<Json<Settings>> {
    who.require_admin()?;
    let user = users::get(&state.db, id).await?;
    let p = for_user(&state.db, id).await?;
    Ok(Json(Settings::new(id, &user.name, &user.email, p)))
}

/// Changes any user's settings (admin only).
#[utoipa::path(put, path = "/codex/api/users/{id}/settings", tag = "codex",
    params(("id" = i64, Path, description = "user id")), request_body = PreferencesInput,
    responses((status = 200, body = SettingsSaved), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn put_user_settings(
    State(state): State<AppState>,
    crate::auth::AdminOnly(who): crate::auth::AdminOnly,
    Path(id): Path<i64>,
    JsonBody(input): JsonBody<PreferencesInput>,
) -> AppResult<Json<SettingsSaved>> {
    let user = users::get(&state.db, id).await?;
    let p = save(&state.db, &who, id, &input).await?;
    Ok(saved(Settings::new(id, &user.name, &user.email, p)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EmailQuery {
    /// The user whose preference is wanted.
    pub email: Option<String>,
}

/// Where a looked-up preference came from.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The user saved it.
    Codex,
    /// Nothing saved (or no such user): the default.
    Default,
}

impl From<&Preferences> for Source {
    fn from(p: &Preferences) -> Source {
        if p.stored {
            Source::Codex
        } else {
            Source::Default
        }
    }
}

/// Checks the `email` parameter and who may ask about it: staff anyone, a client only
/// themselves (so clients cannot probe which addresses have accounts).
fn lookup_email(who: &Principal, q: &EmailQuery) -> AppResult<String> {
    let raw = q
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| AppError::BadRequest("the email query parameter is required".into()))?;
    let email = validate::email(raw).map_err(|m| AppError::invalid("email", m))?;
    if who.role == Role::Client && email != who.email.to_lowercase() {
        return Err(AppError::Forbidden(
            "a client may look up only their own preferences".into(),
        ));
    }
    Ok(email)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ThemeLookup {
    pub theme: String,
    pub color_theme: String,
    pub source: Source,
    pub email: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HomePageLookup {
    pub home_page: String,
    pub source: Source,
    pub email: String,
}

/// A user's theme and colour theme by e-mail, as the gateway asked for them.
#[utoipa::path(get, path = "/codex/api/public/user/theme", tag = "codex", params(EmailQuery),
    responses((status = 200, body = ThemeLookup), (status = 400, body = crate::error::Problem),
              (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn user_theme(
    State(state): State<AppState>,
    who: Principal,
    QueryParams(q): QueryParams<EmailQuery>,
) -> AppResult<Json<ThemeLookup>> {
    let email = lookup_email(&who, &q)?;
    let p = for_email(&state.db, &email).await?;
    Ok(Json(ThemeLookup {
        source: Source::from(&p),
        theme: p.theme,
        color_theme: p.color_theme,
        email,
    }))
}

/// A user's home page by e-mail, as the login flow asked for it.
#[utoipa::path(get, path = "/codex/api/public/user/home-page", tag = "codex", params(EmailQuery),
    responses((status = 200, body = HomePageLookup), (status = 400, body = crate::error::Problem),
              (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn user_home_page(
    State(state): State<AppState>,
    who: Principal,
    QueryParams(q): QueryParams<EmailQuery>,
) -> AppResult<Json<HomePageLookup>> {
    let email = lookup_email(&who, &q)?;
    let p = for_email(&state.db, &email).await?;
    Ok(Json(HomePageLookup {
        source: Source::from(&p),
        home_page: p.home_page,
        email,
    }))
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_my_settings, put_my_settings))
        .routes(routes!(get_user_settings, put_user_settings))
        .routes(routes!(user_theme))
        .routes(routes!(user_home_page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_choices_are_normalised_and_every_bad_one_reported() {
        let mut p = Preferences::default();
        let ok = PreferencesInput {
            theme_preference: Some(" Dark ".into()),
            home_page_preference: Some("ledger".into()),
            ..Default::default()
        };
        apply(&mut p, &ok).unwrap();
        assert_eq!((p.theme.as_str(), p.home_page.as_str()), ("dark", "ledger"));
        assert_eq!(p.color_theme, "purple", "absent fields stay");

        let bad = PreferencesInput {
            theme_preference: Some("neon".into()),
            preferred_color_theme: Some("pink".into()),
            knowledgetree_view_preference: Some("list".into()),
            home_page_preference: Some("nexus".into()),
            time_zone_preference: Some("Mars/Olympus".into()),
        };
        let Err(AppError::Validation(e)) = apply(&mut p, &bad) else {
            panic!("expected a validation error")
        };
        assert_eq!(e.len(), 5);
        assert!(e["time_zone_preference"].contains("IANA"));
        assert_eq!(
            validate_time_zone("europe/berlin").unwrap(),
            "Europe/Berlin"
        );
        assert!(e["preferred_color_theme"].contains("matrix, bee"));
        assert!(e["knowledgetree_view_preference"].contains("grid, tree, hierarchy"));
    }

    #[test]
    fn lookups_are_limited_for_clients() {
        let who = |role| Principal {
            user_id: 1,
            email: "me@example.com".into(),
            name: "Me".into(),
            role,
            company_id: Some(1),
            method: crate::auth::AuthMethod::ApiToken { token_id: 1 },
            correlation_id: None,
        };
        let q = |e: &str| EmailQuery {
            email: Some(e.into()),
        };
        assert_eq!(
            lookup_email(&who(Role::Client), &q("ME@example.com")).unwrap(),
            "me@example.com"
        );
        assert!(matches!(
            lookup_email(&who(Role::Client), &q("other@example.com")),
            Err(AppError::Forbidden(_))
        ));
        assert!(lookup_email(&who(Role::Technician), &q("other@example.com")).is_ok());
        assert!(matches!(
            lookup_email(&who(Role::Billing), &EmailQuery { email: None }),
            Err(AppError::BadRequest(_))
        ));
        assert!(matches!(
            lookup_email(&who(Role::Admin), &q("not-an-email")),
            Err(AppError::Validation(_))
        ));
    }
}
