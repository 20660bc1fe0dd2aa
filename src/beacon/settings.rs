//! The board's runtime settings: update-overdue thresholds per priority, the
//! first-response SLA bands, the header counter's alert levels and the Professional
//! Services group. One row in `beacon_settings`; without it the built-in defaults (the
//! original's figures, the group from `[beacon]` in hivematrix.toml) apply. Every change
//! bumps `version`, which is part of the board cache's signature, so every app node
//! serves boards computed with the new settings on its next request.

use super::model::{BoardSettings, UpdateThresholds};
use crate::audit::{self, Action, Change};
use crate::auth::{AdminOnly, Principal};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::http::extract::JsonBody;
use crate::http::AppState;
use crate::Db;
use axum::extract::State;
use axum::Json;
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// The longest threshold accepted (a year, in minutes).
pub const MAX_MINUTES: i64 = 525_600;
/// The highest alert level accepted.
pub const MAX_ALERT: i64 = 100_000;

/// Minutes without an update after which a ticket of each priority is overdue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverdueMinutes {
    pub urgent: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    /// Any other priority value.
    pub unknown: i64,
}

/// Total-active counts at which the header counter turns yellow, red, blinking red and
/// blinking red with sirens (strictly ascending).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertLevels {
    pub warning: i64,
    pub danger: i64,
    pub critical: i64,
    pub emergency: i64,
}

/// The settings as `GET /beacon/api/settings` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BeaconSettings {
    pub update_overdue_minutes: OverdueMinutes,
    /// A first response (or due date) closer than this is `sla-critical`.
    pub fr_critical_minutes: i64,
    /// … closer than this `sla-warning`; must not be below `fr_critical_minutes`.
    pub fr_warning_minutes: i64,
    pub alert_levels: AlertLevels,
    /// The PSA group whose tickets form the Professional Services board (null: none,
    /// Helpdesk shows every ticket).
    pub professional_services_group: Option<String>,
    /// 0 = never changed (the defaults); bumped by every change.
    pub version: i64,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
}

/// `PUT /beacon/api/settings`: absent fields keep their value; a null or empty
/// `professional_services_group` clears it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    pub update_overdue_minutes: Option<OverdueMinutes>,
    pub fr_critical_minutes: Option<i64>,
    pub fr_warning_minutes: Option<i64>,
    pub alert_levels: Option<AlertLevels>,
    #[serde(default, deserialize_with = "crate::codex::patch::field")]
    #[schema(value_type = Option<String>)]
    pub professional_services_group: Option<Option<String>>,
}

fn minutes(d: TimeDelta) -> i64 {
    d.num_minutes()
}

impl BeaconSettings {
    /// The built-in defaults: the original's figures, the group from the config file.
    pub fn defaults(config_group: Option<String>) -> BeaconSettings {
        let d = BoardSettings::default();
        let t = &d.update_overdue;
        let [warning, danger, critical, emergency] = d.alert_levels.map(|l| l as i64);
        BeaconSettings {
            update_overdue_minutes: OverdueMinutes {
                urgent: minutes(t.urgent),
                high: minutes(t.high),
                medium: minutes(t.medium),
                low: minutes(t.low),
                unknown: minutes(t.unknown),
            },
            fr_critical_minutes: minutes(d.fr_critical),
            fr_warning_minutes: minutes(d.fr_warning),
            alert_levels: AlertLevels {
                warning,
                danger,
                critical,
                emergency,
            },
            professional_services_group: config_group
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty()),
            version: 0,
            updated_at: None,
            updated_by: None,
        }
    }

    /// What the rules take.
    pub fn board_settings(&self) -> BoardSettings {
        let o = &self.update_overdue_minutes;
        let a = &self.alert_levels;
        let level = |v: i64| usize::try_from(v).unwrap_or(0);
        BoardSettings {
            update_overdue: UpdateThresholds {
                urgent: TimeDelta::minutes(o.urgent),
                high: TimeDelta::minutes(o.high),
                medium: TimeDelta::minutes(o.medium),
                low: TimeDelta::minutes(o.low),
                unknown: TimeDelta::minutes(o.unknown),
            },
            fr_critical: TimeDelta::minutes(self.fr_critical_minutes),
            fr_warning: TimeDelta::minutes(self.fr_warning_minutes),
            professional_services_group_id: self.professional_services_group.clone(),
            alert_levels: [
                level(a.warning),
                level(a.danger),
                level(a.critical),
                level(a.emergency),
            ],
        }
    }

    /// Every rule a stored setting must satisfy; all problems at once, by field.
    pub fn validate(&self) -> Result<(), AppError> {
        let mut errors = FieldErrors::new();
        let o = &self.update_overdue_minutes;
        let in_range = |v: i64| (1..=MAX_MINUTES).contains(&v);
        for (name, v) in [
            ("urgent", o.urgent),
            ("high", o.high),
            ("medium", o.medium),
            ("low", o.low),
            ("unknown", o.unknown),
        ] {
            if !in_range(v) {
                errors.insert(
                    format!("update_overdue_minutes.{name}"),
                    format!("must be between 1 and {MAX_MINUTES} minutes"),
                );
            }
        }
        for (name, v) in [
            ("fr_critical_minutes", self.fr_critical_minutes),
            ("fr_warning_minutes", self.fr_warning_minutes),
        ] {
            if !in_range(v) {
                errors.insert(
                    name.into(),
                    format!("must be between 1 and {MAX_MINUTES} minutes"),
                );
            }
        }
        if !errors.contains_key("fr_warning_minutes")
            && !errors.contains_key("fr_critical_minutes")
            && self.fr_warning_minutes < self.fr_critical_minutes
        {
            errors.insert(
                "fr_warning_minutes".into(),
                "must not be below fr_critical_minutes".into(),
            );
        }
        let a = &self.alert_levels;
        let levels = [
            ("warning", a.warning),
            ("danger", a.danger),
            ("critical", a.critical),
            ("emergency", a.emergency),
        ];
        for (name, v) in levels {
            if !(1..=MAX_ALERT).contains(&v) {
                errors.insert(
                    format!("alert_levels.{name}"),
                    format!("must be between 1 and {MAX_ALERT}"),
                );
            }
        }
        for pair in levels.windows(2) {
            if pair[1].1 <= pair[0].1 {
                errors.insert(
                    format!("alert_levels.{}", pair[1].0),
                    format!("must be above alert_levels.{}", pair[0].0),
                );
            }
        }
        if let Some(g) = &self.professional_services_group {
            if g.chars().count() > 100 || g.chars().any(char::is_control) {
                errors.insert(
                    "professional_services_group".into(),
                    "must be at most 100 characters without control characters".into(),
                );
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(errors))
        }
    }

    /// This with the input's fields applied (not yet validated).
    pub fn merged(&self, input: &SettingsInput) -> BeaconSettings {
        let mut next = self.clone();
        if let Some(o) = &input.update_overdue_minutes {
            next.update_overdue_minutes = o.clone();
        }
        if let Some(v) = input.fr_critical_minutes {
            next.fr_critical_minutes = v;
        }
        if let Some(v) = input.fr_warning_minutes {
            next.fr_warning_minutes = v;
        }
        if let Some(a) = &input.alert_levels {
            next.alert_levels = a.clone();
        }
        match &input.professional_services_group {
            None => {}
            Some(None) => next.professional_services_group = None,
            Some(Some(g)) => {
                let g = g.trim();
                next.professional_services_group = (!g.is_empty()).then(|| g.to_string());
            }
        }
        next
    }
}

/// The stored settings, or the defaults when none were ever saved.
pub async fn load(db: &Db, config_group: Option<String>) -> AppResult<BeaconSettings> {
    let row = sqlx::query("SELECT * FROM beacon_settings WHERE id = 1")
        .fetch_optional(&db.pool)
        .await?;
    let Some(r) = row else {
        return Ok(BeaconSettings::defaults(config_group));
    };
    Ok(BeaconSettings {
        update_overdue_minutes: OverdueMinutes {
            urgent: r.try_get("urgent_minutes")?,
            high: r.try_get("high_minutes")?,
            medium: r.try_get("medium_minutes")?,
            low: r.try_get("low_minutes")?,
            unknown: r.try_get("unknown_minutes")?,
        },
        fr_critical_minutes: r.try_get("fr_critical_minutes")?,
        fr_warning_minutes: r.try_get("fr_warning_minutes")?,
        alert_levels: AlertLevels {
            warning: r.try_get("alert_warning")?,
            danger: r.try_get("alert_danger")?,
            critical: r.try_get("alert_critical")?,
            emergency: r.try_get("alert_emergency")?,
        },
        professional_services_group: r.try_get("professional_services_group")?,
        version: r.try_get("version")?,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
}

/// Applies a change: validated as a whole (nothing is written on any error), stored
/// with the next version, audited in the same transaction.
pub async fn save(
    db: &Db,
    who: &Principal,
    config_group: Option<String>,
    input: &SettingsInput,
) -> AppResult<BeaconSettings> {
    let before = load(db, config_group).await?;
    let mut next = before.merged(input);
    next.validate()?;
    next.version = before.version + 1;
    next.updated_at = Some(crate::time::now_db());
    next.updated_by = Some(who.email.clone());
    let o = &next.update_overdue_minutes;
    let a = &next.alert_levels;
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO beacon_settings (id, urgent_minutes, high_minutes, medium_minutes, low_minutes, \
            unknown_minutes, fr_critical_minutes, fr_warning_minutes, alert_warning, alert_danger, \
            alert_critical, alert_emergency, professional_services_group, version, updated_at, updated_by) \
         VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (id) DO UPDATE SET urgent_minutes = excluded.urgent_minutes, \
            high_minutes = excluded.high_minutes, medium_minutes = excluded.medium_minutes, \
            low_minutes = excluded.low_minutes, unknown_minutes = excluded.unknown_minutes, \
            fr_critical_minutes = excluded.fr_critical_minutes, \
            fr_warning_minutes = excluded.fr_warning_minutes, alert_warning = excluded.alert_warning, \
            alert_danger = excluded.alert_danger, alert_critical = excluded.alert_critical, \
            alert_emergency = excluded.alert_emergency, \
            professional_services_group = excluded.professional_services_group, \
            version = excluded.version, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(o.urgent)
    .bind(o.high)
    .bind(o.medium)
    .bind(o.low)
    .bind(o.unknown)
    .bind(next.fr_critical_minutes)
    .bind(next.fr_warning_minutes)
    .bind(a.warning)
    .bind(a.danger)
    .bind(a.critical)
    .bind(a.emergency)
    .bind(&next.professional_services_group)
    .bind(next.version)
    .bind(&next.updated_at)
    .bind(&next.updated_by)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Some(who),
        Change {
            module: "beacon",
            action: Action::Update,
            entity: "beacon_settings",
            entity_id: "1".into(),
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&next).ok(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(next)
}

/// The settings the board uses now. Staff only.
#[utoipa::path(get, path = "/beacon/api/settings", tag = "beacon",
    responses((status = 200, body = BeaconSettings), (status = 403, body = crate::error::Problem)))]
pub async fn get_settings(
    State(state): State<AppState>,
    who: Principal,
) -> AppResult<Json<BeaconSettings>> {
    who.require_staff()?;
    Ok(Json(load(&state.db, config_group(&state)).await?))
}

/// Changes the settings (absent fields keep their value). Admin only; any invalid
/// field → 422 and nothing changes. Boards use the new settings on their next poll.
#[utoipa::path(put, path = "/beacon/api/settings", tag = "beacon", request_body = SettingsInput,
    responses((status = 200, body = BeaconSettings), (status = 403, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn put_settings(
    State(state): State<AppState>,
    AdminOnly(who): AdminOnly,
    JsonBody(input): JsonBody<SettingsInput>,
) -> AppResult<Json<BeaconSettings>> {
    Ok(Json(
        save(&state.db, &who, config_group(&state), &input).await?,
    ))
}

/// `[beacon] professional_services_group` from hivematrix.toml (the default).
pub fn config_group(state: &AppState) -> Option<String> {
    state.settings.beacon.professional_services_group.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_board_defaults() {
        let s = BeaconSettings::defaults(Some(" G1 ".into()));
        assert_eq!(s.update_overdue_minutes.urgent, 30);
        assert_eq!(s.update_overdue_minutes.high, 2 * 24 * 60);
        assert_eq!(s.fr_critical_minutes, 240);
        assert_eq!(s.fr_warning_minutes, 720);
        assert_eq!(s.professional_services_group.as_deref(), Some("G1"));
        let b = s.board_settings();
        assert_eq!(
            b,
            BoardSettings {
                professional_services_group_id: Some("G1".into()),
                ..BoardSettings::default()
            }
        );
        assert!(s.validate().is_ok());
    }

    #[test]
    fn validation_names_every_bad_field() {
        let mut s = BeaconSettings::defaults(None);
        s.update_overdue_minutes.low = 0;
        s.fr_critical_minutes = 800;
        s.alert_levels.critical = 100;
        let Err(AppError::Validation(e)) = s.validate() else {
            panic!("expected a validation error")
        };
        assert!(e.contains_key("update_overdue_minutes.low"), "{e:?}");
        assert!(e.contains_key("fr_warning_minutes"), "{e:?}");
        assert!(e.contains_key("alert_levels.critical"), "{e:?}");
    }
}
