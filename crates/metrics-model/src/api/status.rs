//! `Status` error bodies: every error the adapter returns is one, with `code` equal to the HTTP
//! status and a message an operator can act on.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusDetails};

/// The Kubernetes `StatusReason` values Sextant answers with, each tied to its HTTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusReason {
    /// 400: the request itself is malformed (a bad selector).
    BadRequest,
    /// 401: no valid credentials.
    Unauthorized,
    /// 403: authenticated, but not allowed.
    Forbidden,
    /// 404: no such metric, resource or object.
    NotFound,
    /// 405: only GET is served.
    MethodNotAllowed,
    /// 500: a fault of the adapter itself.
    InternalError,
    /// 502: the metrics store answered something that is not a valid answer.
    BadGateway,
    /// 503: the metrics store cannot be reached.
    ServiceUnavailable,
    /// 504: the metrics store did not answer in time.
    Timeout,
}

impl StatusReason {
    /// The HTTP status code, also written as the Status `code`.
    pub fn code(self) -> u16 {
        match self {
            StatusReason::BadRequest => 400,
            StatusReason::Unauthorized => 401,
            StatusReason::Forbidden => 403,
            StatusReason::NotFound => 404,
            StatusReason::MethodNotAllowed => 405,
            StatusReason::InternalError => 500,
            StatusReason::BadGateway => 502,
            StatusReason::ServiceUnavailable => 503,
            StatusReason::Timeout => 504,
        }
    }

    /// The reason string of the API (`BadGateway` has none upstream, so 502 reports
    /// `InternalError` as the API server's proxy does).
    pub fn as_str(self) -> &'static str {
        match self {
            StatusReason::BadRequest => "BadRequest",
            StatusReason::Unauthorized => "Unauthorized",
            StatusReason::Forbidden => "Forbidden",
            StatusReason::NotFound => "NotFound",
            StatusReason::MethodNotAllowed => "MethodNotAllowed",
            StatusReason::InternalError | StatusReason::BadGateway => "InternalError",
            StatusReason::ServiceUnavailable => "ServiceUnavailable",
            StatusReason::Timeout => "Timeout",
        }
    }
}

/// A `Status` of failure with the reason's code and the given message.
pub fn failure(reason: StatusReason, message: impl Into<String>) -> Status {
    Status {
        code: Some(i32::from(reason.code())),
        details: None,
        message: Some(message.into()),
        metadata: Default::default(),
        reason: Some(reason.as_str().to_owned()),
        status: Some("Failure".to_owned()),
    }
}

/// A `Status` of failure that also names the object concerned, as `NotFound` answers do.
pub fn failure_for(
    reason: StatusReason,
    message: impl Into<String>,
    group: &str,
    kind: &str,
    name: &str,
) -> Status {
    Status {
        details: Some(StatusDetails {
            group: Some(group.to_owned()),
            kind: Some(kind.to_owned()),
            name: Some(name.to_owned()),
            ..StatusDetails::default()
        }),
        ..failure(reason, message)
    }
}
