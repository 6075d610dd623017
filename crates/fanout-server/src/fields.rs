//! The fields of a request body, whatever its encoding: a urlencoded form (what Agno's client
//! sends), a multipart form, or a JSON object. Every failure is a clear 4xx [`ApiError`].

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;

use crate::error::{ApiError, quote};

/// Named text fields (the first of a repeated name counts).
#[derive(Debug, Default)]
pub(crate) struct Fields(HashMap<String, String>);

impl Fields {
    /// Read the body of `request`.
    pub(crate) async fn read(request: Request) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match content_type.as_str() {
            "multipart/form-data" => Self::multipart(request).await,
            "application/json" => {
                let body = bytes(request).await?;
                if body.is_empty() {
                    return Ok(Self::default());
                }
                let value: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|err| ApiError::bad_request(format!("The body is not valid JSON: {err}")))?;
                let serde_json::Value::Object(object) = value else {
                    return Err(ApiError::invalid("The JSON body must be an object"));
                };
                let mut fields = HashMap::with_capacity(object.len());
                for (name, value) in object {
                    let text = match value {
                        serde_json::Value::Null => continue,
                        serde_json::Value::String(text) => text,
                        other => other.to_string(),
                    };
                    fields.insert(name, text);
                }
                Ok(Self(fields))
            }
            "" | "application/x-www-form-urlencoded" => {
                let body = bytes(request).await?;
                let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
                    .map_err(|err| ApiError::bad_request(format!("The form is malformed: {err}")))?;
                let mut fields = HashMap::with_capacity(pairs.len());
                for (name, value) in pairs {
                    fields.entry(name).or_insert(value);
                }
                Ok(Self(fields))
            }
            other => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "Send a form (application/x-www-form-urlencoded or multipart/form-data) or JSON, not {}",
                    quote(other)
                ),
            )),
        }
    }

    async fn multipart(request: Request) -> Result<Self, ApiError> {
        let mut multipart = Multipart::from_request(request, &()).await.map_err(|rejection| {
            ApiError::new(
                rejection.status(),
                "bad_request",
                format!("The form is malformed: {}", rejection.body_text()),
            )
        })?;
        let mut fields = HashMap::new();
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(err) => {
                    return Err(ApiError::new(
                        err.status(),
                        "bad_request",
                        format!("The form is malformed: {}", err.body_text()),
                    ));
                }
            };
            let name = field.name().unwrap_or("").to_owned();
            if field.file_name().is_some() {
                return Err(ApiError::bad_request(format!(
                    "File uploads are not supported (field {})",
                    quote(&name)
                )));
            }
            let text = field.text().await.map_err(|err| {
                ApiError::new(
                    err.status(),
                    "bad_request",
                    format!("The form is malformed: {}", err.body_text()),
                )
            })?;
            fields.entry(name).or_insert(text);
        }
        Ok(Self(fields))
    }

    /// A text field, if present.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A text field that must be present and not empty.
    pub(crate) fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.text(name) {
            Some(text) if !text.is_empty() => Ok(text),
            _ => Err(ApiError::invalid(format!("The field `{name}` is required"))),
        }
    }

    /// An id field (`session_id`, `user_id`): absent or empty means none; at most 256
    /// characters, no control characters.
    pub(crate) fn id(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.text(name) {
            None | Some("") => Ok(None),
            Some(id) => check_id(name, id).map(|()| Some(id.to_owned())),
        }
    }

    /// A boolean field as FastAPI reads one (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`).
    pub(crate) fn flag(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.text(name) {
            None | Some("") => Ok(default),
            Some(text) => parse_flag(text).ok_or_else(|| {
                ApiError::invalid(format!("The field `{name}` must be true or false, not {}", quote(text)))
            }),
        }
    }

    /// An integer field.
    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.text(name) {
            None | Some("") => Ok(None),
            Some(text) => text.trim().parse().map(Some).map_err(|_| {
                ApiError::invalid(format!("The field `{name}` must be an integer, not {}", quote(text)))
            }),
        }
    }
}

/// The whole body, within the router's size limit (413 beyond).
pub(crate) async fn bytes(request: Request) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, &()).await.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(status, "payload_too_large", "The request body is too large")
        } else {
            ApiError::new(
                status,
                "bad_request",
                format!("The body could not be read: {}", rejection.body_text()),
            )
        }
    })
}

pub(crate) fn parse_flag(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// Ids from requests: at most 256 characters, no control characters.
pub(crate) fn check_id(name: &str, id: &str) -> Result<(), ApiError> {
    if id.chars().count() > 256 || id.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "The field `{name}` must be at most 256 characters without control characters"
        )));
    }
    Ok(())
}
