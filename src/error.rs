//! The one error type. Every failure a client can see is a `RegistryError`; it alone
//! decides the OCI error code, the HTTP status and the JSON envelope.

use serde_json::json;

/// A failure, as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("blob unknown to registry")]
    BlobUnknown,
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown,
    #[error("provided digest did not match uploaded content")]
    DigestInvalid(String),
    #[error("manifest references a blob unknown to this repository: {0}")]
    ManifestBlobUnknown(String),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("manifest unknown")]
    ManifestUnknown,
    #[error("invalid repository name: {0}")]
    NameInvalid(String),
    #[error("repository name not known to registry")]
    NameUnknown,
    #[error("provided length did not match content length: {0}")]
    SizeInvalid(String),
    #[error("{0} exceeds the limit")]
    TooLarge(String),
    #[error("requested range not satisfiable: {0}")]
    RangeInvalid(String),
    /// Missing or bad credentials. `scope` is what to ask the token service for.
    #[error("authentication required")]
    Unauthorized { scope: Option<String> },
    /// An identity token (trusted publishing) that was not accepted, and why.
    #[error("{0}")]
    IdentityRefused(String),
    #[error("requested access to the resource is denied")]
    Denied,
    /// Refused by a rule the caller should know about (an immutable tag): the message says which.
    #[error("{0}")]
    DeniedBecause(String),
    #[error("the operation is unsupported: {0}")]
    Unsupported(String),
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A fault of the registry or its storage. The cause is logged, never shown.
    #[error("internal error")]
    Internal(String),
}

impl RegistryError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        RegistryError::Internal(cause.to_string())
    }

    /// The OCI error code (distribution-spec "Error Codes").
    pub fn code(&self) -> &'static str {
        use RegistryError::*;
        match self {
            BlobUnknown => "BLOB_UNKNOWN",
            BlobUploadInvalid(_) => "BLOB_UPLOAD_INVALID",
            BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            DigestInvalid(_) => "DIGEST_INVALID",
            ManifestBlobUnknown(_) => "MANIFEST_BLOB_UNKNOWN",
            ManifestInvalid(_) => "MANIFEST_INVALID",
            ManifestUnknown => "MANIFEST_UNKNOWN",
            NameInvalid(_) => "NAME_INVALID",
            NameUnknown => "NAME_UNKNOWN",
            SizeInvalid(_) | TooLarge(_) => "SIZE_INVALID",
            RangeInvalid(_) => "BLOB_UPLOAD_INVALID",
            Unauthorized { .. } | IdentityRefused(_) => "UNAUTHORIZED",
            Denied | DeniedBecause(_) => "DENIED",
            Unsupported(_) => "UNSUPPORTED",
            TooManyRequests { .. } => "TOOMANYREQUESTS",
            BadRequest(_) => "BAD_REQUEST",
            NotFound(_) => "NOT_FOUND",
            Conflict(_) => "CONFLICT",
            Internal(_) => "INTERNAL_ERROR",
        }
    }

    pub fn status(&self) -> u16 {
        use RegistryError::*;
        match self {
            BlobUnknown | BlobUploadUnknown | ManifestUnknown | NameUnknown | NotFound(_) => 404,
            BlobUploadInvalid(_)
            | DigestInvalid(_)
            | ManifestBlobUnknown(_)
            | ManifestInvalid(_)
            | NameInvalid(_)
            | SizeInvalid(_)
            | BadRequest(_) => 400,
            TooLarge(_) => 413,
            RangeInvalid(_) => 416,
            Unauthorized { .. } | IdentityRefused(_) => 401,
            Denied | DeniedBecause(_) => 403,
            Unsupported(_) => 405,
            Conflict(_) => 409,
            TooManyRequests { .. } => 429,
            Internal(_) => 500,
        }
    }

    /// What the client is told: internal causes stay in the log, and since many messages
    /// quote what the client sent (a media type, serde's view of a JSON body), at most
    /// `MAX_MESSAGE_BYTES` of it.
    pub fn message(&self) -> String {
        match self {
            RegistryError::Internal(_) => "internal error".to_string(),
            other => cut_short(other.to_string()),
        }
    }

    /// The OCI error envelope: `{"errors":[{"code","message","detail"}]}`.
    pub fn body(&self) -> Vec<u8> {
        json!({"errors": [{"code": self.code(), "message": self.message(), "detail": null}]}).to_string().into_bytes()
    }
}

/// The longest error message a client is sent.
pub const MAX_MESSAGE_BYTES: usize = 400;

fn cut_short(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let end = (0..=MAX_MESSAGE_BYTES - 3).rev().find(|&i| message.is_char_boundary(i)).unwrap_or(0);
        message.truncate(end);
        message.push_str("...");
    }
    message
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_cause_is_not_shown() {
        let e = RegistryError::internal("D1 said: table missing");
        let body = String::from_utf8(e.body()).unwrap();
        assert!(!body.contains("D1"));
        assert_eq!(e.status(), 500);
    }

    #[test]
    fn messages_quote_at_most_400_bytes_of_the_request() {
        let echoed = RegistryError::ManifestInvalid(format!("unsupported manifest media type {}", "é".repeat(5000)));
        let message = echoed.message();
        assert!(message.len() <= MAX_MESSAGE_BYTES && message.ends_with("..."), "{} bytes", message.len());
        assert!(message.starts_with("manifest invalid: unsupported manifest media type éé"));
        let short = RegistryError::NameInvalid("\"A\": uppercase".into());
        assert_eq!(short.message(), "invalid repository name: \"A\": uppercase");
    }

    #[test]
    fn envelope_has_code_and_message() {
        let v: serde_json::Value = serde_json::from_slice(&RegistryError::NameInvalid("A".into()).body()).unwrap();
        assert_eq!(v["errors"][0]["code"], "NAME_INVALID");
        assert!(v["errors"][0]["message"].as_str().unwrap().contains('A'));
    }
}
