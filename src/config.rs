//! The one typed configuration tree of freightdrop, read in one place.
//!
//! Sources, strongest first: command-line flags, `FREIGHTDROP_*` environment variables (clap's
//! `env` feature), the TOML file named by `--config`, then the defaults here. Everything is
//! validated once, into `SocketAddr`, `PathBuf` and `Duration`; the rest of the program never sees
//! a raw string from these sources. This module knows nothing of the frontends that read it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use ipnet::IpNet;
use serde::Deserialize;

use crate::users::InboxFtpPlain;
mod mail;
mod replies;
pub use mail::{LmtpAddr, MailArgs, MailConfig};
pub use replies::{Relay, RelayTls, ReplyArgs, ReplyConfig};

/// A configuration value that could not be accepted, naming the key it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config` could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a value of the wrong type.
    #[error("config file {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's description, which names the key.
        message: String,
    },
    /// A value has the right type but is not acceptable.
    #[error("invalid value for `{key}`: {reason}")]
    Invalid {
        /// The key, as spelled on the command line (`--idle-timeout`).
        key: &'static str,
        /// Why the value is refused.
        reason: String,
    },
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The settings as given on the command line or in the environment; every field is optional so
/// the file and the defaults can fill what is not given.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// TOML configuration file; flags and environment variables override it.
    #[arg(long, env = "FREIGHTDROP_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder holding the homes, the SQLite database and the SSH host key [default: ./data].
    #[arg(long, env = "FREIGHTDROP_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://FILE or postgres://... [default: SQLite file in the data dir].
    #[arg(
        long,
        env = "FREIGHTDROP_DATABASE_URL",
        global = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// Address of the FTP/FTPS listener [default: 0.0.0.0:21].
    #[arg(long, env = "FREIGHTDROP_FTP_ADDR", global = true, value_name = "ADDR")]
    pub ftp_addr: Option<String>,
    /// Address of the SFTP listener [default: 0.0.0.0:2222].
    #[arg(
        long,
        env = "FREIGHTDROP_SFTP_ADDR",
        global = true,
        value_name = "ADDR"
    )]
    pub sftp_addr: Option<String>,
    /// Address of the backoffice HTTP listener [default: 0.0.0.0:8080].
    #[arg(
        long,
        env = "FREIGHTDROP_HTTP_ADDR",
        global = true,
        value_name = "ADDR"
    )]
    pub http_addr: Option<String>,
    /// Port range for FTP passive data connections, as FIRST-LAST [default: 50000-50100].
    #[arg(
        long,
        env = "FREIGHTDROP_PASSIVE_PORTS",
        global = true,
        value_name = "RANGE"
    )]
    pub passive_ports: Option<String>,
    /// Address advertised in PASV replies, for servers behind NAT [default: the control
    /// connection's local address].
    #[arg(
        long,
        env = "FREIGHTDROP_PASSIVE_HOST",
        global = true,
        value_name = "IP"
    )]
    pub passive_host: Option<String>,
    /// Reverse proxies in front of the backoffice, as addresses or CIDR ranges separated by
    /// commas; their X-Forwarded-For / -Proto / -Host headers are believed [default: none].
    #[arg(
        long,
        env = "FREIGHTDROP_HTTP_TRUSTED_PROXIES",
        global = true,
        value_name = "CIDRS"
    )]
    pub http_trusted_proxies: Option<String>,
    /// Seconds an HTTP client has, from its connection or its last answer, to send a whole
    /// request head; a trickled or half-sent head is closed then [default: 10].
    #[arg(
        long,
        env = "FREIGHTDROP_HTTP_HEADER_TIMEOUT",
        global = true,
        value_name = "SECONDS"
    )]
    pub http_header_timeout: Option<u64>,
    /// Seconds an HTTP connection may pass no byte either way (a stalled request body, a
    /// download the client stopped reading) before it is closed [default: 60].
    #[arg(
        long,
        env = "FREIGHTDROP_HTTP_IDLE_TIMEOUT",
        global = true,
        value_name = "SECONDS"
    )]
    pub http_idle_timeout: Option<u64>,
    /// Open HTTP connections, from every address [default: 512].
    #[arg(
        long,
        env = "FREIGHTDROP_HTTP_MAX_CONNECTIONS",
        global = true,
        value_name = "N"
    )]
    pub http_max_connections: Option<u32>,
    /// Open HTTP connections from one address (an IPv4 address or an IPv6 /64; trusted proxies
    /// are held only to the cap in all) [default: 64].
    #[arg(
        long,
        env = "FREIGHTDROP_HTTP_MAX_CONNECTIONS_PER_ADDRESS",
        global = true,
        value_name = "N"
    )]
    pub http_max_connections_per_address: Option<u32>,
    /// Open files kept free of every listener's connections, for the database, uploads and
    /// logs; the listeners' caps are lowered at start to fit the open-files limit less this
    /// [default: 128].
    #[arg(
        long,
        env = "FREIGHTDROP_OPEN_FILES_RESERVE",
        global = true,
        value_name = "N"
    )]
    pub open_files_reserve: Option<u32>,
    /// Seconds a session may sit idle before it is closed [default: 60].
    #[arg(
        long,
        env = "FREIGHTDROP_IDLE_TIMEOUT",
        global = true,
        value_name = "SECONDS"
    )]
    pub idle_timeout: Option<u64>,
    /// PEM certificate chain for FTPS [default: a self-signed one generated into the certs dir].
    #[arg(long, env = "FREIGHTDROP_TLS_CERT", global = true, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for FTPS (goes with --tls-cert).
    #[arg(long, env = "FREIGHTDROP_TLS_KEY", global = true, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Folder where the self-signed certificate is generated on first start [default: ./certs].
    #[arg(long, env = "FREIGHTDROP_CERTS_DIR", global = true, value_name = "DIR")]
    pub certs_dir: Option<PathBuf>,
    /// File holding the 32-byte key that encrypts the track & trace API secrets at rest
    /// [default: secrets.key in the data dir, generated on first use].
    #[arg(
        long,
        env = "FREIGHTDROP_SECRETS_KEY_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub secrets_key_file: Option<PathBuf>,
    /// Log format [default: human].
    #[arg(long, env = "FREIGHTDROP_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Most sessions at once, FTP and SFTP together [default: 500].
    #[arg(
        long,
        env = "FREIGHTDROP_MAX_SESSIONS",
        global = true,
        value_name = "N"
    )]
    pub max_sessions: Option<u32>,
    /// Most sessions at once for one user, FTP and SFTP together [default: 10].
    #[arg(
        long,
        env = "FREIGHTDROP_MAX_SESSIONS_PER_USER",
        global = true,
        value_name = "N"
    )]
    pub max_sessions_per_user: Option<u32>,
    /// Connections not yet logged in, FTP and SFTP together, from every address [default: 512].
    #[arg(
        long,
        env = "FREIGHTDROP_MAX_UNAUTHENTICATED",
        global = true,
        value_name = "N"
    )]
    pub max_unauthenticated: Option<u32>,
    /// Connections not yet logged in from one address (an IPv4 address or an IPv6 /64), FTP and
    /// SFTP together [default: 64].
    #[arg(
        long,
        env = "FREIGHTDROP_MAX_UNAUTHENTICATED_PER_ADDRESS",
        global = true,
        value_name = "N"
    )]
    pub max_unauthenticated_per_address: Option<u32>,
    /// SSH handshakes one address (an IPv4 address or an IPv6 /64) may start per second, twice
    /// that many at once; a new connection past it waits before the key exchange [default: 10].
    #[arg(
        long,
        env = "FREIGHTDROP_SSH_HANDSHAKES_PER_SECOND",
        global = true,
        value_name = "N"
    )]
    pub ssh_handshakes_per_second: Option<u32>,
    /// Seconds a new connection has to log in before it is closed [default: 30].
    #[arg(
        long,
        env = "FREIGHTDROP_LOGIN_TIMEOUT",
        global = true,
        value_name = "SECONDS"
    )]
    pub login_timeout: Option<u64>,
    /// Failed logins from one address, within the window, that block it [default: 5].
    #[arg(
        long,
        env = "FREIGHTDROP_LOGIN_MAX_FAILURES",
        global = true,
        value_name = "N"
    )]
    pub login_max_failures: Option<u32>,
    /// Seconds over which failed logins are counted [default: 300].
    #[arg(
        long,
        env = "FREIGHTDROP_LOGIN_FAILURE_WINDOW",
        global = true,
        value_name = "SECONDS"
    )]
    pub login_failure_window: Option<u64>,
    /// Seconds an address stays blocked [default: 900].
    #[arg(
        long,
        env = "FREIGHTDROP_LOGIN_BLOCK",
        global = true,
        value_name = "SECONDS"
    )]
    pub login_block: Option<u64>,
    /// Well-signed track & trace requests of one API user for unknown shipments or with wrong
    /// postcodes, within the login failure window, that block that API user for the login block
    /// time [default: 50].
    #[arg(
        long,
        env = "FREIGHTDROP_TRACKING_MAX_MISSES",
        global = true,
        value_name = "N"
    )]
    pub tracking_max_misses: Option<u32>,
    /// Seconds running transfers get to finish on shutdown [default: 30].
    #[arg(
        long,
        env = "FREIGHTDROP_SHUTDOWN_GRACE",
        global = true,
        value_name = "SECONDS"
    )]
    pub shutdown_grace: Option<u64>,
    /// Free bytes of the data dir's file system under which `/healthz` reports the disk as
    /// degraded [default: 1073741824].
    #[arg(
        long,
        env = "FREIGHTDROP_MIN_FREE_SPACE",
        global = true,
        value_name = "BYTES"
    )]
    pub min_free_space: Option<u64>,
    /// Inbox files processed at once [default: the number of cores, 2 to 8].
    #[arg(
        long,
        env = "FREIGHTDROP_INBOX_WORKERS",
        global = true,
        value_name = "N"
    )]
    pub inbox_workers: Option<u32>,
    /// Inbox files bigger than this are rejected unread, to error/ [default: 536870912].
    #[arg(
        long,
        env = "FREIGHTDROP_INBOX_MAX_FILE_SIZE",
        global = true,
        value_name = "BYTES"
    )]
    pub inbox_max_file_size: Option<u64>,
    /// Memory one inbox file read whole may take (counted as it is read; XLSX and ODS by what
    /// they unpack to); a file over it goes to error/ [default: 536870912].
    #[arg(
        long,
        env = "FREIGHTDROP_INBOX_MAX_MEMORY",
        global = true,
        value_name = "BYTES"
    )]
    pub inbox_max_memory: Option<u64>,
    /// Seconds reading and parsing one inbox file may take before it goes to error/ [default: 300].
    #[arg(
        long,
        env = "FREIGHTDROP_INBOX_FILE_TIMEOUT",
        global = true,
        value_name = "SECONDS"
    )]
    pub inbox_file_timeout: Option<u64>,
    /// Seconds a file found by a scan or a change event must stay unchanged before it is read
    /// [default: 2].
    #[arg(
        long,
        env = "FREIGHTDROP_INBOX_SETTLE",
        global = true,
        value_name = "SECONDS"
    )]
    pub inbox_settle: Option<u64>,
    /// Seconds between rescans of every inbox, for events that were lost [default: 30].
    #[arg(
        long,
        env = "FREIGHTDROP_INBOX_RESCAN",
        global = true,
        value_name = "SECONDS"
    )]
    pub inbox_rescan: Option<u64>,
    /// How plain-FTP uploads into a partner's inbox are treated, for accounts without their own
    /// setting: accept, require-rename (upload under a temporary name such as `x.csv.part`,
    /// then rename) or refuse (FTPS or SFTP only) [default: require-rename].
    #[arg(
        long,
        env = "FREIGHTDROP_INBOX_FTP_PLAIN",
        global = true,
        value_name = "POLICY"
    )]
    pub inbox_ftp_plain: Option<String>,
    /// The mail channel's flags.
    #[command(flatten)]
    pub mail: MailArgs,
}

/// The TOML file's shape: the same keys as the flags, with `_` for `-`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    ftp_addr: Option<String>,
    sftp_addr: Option<String>,
    http_addr: Option<String>,
    passive_ports: Option<String>,
    passive_host: Option<String>,
    http_trusted_proxies: Option<String>,
    http_header_timeout: Option<u64>,
    http_idle_timeout: Option<u64>,
    http_max_connections: Option<u32>,
    http_max_connections_per_address: Option<u32>,
    open_files_reserve: Option<u32>,
    idle_timeout: Option<u64>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    certs_dir: Option<PathBuf>,
    secrets_key_file: Option<PathBuf>,
    log_format: Option<LogFormat>,
    max_sessions: Option<u32>,
    max_sessions_per_user: Option<u32>,
    max_unauthenticated: Option<u32>,
    max_unauthenticated_per_address: Option<u32>,
    ssh_handshakes_per_second: Option<u32>,
    login_timeout: Option<u64>,
    login_max_failures: Option<u32>,
    login_failure_window: Option<u64>,
    login_block: Option<u64>,
    tracking_max_misses: Option<u32>,
    shutdown_grace: Option<u64>,
    min_free_space: Option<u64>,
    inbox_workers: Option<u32>,
    inbox_max_file_size: Option<u64>,
    inbox_max_memory: Option<u64>,
    inbox_file_timeout: Option<u64>,
    inbox_settle: Option<u64>,
    inbox_rescan: Option<u64>,
    inbox_ftp_plain: Option<String>,
    mail: Option<mail::MailFile>,
}

/// Where the FTPS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// Files given by the operator.
    Files {
        /// PEM certificate chain.
        cert: PathBuf,
        /// PEM private key.
        key: PathBuf,
    },
    /// A self-signed pair in this folder, generated on first start and reused after.
    SelfSigned {
        /// The folder.
        dir: PathBuf,
    },
}

/// How the inbox processes files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxConfig {
    /// Files processed at once.
    pub workers: u32,
    /// Files bigger than this are rejected unread.
    pub max_file_bytes: u64,
    /// The memory one file read whole may take.
    pub max_memory: u64,
    /// Reading and parsing one file may take this long.
    pub file_timeout: Duration,
    /// A file seen by a scan or a change event must hold still this long before it is read.
    pub settle: Duration,
    /// Every inbox is scanned again this often.
    pub rescan: Duration,
}

/// How repeated failed logins from one address are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Failures within `window` that block the address.
    pub max_failures: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long a blocked address stays blocked.
    pub block_for: Duration,
}

/// How many connections may wait to log in, and for how long. The defaults hold up against a
/// thousand stalled connections from one address while partners elsewhere still log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionPolicy {
    /// Connections not yet logged in, from every client together.
    pub max_unauthenticated: u32,
    /// Connections not yet logged in from one client (an IPv4 address or an IPv6 /64).
    pub max_unauthenticated_per_client: u32,
    /// Time from accepting a connection to the end of its login.
    pub login_timeout: Duration,
    /// SSH handshakes one client may start per second (twice as many at once).
    pub ssh_handshakes_per_second: u32,
}

impl Default for AdmissionPolicy {
    /// 64 per client: a login takes well under a second, so even a partner behind one NAT
    /// address starting dozens of parallel transfers at once stays under it, while one address
    /// can hold at most an eighth of the 512 in all. 512 in all is a socket and a small task
    /// each, far below a server's file limit, and still leaves logged-in sessions
    /// (`--max-sessions`, 500) their own room. 30 s to log in is ample for a script or a person
    /// typing a password (OpenSSH allows 120 s, but it serves people). 10 SSH handshakes per
    /// second, 20 at once: rclone opens one connection per transfer and checker (12 by default)
    /// at its start, while a flood of key exchanges (ssh-audit's DHEat made 10,606 a second) is
    /// cut to 10 a second per client.
    fn default() -> Self {
        Self {
            max_unauthenticated: 512,
            max_unauthenticated_per_client: 64,
            login_timeout: Duration::from_secs(30),
            ssh_handshakes_per_second: 10,
        }
    }
}

/// How long an HTTP connection may take and how many may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// From a connection (or its last answer) to a whole request head.
    pub header_timeout: Duration,
    /// No byte either way for this long closes the connection.
    pub idle_timeout: Duration,
    /// Open connections from every client together.
    pub max_connections: u32,
    /// Open connections from one client (an IPv4 address or an IPv6 /64).
    pub max_connections_per_client: u32,
}

impl Default for HttpLimits {
    /// 10 s for a head: a browser or script sends it in one packet, so only a trickle (the
    /// slowloris attack) needs more; the same wait ends a silent or idle keep-alive connection
    /// (a browser opens a new one). 60 s of silence within a request: a slow client on a bad
    /// line keeps its upload or download, a stalled one still ends. 64 per
    /// client: a browser opens 6, a partner's system behind one NAT address some dozens; 512
    /// in all, one socket each, beside the 512 partners waiting to log in.
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
            max_connections_per_client: 64,
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Folder of the homes, the SQLite database and the host keys.
    pub data_dir: PathBuf,
    /// Database URL (SQLite or PostgreSQL).
    pub database_url: String,
    /// FTP/FTPS listener.
    pub ftp_addr: SocketAddr,
    /// SFTP listener.
    pub sftp_addr: SocketAddr,
    /// Backoffice listener.
    pub http_addr: SocketAddr,
    /// FTP passive data ports.
    pub passive_ports: RangeInclusive<u16>,
    /// Address advertised in PASV, if set.
    pub passive_host: Option<IpAddr>,
    /// Reverse proxies whose forwarding headers the backoffice believes.
    pub http_trusted_proxies: Vec<IpNet>,
    /// Timeouts and caps of HTTP connections.
    pub http: HttpLimits,
    /// Open files kept free of the listeners' connections.
    pub open_files_reserve: u32,
    /// Idle time after which a session is closed.
    pub idle_timeout: Duration,
    /// FTPS certificate.
    pub tls: TlsSource,
    /// Key file for the API secrets stored in the database.
    pub secrets_key_file: PathBuf,
    /// Log format.
    pub log_format: LogFormat,
    /// Most sessions at once, all protocols.
    pub max_sessions: u32,
    /// Most sessions at once for one user.
    pub max_sessions_per_user: u32,
    /// Caps on connections not yet logged in, and their login deadline.
    pub admission: AdmissionPolicy,
    /// Blocking of addresses with repeated failed logins.
    pub login_policy: LoginPolicy,
    /// Blocking of API users whose well-signed track & trace requests keep missing: the login
    /// policy's window and block time, with its own count.
    pub tracking_misses: LoginPolicy,
    /// Time running transfers get on shutdown.
    pub shutdown_grace: Duration,
    /// Free bytes of the data dir's file system under which the disk is reported degraded.
    pub min_free_space: u64,
    /// How the inbox processes files.
    pub inbox: InboxConfig,
    /// How plain-FTP inbox uploads are treated for accounts without their own setting.
    pub inbox_ftp_plain: InboxFtpPlain,
    /// The mail channel.
    pub mail: MailConfig,
}

impl Config {
    /// Whether `ip` is one of `--http-trusted-proxies`. An IPv4 client on a dual-stack socket
    /// arrives as `::ffff:a.b.c.d` and counts as its IPv4 address.
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.http_trusted_proxies
            .iter()
            .any(|net| net.contains(&ip))
    }

    /// Reads the file named in `args` (if any), lays the flags and environment over it, fills in
    /// the defaults and validates the result.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first key whose value is refused.
    pub fn load(args: &ConfigArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Self::merge(args, file)
    }

    fn merge(args: &ConfigArgs, file: FileConfig) -> Result<Self, ConfigError> {
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        if data_dir.as_os_str().is_empty() {
            return Err(invalid("--data-dir", "must not be empty"));
        }
        let database_url = match args.database_url.clone().or(file.database_url) {
            Some(url) => validate_database_url(url)?,
            None => default_database_url(&data_dir),
        };
        let ftp_addr = socket_addr(
            "--ftp-addr",
            args.ftp_addr.clone().or(file.ftp_addr),
            "0.0.0.0:21",
        )?;
        let sftp_addr = socket_addr(
            "--sftp-addr",
            args.sftp_addr.clone().or(file.sftp_addr),
            "0.0.0.0:2222",
        )?;
        let http_addr = socket_addr(
            "--http-addr",
            args.http_addr.clone().or(file.http_addr),
            "0.0.0.0:8080",
        )?;
        let passive_ports = port_range(
            args.passive_ports
                .clone()
                .or(file.passive_ports)
                .as_deref()
                .unwrap_or("50000-50100"),
        )?;
        let passive_host = match args.passive_host.clone().or(file.passive_host) {
            Some(text) => Some(text.trim().parse::<IpAddr>().map_err(|_| {
                invalid("--passive-host", format!("{text:?} is not an IP address"))
            })?),
            None => None,
        };
        let idle_secs = args.idle_timeout.or(file.idle_timeout).unwrap_or(60);
        if idle_secs == 0 || idle_secs > 86_400 {
            return Err(invalid(
                "--idle-timeout",
                format!("{idle_secs} is out of range (1 to 86400 seconds)"),
            ));
        }
        let tls = match (
            args.tls_cert.clone().or(file.tls_cert),
            args.tls_key.clone().or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => TlsSource::Files { cert, key },
            (None, None) => TlsSource::SelfSigned {
                dir: args
                    .certs_dir
                    .clone()
                    .or(file.certs_dir)
                    .unwrap_or_else(|| PathBuf::from("./certs")),
            },
            (Some(_), None) => return Err(invalid("--tls-key", "--tls-cert needs --tls-key")),
            (None, Some(_)) => return Err(invalid("--tls-cert", "--tls-key needs --tls-cert")),
        };
        let max_sessions = positive(
            "--max-sessions",
            args.max_sessions.or(file.max_sessions).unwrap_or(500),
        )?;
        let max_sessions_per_user = positive(
            "--max-sessions-per-user",
            args.max_sessions_per_user
                .or(file.max_sessions_per_user)
                .unwrap_or(10),
        )?;
        let admission_defaults = AdmissionPolicy::default();
        let admission = AdmissionPolicy {
            max_unauthenticated: positive(
                "--max-unauthenticated",
                args.max_unauthenticated
                    .or(file.max_unauthenticated)
                    .unwrap_or(admission_defaults.max_unauthenticated),
            )?,
            max_unauthenticated_per_client: positive(
                "--max-unauthenticated-per-address",
                args.max_unauthenticated_per_address
                    .or(file.max_unauthenticated_per_address)
                    .unwrap_or(admission_defaults.max_unauthenticated_per_client),
            )?,
            login_timeout: seconds(
                "--login-timeout",
                args.login_timeout
                    .or(file.login_timeout)
                    .unwrap_or(admission_defaults.login_timeout.as_secs()),
            )?,
            ssh_handshakes_per_second: positive(
                "--ssh-handshakes-per-second",
                args.ssh_handshakes_per_second
                    .or(file.ssh_handshakes_per_second)
                    .unwrap_or(admission_defaults.ssh_handshakes_per_second),
            )?,
        };
        let login_policy = LoginPolicy {
            max_failures: positive(
                "--login-max-failures",
                args.login_max_failures
                    .or(file.login_max_failures)
                    .unwrap_or(5),
            )?,
            window: seconds(
                "--login-failure-window",
                args.login_failure_window
                    .or(file.login_failure_window)
                    .unwrap_or(300),
            )?,
            block_for: seconds(
                "--login-block",
                args.login_block.or(file.login_block).unwrap_or(900),
            )?,
        };
        let tracking_misses = LoginPolicy {
            max_failures: positive(
                "--tracking-max-misses",
                args.tracking_max_misses
                    .or(file.tracking_max_misses)
                    .unwrap_or(50),
            )?,
            ..login_policy
        };
        // require-rename: a cut plain-FTP upload is never processed, while partners' scripts
        // need one rename more (README, "Cut plain-FTP uploads"). Accounts made before the
        // setting existed were migrated to `accept`.
        // `default` (the built-in one) is also what `user set --inbox-ftp-plain`, which shares
        // the flag's name, takes.
        let inbox_ftp_plain = match args
            .inbox_ftp_plain
            .as_deref()
            .or(file.inbox_ftp_plain.as_deref())
        {
            None | Some("default") => InboxFtpPlain::RequireRename,
            Some(text) => text.parse::<InboxFtpPlain>().map_err(|_| {
                invalid("--inbox-ftp-plain", "use accept, require-rename or refuse")
            })?,
        };
        let shutdown_grace = Duration::from_secs(
            args.shutdown_grace
                .or(file.shutdown_grace)
                .unwrap_or(30)
                .min(3600),
        );
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let default_workers = u32::try_from(cores.clamp(2, 8)).unwrap_or(2);
        let workers = positive(
            "--inbox-workers",
            args.inbox_workers
                .or(file.inbox_workers)
                .unwrap_or(default_workers),
        )?;
        if workers > 64 {
            return Err(invalid(
                "--inbox-workers",
                format!("{workers} is out of range (1 to 64)"),
            ));
        }
        let max_file_bytes = args
            .inbox_max_file_size
            .or(file.inbox_max_file_size)
            .unwrap_or(512 * 1024 * 1024);
        if max_file_bytes == 0 {
            return Err(invalid("--inbox-max-file-size", "must be 1 byte or more"));
        }
        let max_memory = args
            .inbox_max_memory
            .or(file.inbox_max_memory)
            .unwrap_or(inbox_processor::parse::DEFAULT_MAX_MEMORY);
        if max_memory < 1024 * 1024 {
            return Err(invalid(
                "--inbox-max-memory",
                "must be 1 MiB (1048576) or more",
            ));
        }
        let inbox = InboxConfig {
            workers,
            max_file_bytes,
            max_memory,
            file_timeout: seconds(
                "--inbox-file-timeout",
                args.inbox_file_timeout
                    .or(file.inbox_file_timeout)
                    .unwrap_or(300),
            )?,
            settle: seconds(
                "--inbox-settle",
                args.inbox_settle.or(file.inbox_settle).unwrap_or(2),
            )?,
            rescan: seconds(
                "--inbox-rescan",
                args.inbox_rescan.or(file.inbox_rescan).unwrap_or(30),
            )?,
        };
        let http_trusted_proxies = match args
            .http_trusted_proxies
            .clone()
            .or(file.http_trusted_proxies)
        {
            Some(text) => text
                .split(',')
                .map(str::trim)
                .filter(|part| !part.is_empty())
                .map(|part| {
                    address_range(part).ok_or_else(|| {
                        invalid(
                            "--http-trusted-proxies",
                            format!("{part:?} is not an address or a range like 10.0.0.0/8"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let http_defaults = HttpLimits::default();
        let http = HttpLimits {
            header_timeout: within(
                "--http-header-timeout",
                args.http_header_timeout
                    .or(file.http_header_timeout)
                    .unwrap_or(http_defaults.header_timeout.as_secs()),
                3600,
            )?,
            idle_timeout: within(
                "--http-idle-timeout",
                args.http_idle_timeout
                    .or(file.http_idle_timeout)
                    .unwrap_or(http_defaults.idle_timeout.as_secs()),
                86_400,
            )?,
            max_connections: positive(
                "--http-max-connections",
                args.http_max_connections
                    .or(file.http_max_connections)
                    .unwrap_or(http_defaults.max_connections),
            )?,
            max_connections_per_client: positive(
                "--http-max-connections-per-address",
                args.http_max_connections_per_address
                    .or(file.http_max_connections_per_address)
                    .unwrap_or(http_defaults.max_connections_per_client),
            )?,
        };
        let open_files_reserve = args
            .open_files_reserve
            .or(file.open_files_reserve)
            .unwrap_or(128);
        if !(16..=1_000_000).contains(&open_files_reserve) {
            return Err(invalid(
                "--open-files-reserve",
                format!("{open_files_reserve} is out of range (16 to 1000000)"),
            ));
        }
        let secrets_key_file = args
            .secrets_key_file
            .clone()
            .or(file.secrets_key_file)
            .unwrap_or_else(|| data_dir.join("secrets.key"));
        Ok(Self {
            data_dir,
            database_url,
            ftp_addr,
            sftp_addr,
            http_addr,
            passive_ports,
            passive_host,
            http_trusted_proxies,
            http,
            open_files_reserve,
            idle_timeout: Duration::from_secs(idle_secs),
            tls,
            secrets_key_file,
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            max_sessions,
            max_sessions_per_user,
            admission,
            login_policy,
            tracking_misses,
            shutdown_grace,
            min_free_space: args
                .min_free_space
                .or(file.min_free_space)
                .unwrap_or(1024 * 1024 * 1024),
            inbox,
            inbox_ftp_plain,
            mail: MailConfig::merge(&args.mail, file.mail.unwrap_or_default())?,
        })
    }

    /// The folder that holds every user's home.
    pub fn homes_dir(&self) -> PathBuf {
        self.data_dir.join("homes")
    }
}

impl fmt::Display for Config {
    /// The effective settings, one `key = value` a line, as `check-config` prints them. The
    /// database URL's password, if any, is masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "data_dir = {}", self.data_dir.display())?;
        writeln!(
            f,
            "database_url = {}",
            mask_url_password(&self.database_url)
        )?;
        writeln!(f, "ftp_addr = {}", self.ftp_addr)?;
        writeln!(f, "sftp_addr = {}", self.sftp_addr)?;
        writeln!(f, "http_addr = {}", self.http_addr)?;
        writeln!(
            f,
            "passive_ports = {}-{}",
            self.passive_ports.start(),
            self.passive_ports.end()
        )?;
        match self.passive_host {
            Some(ip) => writeln!(f, "passive_host = {ip}")?,
            None => writeln!(f, "passive_host = (local address of each connection)")?,
        }
        writeln!(
            f,
            "http_header_timeout = {}",
            self.http.header_timeout.as_secs()
        )?;
        writeln!(
            f,
            "http_idle_timeout = {}",
            self.http.idle_timeout.as_secs()
        )?;
        writeln!(f, "http_max_connections = {}", self.http.max_connections)?;
        writeln!(
            f,
            "http_max_connections_per_address = {}",
            self.http.max_connections_per_client
        )?;
        writeln!(f, "open_files_reserve = {}", self.open_files_reserve)?;
        writeln!(f, "idle_timeout = {}", self.idle_timeout.as_secs())?;
        match &self.tls {
            TlsSource::Files { cert, key } => {
                writeln!(f, "tls_cert = {}", cert.display())?;
                writeln!(f, "tls_key = {}", key.display())?;
            }
            TlsSource::SelfSigned { dir } => {
                writeln!(f, "certs_dir = {} (self-signed)", dir.display())?
            }
        }
        writeln!(f, "secrets_key_file = {}", self.secrets_key_file.display())?;
        writeln!(f, "log_format = {:?}", self.log_format)?;
        writeln!(f, "max_sessions = {}", self.max_sessions)?;
        writeln!(f, "max_sessions_per_user = {}", self.max_sessions_per_user)?;
        writeln!(
            f,
            "max_unauthenticated = {}",
            self.admission.max_unauthenticated
        )?;
        writeln!(
            f,
            "max_unauthenticated_per_address = {}",
            self.admission.max_unauthenticated_per_client
        )?;
        writeln!(
            f,
            "login_timeout = {}",
            self.admission.login_timeout.as_secs()
        )?;
        writeln!(
            f,
            "ssh_handshakes_per_second = {}",
            self.admission.ssh_handshakes_per_second
        )?;
        writeln!(f, "login_max_failures = {}", self.login_policy.max_failures)?;
        writeln!(
            f,
            "login_failure_window = {}",
            self.login_policy.window.as_secs()
        )?;
        writeln!(f, "login_block = {}", self.login_policy.block_for.as_secs())?;
        writeln!(
            f,
            "tracking_max_misses = {}",
            self.tracking_misses.max_failures
        )?;
        writeln!(f, "shutdown_grace = {}", self.shutdown_grace.as_secs())?;
        writeln!(f, "min_free_space = {}", self.min_free_space)?;
        writeln!(f, "inbox_ftp_plain = {}", self.inbox_ftp_plain)?;
        writeln!(f, "inbox_workers = {}", self.inbox.workers)?;
        writeln!(f, "inbox_max_file_size = {}", self.inbox.max_file_bytes)?;
        writeln!(f, "inbox_max_memory = {}", self.inbox.max_memory)?;
        writeln!(
            f,
            "inbox_file_timeout = {}",
            self.inbox.file_timeout.as_secs()
        )?;
        writeln!(f, "inbox_settle = {}", self.inbox.settle.as_secs())?;
        writeln!(f, "inbox_rescan = {}", self.inbox.rescan.as_secs())?;
        write!(f, "{}", self.mail)
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string().trim().replace('\n', " "),
    })
}

/// An address range (`10.0.0.0/8`, `::1/128`); a bare address is the whole length.
fn address_range(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

fn default_database_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("freightdrop.db").display())
}

fn validate_database_url(url: String) -> Result<String, ConfigError> {
    let url = url.trim().to_string();
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        Ok(url)
    } else {
        Err(invalid(
            "--database-url",
            "must start with sqlite:, postgres:// or postgresql://",
        ))
    }
}

fn socket_addr(
    key: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    let text = value.unwrap_or_else(|| default.to_string());
    text.trim()
        .parse::<SocketAddr>()
        .map_err(|_| invalid(key, format!("{text:?} is not an address like 0.0.0.0:21")))
}

fn port_range(text: &str) -> Result<RangeInclusive<u16>, ConfigError> {
    const KEY: &str = "--passive-ports";
    let bad = || invalid(KEY, format!("{text:?} is not a range like 50000-50100"));
    let (first, last) = text.trim().split_once('-').ok_or_else(bad)?;
    let first: u16 = first.trim().parse().map_err(|_| bad())?;
    let last: u16 = last.trim().parse().map_err(|_| bad())?;
    if first == 0 || first > last {
        return Err(invalid(
            KEY,
            format!("{text:?}: the first port must be 1 or more and not above the last"),
        ));
    }
    Ok(first..=last)
}

fn positive(key: &'static str, value: u32) -> Result<u32, ConfigError> {
    if value == 0 {
        Err(invalid(key, "must be 1 or more"))
    } else {
        Ok(value)
    }
}

/// Seconds from 1 to `most`.
fn within(key: &'static str, value: u64, most: u64) -> Result<Duration, ConfigError> {
    if value == 0 || value > most {
        Err(invalid(
            key,
            format!("{value} is out of range (1 to {most} seconds)"),
        ))
    } else {
        Ok(Duration::from_secs(value))
    }
}

fn seconds(key: &'static str, value: u64) -> Result<Duration, ConfigError> {
    if value == 0 || value > 30 * 86_400 {
        Err(invalid(
            key,
            format!("{value} is out of range (1 to 2592000 seconds)"),
        ))
    } else {
        Ok(Duration::from_secs(value))
    }
}

/// Replaces the password in `scheme://user:password@host/...` with `***`.
fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_ranges_are_ranges_or_bare_addresses() {
        let net = address_range("10.1.0.0/16").unwrap();
        assert!(net.contains(&"10.1.200.3".parse::<IpAddr>().unwrap()));
        assert!(!net.contains(&"10.2.0.1".parse::<IpAddr>().unwrap()));
        let one = address_range(" 127.0.0.1 ").unwrap();
        assert_eq!(one.to_string(), "127.0.0.1/32");
        assert!(!one.contains(&"127.0.0.2".parse::<IpAddr>().unwrap()));
        let all = address_range("::/0").unwrap();
        assert!(all.contains(&"2001:db8::1".parse::<IpAddr>().unwrap()));
        assert!(address_range("10.0.0.0/33").is_none());
        assert!(address_range("nonsense").is_none());
    }

    fn file(text: &str) -> FileConfig {
        toml::from_str(text).expect("test TOML parses")
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = Config::merge(&ConfigArgs::default(), FileConfig::default()).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.database_url, "sqlite://./data/freightdrop.db");
        assert_eq!(config.ftp_addr, "0.0.0.0:21".parse().unwrap());
        assert_eq!(config.sftp_addr, "0.0.0.0:2222".parse().unwrap());
        assert_eq!(config.http_addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(config.passive_ports, 50000..=50100);
        assert_eq!(config.idle_timeout, Duration::from_secs(60));
        assert_eq!(config.log_format, LogFormat::Human);
        assert_eq!(config.admission.max_unauthenticated, 512);
        assert_eq!(config.admission.max_unauthenticated_per_client, 64);
        assert_eq!(config.admission.login_timeout, Duration::from_secs(30));
        assert_eq!(config.http, HttpLimits::default());
        assert_eq!(config.http.header_timeout, Duration::from_secs(10));
        assert_eq!(config.open_files_reserve, 128);
        assert_eq!(
            config.tls,
            TlsSource::SelfSigned {
                dir: PathBuf::from("./certs")
            }
        );
    }

    #[test]
    fn flag_beats_file_and_file_beats_default() {
        let args = ConfigArgs {
            idle_timeout: Some(5),
            ..ConfigArgs::default()
        };
        let config = Config::merge(
            &args,
            file("idle_timeout = 30\nftp_addr = \"127.0.0.1:2121\""),
        )
        .unwrap();
        assert_eq!(config.idle_timeout, Duration::from_secs(5));
        assert_eq!(config.ftp_addr, "127.0.0.1:2121".parse().unwrap());
    }

    #[test]
    fn database_defaults_into_the_data_dir() {
        let config = Config::merge(&ConfigArgs::default(), file("data_dir = \"/srv/fd\"")).unwrap();
        assert_eq!(config.database_url, "sqlite:///srv/fd/freightdrop.db");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: [(&str, &str); 15] = [
            ("http_header_timeout = 0", "--http-header-timeout"),
            ("http_header_timeout = 3601", "--http-header-timeout"),
            ("http_idle_timeout = 0", "--http-idle-timeout"),
            ("http_max_connections = 0", "--http-max-connections"),
            (
                "http_max_connections_per_address = 0",
                "--http-max-connections-per-address",
            ),
            ("open_files_reserve = 8", "--open-files-reserve"),
            ("max_unauthenticated = 0", "--max-unauthenticated"),
            (
                "max_unauthenticated_per_address = 0",
                "--max-unauthenticated-per-address",
            ),
            ("login_timeout = 0", "--login-timeout"),
            ("ftp_addr = \"nowhere\"", "--ftp-addr"),
            ("passive_ports = \"60000-50000\"", "--passive-ports"),
            ("passive_ports = \"abc\"", "--passive-ports"),
            ("idle_timeout = 0", "--idle-timeout"),
            ("database_url = \"mysql://x\"", "--database-url"),
            ("tls_cert = \"/c.pem\"", "--tls-key"),
        ];
        for (text, key) in cases {
            let err = Config::merge(&ConfigArgs::default(), file(text)).unwrap_err();
            assert!(
                err.to_string().contains(key),
                "{text}: {err} should name {key}"
            );
        }
    }

    #[test]
    fn unknown_file_key_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "idle_timout = 3\n").unwrap();
        let err = read_file(&path).unwrap_err();
        assert!(err.to_string().contains("idle_timout"), "{err}");
    }

    #[test]
    fn password_in_database_url_is_masked() {
        assert_eq!(
            mask_url_password("postgres://fd:secret@localhost/fd"),
            "postgres://fd:***@localhost/fd"
        );
        assert_eq!(mask_url_password("sqlite://x.db"), "sqlite://x.db");
    }
}
