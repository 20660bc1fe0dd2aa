//! Form helpers: the CSRF hidden field every form carries, and fields that show their
//! validation error next to the input (`aria-invalid`, `aria-describedby`).
//!
//! ```ignore
//! form method="post" action="/codex/companies/new" class="stack" {
//!     (csrf(&ctx))
//!     (Field::text("name", "Name").value(&input.name).required().render(&errors))
//!     (Field::select("plan", "Plan", &plans).value(&input.plan).render(&errors))
//!     button { "Save" }
//! }
//! ```
//! On a 422 re-render the same page with the `FieldErrors` of the `AppError` (see
//! `field_errors`) and the user's input, with status 422.

use super::context::PageCtx;
use crate::error::{AppError, FieldErrors};
use maud::{html, Markup};

/// The hidden `csrf_token` field for a form posted with the session cookie.
pub fn csrf(ctx: &PageCtx) -> Markup {
    csrf_field(&ctx.csrf_token)
}

pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(token); }
}

/// Splits a validation error into its field errors (to show next to the inputs); any
/// other error is passed on.
pub fn field_errors(e: AppError) -> Result<FieldErrors, AppError> {
    match e {
        AppError::Validation(errs) => Ok(errs),
        other => Err(other),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Input(&'static str),
    TextArea,
    Select(Vec<(String, String)>),
    Checkbox,
}

/// One labelled form field.
#[derive(Clone, Debug)]
pub struct Field {
    name: String,
    label: String,
    kind: Kind,
    value: String,
    hint: Option<String>,
    required: bool,
    attrs_autofocus: bool,
    /// Errors under another key also shown here (a nested JSON field name, say).
    error_keys: Vec<String>,
}

impl Field {
    fn new(name: &str, label: &str, kind: Kind) -> Field {
        Field {
            name: name.into(),
            label: label.into(),
            kind,
            value: String::new(),
            hint: None,
            required: false,
            attrs_autofocus: false,
            error_keys: vec![name.into()],
        }
    }

    pub fn text(name: &str, label: &str) -> Field {
        Field::new(name, label, Kind::Input("text"))
    }

    /// An `<input>` of another type (email, number, date, password, url, tel, search).
    pub fn input(kind: &'static str, name: &str, label: &str) -> Field {
        Field::new(name, label, Kind::Input(kind))
    }

    pub fn textarea(name: &str, label: &str) -> Field {
        Field::new(name, label, Kind::TextArea)
    }

    /// A `<select>` of (value, label) options.
    pub fn select<V: AsRef<str>, L: AsRef<str>>(
        name: &str,
        label: &str,
        options: impl IntoIterator<Item = (V, L)>,
    ) -> Field {
        let opts = options
            .into_iter()
            .map(|(v, l)| (v.as_ref().to_string(), l.as_ref().to_string()))
            .collect();
        Field::new(name, label, Kind::Select(opts))
    }

    /// A checkbox sending `value="1"` when ticked; `.value("1")` ticks it.
    pub fn checkbox(name: &str, label: &str) -> Field {
        Field::new(name, label, Kind::Checkbox)
    }

    pub fn value(mut self, v: impl AsRef<str>) -> Field {
        self.value = v.as_ref().to_string();
        self
    }

    pub fn hint(mut self, h: impl Into<String>) -> Field {
        self.hint = Some(h.into());
        self
    }

    pub fn required(mut self) -> Field {
        self.required = true;
        self
    }

    pub fn autofocus(mut self) -> Field {
        self.attrs_autofocus = true;
        self
    }

    /// Also show the error reported under `key` (when the API names the field otherwise).
    pub fn error_key(mut self, key: &str) -> Field {
        self.error_keys.push(key.into());
        self
    }

    pub fn render(&self, errors: &FieldErrors) -> Markup {
        let id = format!("f-{}", self.name);
        let err_id = format!("{id}-error");
        let hint_id = format!("{id}-hint");
        let error = self.error_keys.iter().find_map(|k| errors.get(k));
        let described = match (error.is_some(), self.hint.is_some()) {
            (true, true) => Some(format!("{err_id} {hint_id}")),
            (true, false) => Some(err_id.clone()),
            (false, true) => Some(hint_id.clone()),
            (false, false) => None,
        };
        let invalid = error.is_some().then_some("true");
        html! {
            div class="field" {
                @match &self.kind {
                    Kind::Checkbox => {
                        label for=(id) {
                            input type="checkbox" id=(id) name=(self.name) value="1"
                                checked[self.value == "1" || self.value == "true"]
                                aria-invalid=[invalid] aria-describedby=[described.as_deref()];
                            " " (self.label)
                        }
                    }
                    kind => {
                        label for=(id) { (self.label) @if self.required { " *" } }
                        @match kind {
                            Kind::Input(t) => {
                                input type=(t) id=(id) name=(self.name) value=(self.value)
                                    required[self.required] autofocus[self.attrs_autofocus]
                                    aria-invalid=[invalid] aria-describedby=[described.as_deref()];
                            }
                            Kind::TextArea => {
                                textarea id=(id) name=(self.name) rows="4" required[self.required]
                                    aria-invalid=[invalid] aria-describedby=[described.as_deref()] { (self.value) }
                            }
                            Kind::Select(opts) => {
                                select id=(id) name=(self.name) required[self.required]
                                    aria-invalid=[invalid] aria-describedby=[described.as_deref()] {
                                    @for (v, l) in opts {
                                        option value=(v) selected[*v == self.value] { (l) }
                                    }
                                }
                            }
                            Kind::Checkbox => {}
                        }
                    }
                }
                @if let Some(e) = error {
                    div class="error" id=(err_id) { (e) }
                }
                @if let Some(h) = &self.hint {
                    div class="hint" id=(hint_id) { (h) }
                }
            }
        }
    }
}

/// A summary line for the top of a form that failed validation.
pub fn error_summary(errors: &FieldErrors) -> Markup {
    html! {
        @if !errors.is_empty() {
            div class="flash flash-error" role="alert" {
                @if errors.len() == 1 { "1 field needs attention." }
                @else { (errors.len()) " fields need attention." }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_shows_its_error_and_escapes_values() {
        let mut errs = FieldErrors::new();
        errs.insert("name".into(), "must not be empty".into());
        let html = Field::text("name", "Name")
            .value("<script>alert(1)</script>")
            .required()
            .render(&errs)
            .into_string();
        assert!(html.contains("aria-invalid=\"true\""), "{html}");
        assert!(html.contains("must not be empty"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
        let sel = Field::select("t", "Theme", [("light", "Light"), ("dark", "Dark")])
            .value("dark")
            .render(&FieldErrors::new())
            .into_string();
        assert!(sel.contains("<option value=\"dark\" selected>"), "{sel}");
        assert!(!sel.contains("aria-invalid"));
    }
}
