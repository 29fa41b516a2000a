//! [`HttpStore`]: the Prometheus HTTP API over keep-alive HTTP/1.1 ([`crate::transport`]),
//! with TLS and credentials.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request};
use jiff::Timestamp;

use crate::config::{QueryMethod, StoreConfig};
use crate::transport::Transport;
use crate::{
    Error, KeyedSamples, Labels, MetricsStore, RangeSeries, Result, Sample, TimeRange, response,
    tls,
};

/// How long a token or password read from its file is used before the file is read again.
const CREDENTIAL_REFRESH: Duration = Duration::from_secs(60);

/// The real store client.
#[derive(Debug)]
pub struct HttpStore {
    transport: Transport,
    /// The configured extra headers, sent with every request.
    headers: HeaderMap,
    base: String,
    method: QueryMethod,
    config: StoreConfig,
    credential: Mutex<Option<(Instant, HeaderValue)>>,
    /// Basic credentials written in the store URL (`http://user:password@host`), as reqwest and
    /// Go's client send them; the URL kept for messages has them removed.
    url_credential: Option<HeaderValue>,
    /// The request target of each API path asked by POST, parsed once ([`POSTED_PATHS`]).
    posted: Vec<(&'static str, http::Uri)>,
}

/// The API paths queries are sent to by POST (with the default method): their targets are
/// parsed once, not on every query.
const POSTED_PATHS: [&str; 4] = [
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/label/__name__/values",
];

/// The request target of `path` below the store URL, parsed.
fn target(transport: &Transport, path: &str) -> Result<http::Uri> {
    transport
        .target(path)
        .parse()
        .map_err(|e| Error::Config(format!("the store URL's path with {path}: {e}")))
}

/// The store URL without its user part, and that part as a basic `Authorization` value.
fn split_credentials(url: &str) -> Result<(String, Option<HeaderValue>)> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok((url.to_owned(), None));
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some((user_part, host)) = rest[..authority_end].rsplit_once('@') else {
        return Ok((url.to_owned(), None));
    };
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map(|decoded| decoded.into_owned())
            .map_err(|_| Error::Config("the store URL's user or password is not UTF-8".to_owned()))
    };
    let (user, password) = user_part.split_once(':').unwrap_or((user_part, ""));
    let mut value = HeaderValue::try_from(basic(&decode(user)?, &decode(password)?))
        .map_err(|_| Error::Config("the store URL's credentials cannot be sent".to_owned()))?;
    value.set_sensitive(true);
    Ok((
        format!("{scheme}://{host}{}", &rest[authority_end..]),
        Some(value),
    ))
}

/// The `Authorization` value of HTTP basic authentication.
fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        BASE64_STANDARD.encode(format!("{user}:{password}"))
    )
}

fn read_secret(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end().to_owned())
        .map_err(|e| Error::Config(format!("reading {}: {e}", path.display())))
}

/// Seconds with millisecond precision, the form both Prometheus and VictoriaMetrics read.
fn seconds(timestamp: Timestamp) -> String {
    let millis = timestamp.as_millisecond();
    format!("{}.{:03}", millis.div_euclid(1000), millis.rem_euclid(1000))
}

impl HttpStore {
    /// Builds the client; reads the CA, client certificate and key now, so a bad path fails
    /// at start-up rather than at the first query.
    pub fn new(config: StoreConfig) -> Result<Self> {
        // The scheme is checked by the transport.
        let (base, url_credential) = split_credentials(config.url.trim_end_matches('/'))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|e| Error::Config(format!("header name {name:?}: {e}")))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|e| Error::Config(format!("header {name} value: {e}")))?;
            headers.insert(name, value);
        }
        let tls = if base.starts_with("https://") {
            let client_cert = config
                .client_cert
                .as_ref()
                .map(|(c, k)| (c.as_path(), k.as_path()));
            Some(tls::client_config(config.ca_file.as_deref(), client_cert)?)
        } else {
            None
        };
        let transport = Transport::new(&base, tls, config.connect_timeout)?;
        let configured = [
            config.basic_auth.is_some(),
            config.bearer_token_file.is_some(),
            url_credential.is_some(),
        ];
        if configured.into_iter().filter(|&given| given).count() > 1 {
            return Err(Error::Config(
                "choose one of a bearer token, basic auth or credentials in the URL: a request carries one Authorization header".to_owned(),
            ));
        }
        let posted = POSTED_PATHS
            .into_iter()
            .map(|path| Ok((path, target(&transport, path)?)))
            .collect::<Result<_>>()?;
        let store = HttpStore {
            posted,
            transport,
            headers,
            base,
            method: config.method,
            config,
            credential: Mutex::new(None),
            url_credential,
        };
        store.credential()?;
        Ok(store)
    }

    /// The base URL the store is reached at.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The `Authorization` header value from the token or password file, re-read at most once
    /// a minute so rotated secrets are picked up without a disk read on every request.
    fn credential(&self) -> Result<Option<HeaderValue>> {
        let read = || -> Result<String> {
            match (&self.config.bearer_token_file, &self.config.basic_auth) {
                (Some(path), _) => Ok(format!("Bearer {}", read_secret(path)?)),
                (None, Some(auth)) => Ok(basic(&auth.username, &read_secret(&auth.password_file)?)),
                (None, None) => Ok(String::new()),
            }
        };
        if self.config.bearer_token_file.is_none() && self.config.basic_auth.is_none() {
            return Ok(self.url_credential.clone());
        }
        let mut cached = self
            .credential
            .lock()
            .map_err(|_| Error::Config("credential cache poisoned".to_owned()))?;
        if let Some((read_at, value)) = cached.as_ref()
            && read_at.elapsed() < CREDENTIAL_REFRESH
        {
            return Ok(Some(value.clone()));
        }
        let mut value = HeaderValue::try_from(read()?).map_err(|_| {
            Error::Config(
                "the token or password contains characters a header cannot carry".to_owned(),
            )
        })?;
        value.set_sensitive(true);
        *cached = Some((Instant::now(), value.clone()));
        Ok(Some(value))
    }

    /// Sends one API call with the configured method; returns the HTTP status and body.
    async fn call(
        &self,
        path: &str,
        form: String,
        deadline: Duration,
    ) -> Result<(u16, bytes::Bytes)> {
        self.call_with(self.method, path, form, deadline).await
    }

    /// As [`HttpStore::call`] with an explicit method (`/api/v1/metadata` answers GET only);
    /// `form` holds the call's parameters, URL-encoded ([`form`]).
    async fn call_with(
        &self,
        method: QueryMethod,
        path: &str,
        mut form: String,
        deadline: Duration,
    ) -> Result<(u16, bytes::Bytes)> {
        // The store stops working on the query when our caller stops waiting for it.
        // Digits and `ms` need no encoding.
        let separator = if form.is_empty() { "" } else { "&" };
        let _ = write!(form, "{separator}timeout={}ms", deadline.as_millis().max(1));
        let mut request = match method {
            QueryMethod::Post => {
                let mut request = Request::new(form);
                *request.method_mut() = Method::POST;
                *request.uri_mut() = match self.posted.iter().find(|(posted, _)| *posted == path) {
                    Some((_, parsed)) => parsed.clone(),
                    None => target(&self.transport, path)?,
                };
                request.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                request
            }
            QueryMethod::Get => {
                let mut request = Request::new(String::new());
                *request.uri_mut() = target(&self.transport, &format!("{path}?{form}"))?;
                request
            }
        };
        let headers = request.headers_mut();
        if let Some(credential) = self.credential()? {
            headers.insert(AUTHORIZATION, credential);
        }
        // Configured headers fill in what the request does not set itself (its framing, its
        // credential), as reqwest's default headers did.
        for (name, value) in &self.headers {
            if !headers.contains_key(name) {
                headers.insert(name, value.clone());
            }
        }
        let (status, body) = tokio::time::timeout(deadline, self.transport.send(request))
            .await
            .map_err(|_| Error::Timeout { deadline })??;
        tracing::trace!(path, status, bytes = body.len(), "store answered");
        Ok((status, body))
    }
}

/// A timeout or outage reported in the store's answer knows neither the deadline nor the URL;
/// fill in the caller's.
fn with_context<T>(result: Result<T>, deadline: Duration, url: &str) -> Result<T> {
    result.map_err(|error| match error {
        Error::Timeout { .. } => Error::Timeout { deadline },
        Error::Unavailable { reason, .. } => Error::Unavailable {
            url: url.to_owned(),
            reason,
        },
        other => other,
    })
}

/// `pairs` URL-encoded as a form, in one string with room for the `timeout` added last.
fn form<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut form = form_urlencoded::Serializer::new(String::with_capacity(128));
    form.extend_pairs(pairs);
    form.finish()
}

/// The form of an `/api/v1/series` call: each selector as `match[]`, and the range.
fn series_params(matchers: &[String], range: TimeRange) -> String {
    let (start, end) = (seconds(range.start), seconds(range.end));
    form(
        matchers
            .iter()
            .map(|m| ("match[]", m.as_str()))
            .chain([("start", start.as_str()), ("end", end.as_str())]),
    )
}

/// The form of an instant query: the PromQL, and the evaluation time unless it is the store's now.
fn instant_params(query: &str, at: Option<Timestamp>) -> String {
    let at = at.map(seconds);
    form(std::iter::once(("query", query)).chain(at.as_deref().map(|at| ("time", at))))
}

impl MetricsStore for HttpStore {
    async fn series(
        &self,
        matchers: &[String],
        range: TimeRange,
        deadline: Duration,
    ) -> Result<Vec<Labels>> {
        let (status, body) = self
            .call("/api/v1/series", series_params(matchers, range), deadline)
            .await?;
        with_context(response::series(status, &body), deadline, &self.base)
    }

    async fn metric_names(
        &self,
        matchers: &[String],
        range: TimeRange,
        deadline: Duration,
    ) -> Result<Vec<String>> {
        let params = series_params(matchers, range);
        let (status, body) = self
            .call_with(
                QueryMethod::Get,
                "/api/v1/label/__name__/values",
                params,
                deadline,
            )
            .await?;
        with_context(response::label_values(status, &body), deadline, &self.base)
    }

    async fn metric_types(
        &self,
        deadline: Duration,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        let (status, body) = self
            .call_with(
                QueryMethod::Get,
                "/api/v1/metadata",
                String::new(),
                deadline,
            )
            .await?;
        with_context(response::metric_types(status, &body), deadline, &self.base)
    }

    async fn series_shapes(
        &self,
        matchers: &[String],
        range: TimeRange,
        deadline: Duration,
    ) -> Result<Vec<Labels>> {
        let (status, body) = self
            .call("/api/v1/series", series_params(matchers, range), deadline)
            .await?;
        with_context(response::series_shapes(status, &body), deadline, &self.base)
    }

    async fn instant_query(
        &self,
        query: &str,
        at: Option<Timestamp>,
        deadline: Duration,
    ) -> Result<Vec<Sample>> {
        let (status, body) = self
            .call("/api/v1/query", instant_params(query, at), deadline)
            .await?;
        with_context(response::instant(status, &body), deadline, &self.base)
    }

    async fn instant_query_by(
        &self,
        query: &str,
        label: &str,
        at: Option<Timestamp>,
        deadline: Duration,
    ) -> Result<Arc<KeyedSamples>> {
        let (status, body) = self
            .call("/api/v1/query", instant_params(query, at), deadline)
            .await?;
        with_context(
            response::instant_by(status, &body, label),
            deadline,
            &self.base,
        )
        .map(Arc::new)
    }

    async fn range_query(
        &self,
        query: &str,
        range: TimeRange,
        step: Duration,
        deadline: Duration,
    ) -> Result<Vec<RangeSeries>> {
        let (start, end) = (seconds(range.start), seconds(range.end));
        let step = format!("{}ms", step.as_millis().max(1));
        let params = form([
            ("query", query),
            ("start", &start),
            ("end", &end),
            ("step", &step),
        ]);
        let (status, body) = self.call("/api/v1/query_range", params, deadline).await?;
        with_context(response::range(status, &body), deadline, &self.base)
    }
}
