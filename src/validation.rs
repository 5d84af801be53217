//! Input checks that collect every invalid field, so one response names them all.

use crate::error::{ApiError, FieldError};

#[derive(Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Trimmed text of `min..=max` characters (any script), without control characters.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let length = value.trim().chars().count();
        if length < min || length > max {
            self.fail(field, format!("must be {min} to {max} characters"));
        } else if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            self.fail(field, "must not contain control characters");
        }
    }

    pub fn optional_text(&mut self, field: &str, value: Option<&str>, min: usize, max: usize) {
        if let Some(value) = value {
            self.text(field, value, min, max);
        }
    }

    /// ISO 3166-1 alpha-2, upper case (`TJ`, `RU`).
    pub fn country(&mut self, field: &str, value: &str) {
        if !is_country_code(value) {
            self.fail(
                field,
                "must be an ISO 3166-1 alpha-2 country code in upper case, e.g. TJ",
            );
        }
    }

    /// ISO 639-1, lower case (`tg`, `ru`).
    pub fn language(&mut self, field: &str, value: &str) {
        let valid = value.len() == 2
            && value.chars().all(|c| c.is_ascii_lowercase())
            && isolang::Language::from_639_1(value).is_some();
        if !valid {
            self.fail(
                field,
                "must be an ISO 639-1 language code in lower case, e.g. tg",
            );
        }
    }

    pub fn email(&mut self, field: &str, value: &str) {
        let mut parts = value.split('@');
        let valid = match (parts.next(), parts.next(), parts.next()) {
            (Some(local), Some(domain), None) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && value.len() <= 254
                    && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            _ => false,
        };
        if !valid {
            self.fail(field, "must be an e-mail address like name@example.org");
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(self.errors))
        }
    }
}

pub fn is_country_code(value: &str) -> bool {
    value.len() == 2
        && value.chars().all(|c| c.is_ascii_uppercase())
        && rust_iso3166::from_alpha2(value).is_some()
}
