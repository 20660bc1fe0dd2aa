//! Partial-update fields: absent = leave as is, `null` or `""` = clear, value = set.

use crate::error::FieldErrors;
use serde::{Deserialize, Deserializer};

/// Use as `#[serde(default, deserialize_with = "patch::field")] name: Option<Option<T>>`.
pub fn field<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Applies a text patch through a validator, collecting the error under `name`.
/// Empty strings clear the field, like `null`.
pub fn apply_text(
    errors: &mut FieldErrors,
    name: &str,
    target: &mut Option<String>,
    patch: &Option<Option<String>>,
    check: impl Fn(&str) -> Result<String, String>,
) {
    match patch {
        None => {}
        Some(None) => *target = None,
        Some(Some(v)) if v.trim().is_empty() => *target = None,
        Some(Some(v)) => match check(v) {
            Ok(clean) => *target = Some(clean),
            Err(m) => {
                errors.insert(name.to_string(), m);
            }
        },
    }
}

/// Like `apply_text` for a field that may not be cleared.
pub fn apply_required(
    errors: &mut FieldErrors,
    name: &str,
    target: &mut String,
    patch: &Option<Option<String>>,
    check: impl Fn(&str) -> Result<String, String>,
) {
    match patch {
        None => {}
        Some(None) => {
            errors.insert(name.to_string(), "is required".into());
        }
        Some(Some(v)) => match check(v) {
            Ok(clean) => *target = clean,
            Err(m) => {
                errors.insert(name.to_string(), m);
            }
        },
    }
}

pub fn text(max: usize) -> impl Fn(&str) -> Result<String, String> {
    move |s| crate::validate::text(s, max)
}

pub fn required(max: usize) -> impl Fn(&str) -> Result<String, String> {
    move |s| crate::validate::required_text(s, max)
}
