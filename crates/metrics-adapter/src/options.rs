//! The command line of `sextant-adapter`, with the flag names k8s.io/apiserver gives them, so
//! manifests written for other aggregated API servers carry over. Flags accept `--flag=value`
//! and `--flag value`; durations are Go style (`500ms`, `30s`, `2m`, `1m30s`).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use metrics_store::{BasicAuth, QueryMethod, StoreConfig};

use crate::registry::LOOKBACK;

/// Every flag of `sextant-adapter`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "sextant-adapter",
    version,
    about = "Serves custom.metrics.k8s.io and external.metrics.k8s.io from a Prometheus-compatible store."
)]
pub struct Options {
    /// The command prometheus-adapter's Helm chart puts first in `args` (`/adapter`): with
    /// this image's entrypoint it arrives as an argument; accepted (with a warning) only as a
    /// path to a file named `adapter` or `sextant-adapter`.
    #[arg(hide = true, value_name = "COMMAND")]
    pub leading_command: Option<PathBuf>,

    /// The port to serve HTTPS on.
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,

    /// The address to listen on; `0.0.0.0` (the default) or `::` listens on every interface,
    /// IPv4 and IPv6 alike, as k8s.io/apiserver does.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,

    /// The server's certificate (PEM, leaf first); a self-signed one is generated when absent.
    #[arg(long, requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,

    /// The server certificate's private key (PEM).
    #[arg(long, requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,

    /// The lowest TLS version served: `VersionTLS12` (default) or `VersionTLS13`
    /// (k8s.io/apiserver's names; `VersionTLS10`/`11` are taken as 1.2, the lowest offered).
    #[arg(long)]
    pub tls_min_version: Option<String>,

    /// The TLS 1.2 cipher suites allowed (comma list of IANA names, as kube-apiserver takes
    /// them; TLS 1.3 suites are always offered); every suite offered when absent.
    #[arg(long, value_delimiter = ',')]
    pub tls_cipher_suites: Vec<String>,

    /// Without the two flags above: serve `apiserver.crt`/`apiserver.key` from this directory,
    /// generating a self-signed pair there if they cannot be read (k8s.io/apiserver's flag).
    #[arg(long)]
    pub cert_dir: Option<PathBuf>,

    /// CA bundle authenticating plain client certificates (CN = user, O = groups); else the
    /// ConfigMap's `client-ca-file`.
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,

    /// CA bundle authenticating front-proxy (aggregator) client certificates; else the
    /// ConfigMap's `requestheader-*` keys replace all the `--requestheader-*` flags.
    #[arg(long)]
    pub requestheader_client_ca_file: Option<PathBuf>,

    /// CNs allowed as front proxy (comma list); empty = any CN the front-proxy CA signed.
    #[arg(long, value_delimiter = ',')]
    pub requestheader_allowed_names: Vec<String>,

    /// Request headers naming the user (comma list); the first present wins.
    #[arg(long, value_delimiter = ',', default_value = "X-Remote-User")]
    pub requestheader_username_headers: Vec<String>,

    /// Request headers naming the user's groups (comma list).
    #[arg(long, value_delimiter = ',', default_value = "X-Remote-Group")]
    pub requestheader_group_headers: Vec<String>,

    /// Request headers naming the user's UID (comma list; none by default, as in
    /// k8s.io/apiserver; `X-Remote-Uid` is what kube-apiserver's aggregator sends).
    #[arg(long, value_delimiter = ',')]
    pub requestheader_uid_headers: Vec<String>,

    /// Prefixes of request headers carrying extra user attributes (comma list).
    #[arg(long, value_delimiter = ',', default_value = "X-Remote-Extra-")]
    pub requestheader_extra_headers_prefix: Vec<String>,

    /// Allow every authenticated request, making no SubjectAccessReview (local use only).
    #[arg(long)]
    pub authorization_always_allow: bool,

    /// The kubeconfig for SubjectAccessReviews, TokenReviews, the label caches and the
    /// `extension-apiserver-authentication` ConfigMap; else `KUBECONFIG`, else in-cluster
    /// (prometheus-adapter's `--lister-kubeconfig` is accepted as another name for it).
    #[arg(long, alias = "lister-kubeconfig")]
    pub kubeconfig: Option<PathBuf>,

    /// The store's base URL, e.g. `http://prometheus.monitoring:9090`.
    #[arg(long)]
    pub prometheus_url: String,

    /// A bearer token file sent to the store (re-read at most once a minute: projected tokens rotate).
    #[arg(long)]
    pub prometheus_token_file: Option<PathBuf>,

    /// A user name for HTTP basic authentication to the store.
    #[arg(long, requires = "prometheus_basic_auth_password_file")]
    pub prometheus_basic_auth_username: Option<String>,

    /// The file holding the basic-authentication password.
    #[arg(long, requires = "prometheus_basic_auth_username")]
    pub prometheus_basic_auth_password_file: Option<PathBuf>,

    /// A CA bundle (PEM) for an https store, instead of the system roots.
    #[arg(long)]
    pub prometheus_ca_file: Option<PathBuf>,

    /// A client certificate (PEM) presented to the store (prometheus-adapter's
    /// `--prometheus-client-tls-cert-file` is another name for it).
    #[arg(
        long,
        requires = "prometheus_client_key",
        alias = "prometheus-client-tls-cert-file"
    )]
    pub prometheus_client_cert: Option<PathBuf>,

    /// The client certificate's key (PEM; prometheus-adapter's
    /// `--prometheus-client-tls-key-file`).
    #[arg(
        long,
        requires = "prometheus_client_cert",
        alias = "prometheus-client-tls-key-file"
    )]
    pub prometheus_client_key: Option<PathBuf>,

    /// Authenticate to the store as this pod's service account (its token and the cluster CA,
    /// unless `--prometheus-token-file` or `--prometheus-ca-file` say otherwise), as
    /// prometheus-adapter's flag of the same name does. A Go-style boolean: bare, or `=true`.
    #[arg(
        long,
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub prometheus_auth_incluster: bool,

    /// prometheus-adapter's kubeconfig for the store's credentials: not supported; present only
    /// to be refused with a message naming the flags to use instead.
    #[arg(long, hide = true)]
    pub prometheus_auth_config: Option<PathBuf>,

    /// An extra header sent to the store, `Name=value` (repeatable; e.g. `X-Scope-OrgID=team`).
    #[arg(long = "prometheus-header", value_parser = parse_header)]
    pub prometheus_headers: Vec<(String, String)>,

    /// The HTTP method of queries: POST (the default; long selectors stay out of URLs) or GET.
    #[arg(long, default_value = "POST", value_parser = parse_method)]
    pub prometheus_verb: QueryMethod,

    /// A prometheus-adapter rules file; the default rules when absent.
    #[arg(long)]
    pub config: Option<PathBuf>,

    /// The rate window of the default rules' counters, `2m` when absent (prometheus-adapter's
    /// config generator calls it `--rate-interval` too); a `--config` file's rules carry their
    /// own windows in their `metricsQuery`.
    #[arg(long, value_parser = parse_duration)]
    pub rate_interval: Option<Duration>,

    /// How often every rule's series are relisted.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub metrics_relist_interval: Duration,

    /// How far back a relist looks for series: a metric without a sample in this span is not
    /// served (prometheus-adapter's flag; default 10m here). Not shorter than the relist interval.
    #[arg(long, value_parser = parse_duration)]
    pub metrics_max_age: Option<Duration>,

    /// Log verbosity as klog counts it (`--v=4`, `-v 4`): the adapter's own logs at 0–3 info,
    /// 4–5 debug, 6 and up trace; its libraries' at info. `RUST_LOG`, when set, wins.
    #[arg(short = 'v', long = "v", value_name = "LEVEL", default_value_t = 0)]
    pub verbosity: u32,

    /// Accepted for manifests written for klog (a Go-style boolean: bare, or `=true`); logs
    /// always go to stderr.
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_go_bool
    )]
    pub logtostderr: Option<bool>,

    /// The store deadline of each request (and of each relist).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub query_timeout: Duration,

    /// After SIGTERM, how long to keep serving with `/readyz` failing before the listener
    /// closes, covering the time a deleted pod's endpoint removal takes to reach its clients
    /// (k8s.io/apiserver's flag of the same name).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub shutdown_delay_duration: Duration,
}

/// Where a pod's service account token is mounted.
pub const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Where the cluster's CA bundle is mounted beside the token.
pub const SERVICE_ACCOUNT_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/// The longest `--query-timeout` taken: no client of the metrics APIs waits longer (the HPA's
/// own requests time out within a minute), and deadlines stay far from `Instant` overflow.
pub const MAX_QUERY_TIMEOUT: Duration = Duration::from_secs(3_600);

impl Options {
    /// What no single flag's parser can judge: combinations, and prometheus-adapter flags this
    /// adapter does not support. `Err` names the flag and says what to use instead.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(command) = &self.leading_command {
            let name = command.file_name().and_then(|name| name.to_str());
            if !matches!(name, Some("adapter" | "sextant-adapter")) {
                return Err((
                    "arguments",
                    format!(
                        "unexpected argument {:?}: only flags are taken (a leading /adapter, \
                         as prometheus-adapter's Helm chart passes it, is ignored)",
                        command.display().to_string()
                    ),
                ));
            }
        }
        if self.prometheus_auth_incluster && self.prometheus_basic_auth_username.is_some() {
            return Err((
                "--prometheus-auth-incluster",
                "sends the service account's token, which cannot go with \
                 --prometheus-basic-auth-username; choose one"
                    .to_owned(),
            ));
        }
        if self.prometheus_auth_config.is_some() {
            return Err((
                "--prometheus-auth-config",
                "a kubeconfig for the store's credentials is not supported; give them with \
                 --prometheus-token-file, --prometheus-ca-file, --prometheus-client-cert and \
                 --prometheus-client-key (or --prometheus-auth-incluster for the pod's service \
                 account)"
                    .to_owned(),
            ));
        }
        if self
            .rate_interval
            .is_some_and(|window| window < Duration::from_secs(1))
        {
            return Err((
                "--rate-interval",
                "must be at least 1s (a rate needs two samples within it)".to_owned(),
            ));
        }
        if self.metrics_relist_interval < Duration::from_secs(1) {
            return Err((
                "--metrics-relist-interval",
                format!(
                    "{:?} is too short: at least 1s (every relist lists every rule's series)",
                    self.metrics_relist_interval
                ),
            ));
        }
        if self.query_timeout.is_zero() || self.query_timeout > MAX_QUERY_TIMEOUT {
            return Err((
                "--query-timeout",
                format!(
                    "{:?} is out of range: longer than 0s (every query would time out) and at                      most 1h (no client waits longer)",
                    self.query_timeout
                ),
            ));
        }
        if let Some(max_age) = self.metrics_max_age
            && max_age < self.metrics_relist_interval
        {
            return Err((
                "--metrics-max-age",
                format!(
                    "{max_age:?} is shorter than --metrics-relist-interval ({:?}): a relist \
                     would miss series that a slower one had",
                    self.metrics_relist_interval
                ),
            ));
        }
        Ok(())
    }

    /// The `tracing` filter the binary logs with when `RUST_LOG` is not set, from `--v`: like
    /// klog's, it raises the adapter's own verbosity, not its libraries' (TLS, HTTP, kube).
    pub fn log_filter(&self) -> &'static str {
        match self.verbosity {
            0..=3 => "info",
            4..=5 => "info,metrics_adapter=debug,metrics_store=debug,sextant_adapter=debug",
            _ => "info,metrics_adapter=trace,metrics_store=trace,sextant_adapter=trace",
        }
    }

    /// How far back relists look for series: `--metrics-max-age`, else the default
    /// [`LOOKBACK`] or the relist interval, whichever is longer (a relist must see at least
    /// what was written since the previous one; prometheus-adapter defaults to the interval).
    pub fn lookback(&self) -> Duration {
        self.metrics_max_age
            .unwrap_or_else(|| LOOKBACK.max(self.metrics_relist_interval))
    }

    /// How to reach the store, from the `--prometheus-*` flags.
    pub fn store_config(&self) -> StoreConfig {
        let mut config = StoreConfig::new(&self.prometheus_url);
        let in_cluster = |path: &str| self.prometheus_auth_incluster.then(|| PathBuf::from(path));
        config.bearer_token_file = self
            .prometheus_token_file
            .clone()
            .or_else(|| in_cluster(SERVICE_ACCOUNT_TOKEN));
        config.basic_auth = self
            .prometheus_basic_auth_username
            .clone()
            .zip(self.prometheus_basic_auth_password_file.clone())
            .map(|(username, password_file)| BasicAuth {
                username,
                password_file,
            });
        config.ca_file = self
            .prometheus_ca_file
            .clone()
            .or_else(|| in_cluster(SERVICE_ACCOUNT_CA));
        config.client_cert = self
            .prometheus_client_cert
            .clone()
            .zip(self.prometheus_client_key.clone());
        config.headers = self.prometheus_headers.clone();
        config.method = self.prometheus_verb;
        config
    }
}

/// Parses `Name=value` (or `Name: value`) into a header.
fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .or_else(|| text.split_once(':'))
        .ok_or_else(|| format!("{text:?} is not a header such as X-Scope-OrgID=team"))?;
    let name = name.trim();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!("{name:?} is not an HTTP header name"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// Parses a boolean as Go's `strconv.ParseBool` does (`1`, `t`, `T`, `TRUE`, `true`, `True`, and
/// their false counterparts), so values written for pflag carry over.
fn parse_go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("{text:?} is not a boolean (true or false)")),
    }
}

/// Parses `GET` or `POST` (any case).
fn parse_method(text: &str) -> Result<QueryMethod, String> {
    match text.to_ascii_uppercase().as_str() {
        "GET" => Ok(QueryMethod::Get),
        "POST" => Ok(QueryMethod::Post),
        _ => Err(format!("{text:?} is neither GET nor POST")),
    }
}

/// Parses a Go-style duration: one or more `<number><unit>` with units `ms`, `s`, `m`, `h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration such as 500ms, 30s, 2m or 1m30s");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    // Go's `time.ParseDuration` takes a bare zero without a unit, and only zero.
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, tail) = rest.split_at(split);
        let number: f64 = number.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let seconds = match unit {
            "ms" => number / 1000.0,
            "s" => number,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            _ => return Err(bad()),
        };
        total += Duration::try_from_secs_f64(seconds).map_err(|_| bad())?;
        rest = tail;
    }
    Ok(total)
}

/// The options of `extra` flags besides a store URL, for unit tests of what reads them.
#[cfg(test)]
pub(crate) fn for_tests(extra: &[String]) -> Options {
    let mut args = vec![
        "sextant-adapter".to_owned(),
        "--prometheus-url=http://127.0.0.1:1".to_owned(),
    ];
    args.extend_from_slice(extra);
    match Options::try_parse_from(args) {
        Ok(options) => options,
        Err(error) => panic!("test flags {extra:?}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("30").is_err());
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("3d").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn both_flag_spellings_and_defaults() {
        let options = Options::try_parse_from([
            "sextant-adapter",
            "--prometheus-url=http://p:9090",
            "--secure-port",
            "8443",
            "--requestheader-allowed-names=a,b",
            "--authorization-always-allow",
            "--metrics-relist-interval",
            "1m",
        ])
        .unwrap();
        assert_eq!(options.secure_port, 8443);
        assert_eq!(options.requestheader_allowed_names, ["a", "b"]);
        assert_eq!(options.requestheader_username_headers, ["X-Remote-User"]);
        assert!(options.requestheader_uid_headers.is_empty());
        assert_eq!(options.metrics_relist_interval, Duration::from_secs(60));
        assert_eq!(options.query_timeout, Duration::from_secs(10));
        assert!(options.authorization_always_allow);
        assert!(Options::try_parse_from(["sextant-adapter"]).is_err());
    }

    #[test]
    fn store_flags_become_the_store_configuration() {
        let options = Options::try_parse_from([
            "sextant-adapter",
            "--prometheus-url=https://mimir:8080/prometheus",
            "--prometheus-token-file=/var/run/token",
            "--prometheus-header=X-Scope-OrgID=team-a",
            "--prometheus-header",
            "X-Extra: 1",
            "--prometheus-verb=get",
            "--prometheus-ca-file=/ca.pem",
            "--prometheus-basic-auth-username=u",
            "--prometheus-basic-auth-password-file=/p",
        ])
        .unwrap();
        let config = options.store_config();
        assert_eq!(config.url, "https://mimir:8080/prometheus");
        assert_eq!(
            config.bearer_token_file.as_deref(),
            Some(std::path::Path::new("/var/run/token"))
        );
        assert_eq!(
            config.headers,
            [
                ("X-Scope-OrgID".to_owned(), "team-a".to_owned()),
                ("X-Extra".to_owned(), "1".to_owned())
            ]
        );
        assert_eq!(config.method, QueryMethod::Get);
        assert_eq!(config.basic_auth.map(|b| b.username).as_deref(), Some("u"));
        assert!(config.client_cert.is_none());
        let default = Options::try_parse_from(["sextant-adapter", "--prometheus-url=http://p"]);
        assert_eq!(default.unwrap().store_config().method, QueryMethod::Post);
        for bad in [
            "--prometheus-verb=PUT",
            "--prometheus-header=novalue",
            "--prometheus-client-cert=/only-cert.pem",
        ] {
            assert!(
                Options::try_parse_from(["sextant-adapter", "--prometheus-url=http://p", bad])
                    .is_err(),
                "{bad} should be refused"
            );
        }
    }

    /// The arguments prometheus-adapter's Helm chart and kube-prometheus pass.
    #[test]
    fn prometheus_adapter_manifests_parse_with_the_same_meaning() {
        let options = Options::try_parse_from([
            "sextant-adapter",
            "--secure-port=6443",
            "--cert-dir=/tmp/cert",
            "--prometheus-url=http://prometheus.monitoring.svc:9090/",
            "--metrics-relist-interval=1m",
            "--metrics-max-age=5m",
            "--v=4",
            "--logtostderr=true",
            "--config=/etc/adapter/config.yaml",
            "--lister-kubeconfig=/etc/kube/config",
            "--prometheus-client-tls-cert-file=/c.pem",
            "--prometheus-client-tls-key-file=/k.pem",
        ])
        .unwrap();
        assert_eq!(
            options.cert_dir.as_deref(),
            Some(std::path::Path::new("/tmp/cert"))
        );
        assert_eq!(options.metrics_max_age, Some(Duration::from_secs(300)));
        assert_eq!(
            options.log_filter(),
            "info,metrics_adapter=debug,metrics_store=debug,sextant_adapter=debug"
        );
        assert_eq!(options.logtostderr, Some(true));
        assert_eq!(
            options.kubeconfig.as_deref(),
            Some(std::path::Path::new("/etc/kube/config"))
        );
        let client_cert = options.store_config().client_cert.unwrap();
        assert_eq!(client_cert.0, std::path::Path::new("/c.pem"));
        assert_eq!(client_cert.1, std::path::Path::new("/k.pem"));
        assert_eq!(options.check(), Ok(()));

        let bare = for_tests(&["-v".to_owned(), "6".to_owned(), "--logtostderr".to_owned()]);
        assert!(bare.log_filter().contains("metrics_adapter=trace"));
        assert_eq!(bare.logtostderr, Some(true));
        // A bare boolean never takes the next argument as its value, as with pflag.
        let followed = for_tests(&["--logtostderr".to_owned(), "--v=4".to_owned()]);
        assert_eq!((followed.logtostderr, followed.verbosity), (Some(true), 4));
        for (spelling, value) in [
            ("=false", false),
            ("=F", false),
            ("=1", true),
            ("=True", true),
        ] {
            let options = for_tests(&[format!("--logtostderr{spelling}")]);
            assert_eq!(options.logtostderr, Some(value), "--logtostderr{spelling}");
            let options = for_tests(&[format!("--prometheus-auth-incluster{spelling}")]);
            assert_eq!(options.prometheus_auth_incluster, value);
        }
        assert!(!for_tests(&[]).prometheus_auth_incluster);
        // The Helm chart's leading /adapter is taken and ignored; any other argument is not.
        let chart = for_tests(&["/adapter".to_owned()]);
        assert_eq!(chart.check(), Ok(()));
        assert_eq!(
            for_tests(&["config.yaml".to_owned()])
                .check()
                .unwrap_err()
                .0,
            "arguments"
        );
        assert_eq!(for_tests(&[]).log_filter(), "info");
        assert_eq!(for_tests(&["--v=3".to_owned()]).log_filter(), "info");
        // One connection: --lister-kubeconfig is --kubeconfig, so both at once is a conflict.
        assert!(
            Options::try_parse_from([
                "sextant-adapter",
                "--prometheus-url=http://p",
                "--kubeconfig=/a",
                "--lister-kubeconfig=/b",
            ])
            .is_err()
        );
    }

    #[test]
    fn what_prometheus_adapter_allows_and_this_adapter_does_not_is_refused_by_name() {
        let auth_config = for_tests(&["--prometheus-auth-config=/etc/prom/kubeconfig".to_owned()]);
        let (flag, reason) = auth_config.check().unwrap_err();
        assert_eq!(flag, "--prometheus-auth-config");
        assert!(reason.contains("--prometheus-token-file"), "{reason}");

        let short_age = for_tests(&[
            "--metrics-relist-interval=1m".to_owned(),
            "--metrics-max-age=30s".to_owned(),
        ]);
        assert_eq!(short_age.check().unwrap_err().0, "--metrics-max-age");

        // A zero relist interval would stop relisting (and readiness); zero query time,
        // every answer.
        for (flag, value) in [
            ("--metrics-relist-interval", "0s"),
            ("--metrics-relist-interval", "500ms"),
            ("--query-timeout", "0"),
            ("--query-timeout", "61m"),
        ] {
            let options = for_tests(&[format!("{flag}={value}")]);
            assert_eq!(options.check().unwrap_err().0, flag, "{value}");
        }
        assert_eq!(
            for_tests(&["--metrics-relist-interval=1s".to_owned()]).check(),
            Ok(())
        );
        assert_eq!(
            for_tests(&["--query-timeout=1h".to_owned()]).check(),
            Ok(())
        );

        let instant = for_tests(&["--rate-interval=500ms".to_owned()]);
        assert_eq!(instant.check().unwrap_err().0, "--rate-interval");
        assert_eq!(
            for_tests(&["--rate-interval=5m".to_owned()]).check(),
            Ok(())
        );

        let both = for_tests(&[
            "--prometheus-auth-incluster".to_owned(),
            "--prometheus-basic-auth-username=u".to_owned(),
            "--prometheus-basic-auth-password-file=/p".to_owned(),
        ]);
        assert_eq!(both.check().unwrap_err().0, "--prometheus-auth-incluster");
    }

    #[test]
    fn the_look_back_is_the_flag_else_ten_minutes_or_the_relist_interval_if_longer() {
        assert_eq!(for_tests(&[]).lookback(), LOOKBACK);
        let slow = for_tests(&["--metrics-relist-interval=15m".to_owned()]);
        assert_eq!(slow.lookback(), Duration::from_secs(900));
        let set = for_tests(&["--metrics-max-age=2h".to_owned()]);
        assert_eq!(set.lookback(), Duration::from_secs(7_200));
    }

    #[test]
    fn in_cluster_store_auth_is_the_service_account_unless_a_flag_says_otherwise() {
        let config = for_tests(&["--prometheus-auth-incluster".to_owned()]).store_config();
        assert_eq!(
            config.bearer_token_file.as_deref(),
            Some(std::path::Path::new(SERVICE_ACCOUNT_TOKEN))
        );
        assert_eq!(
            config.ca_file.as_deref(),
            Some(std::path::Path::new(SERVICE_ACCOUNT_CA))
        );
        let explicit = for_tests(&[
            "--prometheus-auth-incluster".to_owned(),
            "--prometheus-token-file=/mine".to_owned(),
        ])
        .store_config();
        assert_eq!(
            explicit.bearer_token_file.as_deref(),
            Some(std::path::Path::new("/mine"))
        );
        let without = for_tests(&[]).store_config();
        assert!(without.bearer_token_file.is_none() && without.ca_file.is_none());
    }
}
