//! The mail channel's settings: where the SMTP and LMTP listeners are, which domains and which
//! address prefix they accept, and the limits on one message. Flags `--smtp-addr`,
//! `--lmtp-addr`, `--mail-domain`, `--mail-prefix`, `--mail-max-size`, `--mail-max-recipients`,
//! `--mail-max-attachments`, `--mail-require-auth-results`, `--mail-trusted-authserv-id`; in the
//! TOML file, the same keys without `mail-` in a `[mail]` table.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

use super::replies::{ReplyArgs, ReplyConfig, ReplyFile};
use super::{invalid, socket_addr, ConfigError};

/// The mail flags as given; every field optional.
#[derive(Debug, Clone, Default, Args)]
pub struct MailArgs {
    /// Address of the SMTP listener, or `off` [default: 0.0.0.0:2525].
    #[arg(
        long,
        env = "FREIGHTDROP_SMTP_ADDR",
        global = true,
        value_name = "ADDR"
    )]
    pub smtp_addr: Option<String>,
    /// Address of the LMTP listener: a TCP address, a unix socket path, or `off` [default: off].
    #[arg(
        long,
        env = "FREIGHTDROP_LMTP_ADDR",
        global = true,
        value_name = "ADDR|PATH"
    )]
    pub lmtp_addr: Option<String>,
    /// Permissions of the LMTP unix socket, in octal: who may deliver through it (the MTA's
    /// user needs write permission, e.g. 0666, or 0660 with a shared group) [default: 0600].
    #[arg(
        long,
        env = "FREIGHTDROP_LMTP_SOCKET_MODE",
        global = true,
        value_name = "MODE"
    )]
    pub lmtp_socket_mode: Option<String>,
    /// Domains mail is accepted for, separated by commas [default: none, every recipient is
    /// refused].
    #[arg(
        long,
        env = "FREIGHTDROP_MAIL_DOMAIN",
        global = true,
        value_name = "DOMAINS"
    )]
    pub mail_domain: Option<String>,
    /// First part of every recipient's local part, before `+ACCOUNT` [default: edi].
    #[arg(
        long,
        env = "FREIGHTDROP_MAIL_PREFIX",
        global = true,
        value_name = "PREFIX"
    )]
    pub mail_prefix: Option<String>,
    /// Largest message accepted, in bytes, advertised as SIZE [default: 52428800 (50 MiB)].
    #[arg(
        long,
        env = "FREIGHTDROP_MAIL_MAX_SIZE",
        global = true,
        value_name = "BYTES"
    )]
    pub mail_max_size: Option<u64>,
    /// Most recipients of one message [default: 20].
    #[arg(
        long,
        env = "FREIGHTDROP_MAIL_MAX_RECIPIENTS",
        global = true,
        value_name = "N"
    )]
    pub mail_max_recipients: Option<u32>,
    /// Most attachments of one message [default: 50].
    #[arg(
        long,
        env = "FREIGHTDROP_MAIL_MAX_ATTACHMENTS",
        global = true,
        value_name = "N"
    )]
    pub mail_max_attachments: Option<u32>,
    /// The error replies' flags.
    #[command(flatten)]
    pub replies: ReplyArgs,
    /// Accept a message only when an Authentication-Results header of the site's own MTA
    /// (--mail-trusted-authserv-id) says dkim=pass or spf=pass.
    #[arg(
        long,
        env = "FREIGHTDROP_MAIL_REQUIRE_AUTH_RESULTS",
        global = true,
        num_args = 0..=1,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub mail_require_auth_results: Option<bool>,
    /// The authserv-id the site's MTA writes in its Authentication-Results headers (for
    /// --mail-require-auth-results).
    #[arg(
        long,
        env = "FREIGHTDROP_MAIL_TRUSTED_AUTHSERV_ID",
        global = true,
        value_name = "ID"
    )]
    pub mail_trusted_authserv_id: Option<String>,
}

/// The `[mail]` table of the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MailFile {
    smtp_addr: Option<String>,
    lmtp_addr: Option<String>,
    lmtp_socket_mode: Option<String>,
    domain: Option<String>,
    prefix: Option<String>,
    max_size: Option<u64>,
    max_recipients: Option<u32>,
    max_attachments: Option<u32>,
    smtp_relay: Option<String>,
    smtp_relay_user: Option<String>,
    smtp_relay_password: Option<String>,
    smtp_relay_ca: Option<PathBuf>,
    reply_from: Option<String>,
    replies_per_hour: Option<u32>,
    reply_retry: Option<u64>,
    require_auth_results: Option<bool>,
    trusted_authserv_id: Option<String>,
}

/// Where the LMTP listener listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LmtpAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A unix socket at this path (created at start, replacing a stale socket).
    Unix(PathBuf),
}

impl fmt::Display for LmtpAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => write!(f, "{addr}"),
            Self::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The mail channel's checked settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    /// The SMTP listener, unless off.
    pub smtp_addr: Option<SocketAddr>,
    /// The LMTP listener, if on.
    pub lmtp_addr: Option<LmtpAddr>,
    /// The permission bits of the LMTP unix socket.
    pub lmtp_socket_mode: u32,
    /// The accepted domains, lower-case.
    pub domains: Vec<String>,
    /// The local part's prefix, lower-case.
    pub prefix: String,
    /// The largest message, in bytes.
    pub max_size: u64,
    /// The most recipients of one message.
    pub max_recipients: usize,
    /// The most attachments of one message.
    pub max_attachments: usize,
    /// The error replies.
    pub replies: ReplyConfig,
    /// When set, a message is accepted only if an `Authentication-Results` header with this
    /// authserv-id says `dkim=pass` or `spf=pass`.
    pub trusted_authserv_id: Option<String>,
}

impl MailConfig {
    pub(super) fn merge(args: &MailArgs, file: MailFile) -> Result<Self, ConfigError> {
        let smtp_addr = match args.smtp_addr.clone().or(file.smtp_addr) {
            Some(text) if text.trim().eq_ignore_ascii_case("off") => None,
            given => Some(socket_addr("--smtp-addr", given, "0.0.0.0:2525")?),
        };
        let lmtp_addr = match args.lmtp_addr.clone().or(file.lmtp_addr) {
            None => None,
            Some(text) if text.trim().eq_ignore_ascii_case("off") => None,
            Some(text) if text.trim().starts_with('/') => {
                Some(LmtpAddr::Unix(PathBuf::from(text.trim())))
            }
            Some(text) => Some(LmtpAddr::Tcp(socket_addr("--lmtp-addr", Some(text), "")?)),
        };
        let lmtp_socket_mode = match args.lmtp_socket_mode.clone().or(file.lmtp_socket_mode) {
            None => 0o600,
            Some(text) => match u32::from_str_radix(text.trim().trim_start_matches("0o"), 8) {
                Ok(mode) if mode <= 0o777 => mode,
                _ => {
                    return Err(invalid(
                        "--lmtp-socket-mode",
                        format!("{text:?} is not a file mode in octal (0000 to 0777, e.g. 0660)"),
                    ))
                }
            },
        };
        let domains = args
            .mail_domain
            .clone()
            .or(file.domain)
            .unwrap_or_default()
            .split(',')
            .map(|d| d.trim().to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect::<Vec<_>>();
        if let Some(bad) = domains
            .iter()
            .find(|d| d.contains(['@', ' ', '/']) || d.starts_with('.'))
        {
            return Err(invalid(
                "--mail-domain",
                format!("{bad:?} is not a domain name"),
            ));
        }
        let prefix = args
            .mail_prefix
            .clone()
            .or(file.prefix)
            .unwrap_or_else(|| "edi".to_owned())
            .trim()
            .to_ascii_lowercase();
        if prefix.is_empty() || prefix.contains(['+', '@', ' ']) {
            return Err(invalid(
                "--mail-prefix",
                "must be a non-empty local part without '+', '@' or spaces",
            ));
        }
        let max_size = args
            .mail_max_size
            .or(file.max_size)
            .unwrap_or(50 * 1024 * 1024);
        if max_size < 1024 {
            return Err(invalid("--mail-max-size", "must be 1024 bytes or more"));
        }
        let replies = ReplyConfig::merge(
            &args.replies,
            ReplyFile {
                smtp_relay: file.smtp_relay,
                smtp_relay_user: file.smtp_relay_user,
                smtp_relay_password: file.smtp_relay_password,
                smtp_relay_ca: file.smtp_relay_ca,
                reply_from: file.reply_from,
                replies_per_hour: file.replies_per_hour,
                reply_retry: file.reply_retry,
            },
            &domains,
        )?;
        let require_auth = args
            .mail_require_auth_results
            .or(file.require_auth_results)
            .unwrap_or(false);
        let authserv_id = args
            .mail_trusted_authserv_id
            .clone()
            .or(file.trusted_authserv_id)
            .map(|id| id.trim().to_ascii_lowercase())
            .filter(|id| !id.is_empty());
        let trusted_authserv_id = match (require_auth, authserv_id) {
            (false, _) => None,
            (true, Some(id)) if !id.contains([';', ' ', '(', ')']) => Some(id),
            (true, Some(_)) => return Err(invalid(
                "--mail-trusted-authserv-id",
                "must be one word (the site MTA's host name), without ';', spaces or parentheses",
            )),
            (true, None) => {
                return Err(invalid(
                    "--mail-require-auth-results",
                    "needs --mail-trusted-authserv-id, the authserv-id the site's MTA writes",
                ))
            }
        };
        let count = |key: &'static str, value: u32| match value {
            1..=1000 => Ok(value as usize),
            _ => Err(invalid(key, format!("{value} is out of range (1 to 1000)"))),
        };
        Ok(Self {
            smtp_addr,
            lmtp_addr,
            lmtp_socket_mode,
            domains,
            prefix,
            max_size,
            max_recipients: count(
                "--mail-max-recipients",
                args.mail_max_recipients
                    .or(file.max_recipients)
                    .unwrap_or(20),
            )?,
            max_attachments: count(
                "--mail-max-attachments",
                args.mail_max_attachments
                    .or(file.max_attachments)
                    .unwrap_or(50),
            )?,
            replies,
            trusted_authserv_id,
        })
    }
}

impl fmt::Display for MailConfig {
    /// The settings as `check-config` prints them, one `mail.key = value` a line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.smtp_addr {
            Some(addr) => writeln!(f, "mail.smtp_addr = {addr}")?,
            None => writeln!(f, "mail.smtp_addr = off")?,
        }
        match &self.lmtp_addr {
            Some(addr) => writeln!(f, "mail.lmtp_addr = {addr}")?,
            None => writeln!(f, "mail.lmtp_addr = off")?,
        }
        writeln!(f, "mail.lmtp_socket_mode = {:04o}", self.lmtp_socket_mode)?;
        writeln!(f, "mail.domain = {}", self.domains.join(","))?;
        writeln!(f, "mail.prefix = {}", self.prefix)?;
        writeln!(f, "mail.max_size = {}", self.max_size)?;
        writeln!(f, "mail.max_recipients = {}", self.max_recipients)?;
        writeln!(f, "mail.max_attachments = {}", self.max_attachments)?;
        writeln!(f, "{}", self.replies)?;
        match &self.trusted_authserv_id {
            Some(id) => {
                writeln!(f, "mail.require_auth_results = true")?;
                write!(f, "mail.trusted_authserv_id = {id}")
            }
            None => write!(f, "mail.require_auth_results = false"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merge(args: MailArgs) -> Result<MailConfig, ConfigError> {
        MailConfig::merge(&args, MailFile::default())
    }

    #[test]
    fn defaults_listen_on_smtp_only() {
        let config = merge(MailArgs::default()).expect("defaults");
        assert_eq!(config.smtp_addr, Some("0.0.0.0:2525".parse().unwrap()));
        assert_eq!(config.lmtp_addr, None);
        assert_eq!(config.prefix, "edi");
        assert_eq!(config.max_size, 50 * 1024 * 1024);
        assert!(config.domains.is_empty());
    }

    #[test]
    fn addresses_domains_and_off() {
        let config = merge(MailArgs {
            smtp_addr: Some("off".into()),
            lmtp_addr: Some("/run/fd/lmtp.sock".into()),
            mail_domain: Some("Orders.Example, edi.example".into()),
            ..MailArgs::default()
        })
        .expect("valid");
        assert_eq!(config.smtp_addr, None);
        assert_eq!(
            config.lmtp_addr,
            Some(LmtpAddr::Unix("/run/fd/lmtp.sock".into()))
        );
        assert_eq!(config.domains, ["orders.example", "edi.example"]);
        let tcp = merge(MailArgs {
            lmtp_addr: Some("127.0.0.1:24".into()),
            ..MailArgs::default()
        })
        .expect("valid");
        assert_eq!(
            tcp.lmtp_addr,
            Some(LmtpAddr::Tcp("127.0.0.1:24".parse().unwrap()))
        );
    }

    #[test]
    fn the_toml_table_is_read_and_flags_win() {
        let file: MailFile = toml::from_str(
            "smtp_addr = \"127.0.0.1:25\"\ndomain = \"a.example\"\nprefix = \"TMS\"\nmax_size = 2048",
        )
        .expect("valid TOML");
        let args = MailArgs {
            mail_max_size: Some(4096),
            ..MailArgs::default()
        };
        let config = MailConfig::merge(&args, file).expect("valid");
        assert_eq!(config.smtp_addr, Some("127.0.0.1:25".parse().unwrap()));
        assert_eq!(config.domains, ["a.example"]);
        assert_eq!(config.prefix, "tms");
        assert_eq!(config.max_size, 4096);
        assert!(toml::from_str::<MailFile>("smtp = \"x\"").is_err());
        let file: MailFile = toml::from_str(
            "require_auth_results = true\ntrusted_authserv_id = \"MX.Site.Example\"",
        )
        .expect("valid TOML");
        let config = MailConfig::merge(&MailArgs::default(), file).expect("valid");
        assert_eq!(
            config.trusted_authserv_id.as_deref(),
            Some("mx.site.example")
        );
    }

    #[test]
    fn the_reply_keys_are_read_from_the_mail_table() {
        let file: MailFile = toml::from_str(
            "domain = \"a.example\"\nsmtp_relay = \"smtp://relay.a.example:25\"\n\
             smtp_relay_user = \"fd\"\nsmtp_relay_password = \"pw\"\n\
             replies_per_hour = 3\nreply_retry = 30\nreply_from = \"edi@a.example\"",
        )
        .expect("valid TOML");
        let config = MailConfig::merge(&MailArgs::default(), file).expect("valid");
        let replies = &config.replies;
        assert_eq!(
            replies.relay.as_ref().map(|r| r.url.as_str()),
            Some("smtp://relay.a.example:25")
        );
        assert_eq!(
            replies.relay.as_ref().and_then(|r| r.credentials.clone()),
            Some(("fd".to_owned(), "pw".to_owned()))
        );
        assert_eq!(replies.per_hour, 3);
        assert_eq!(replies.retry, std::time::Duration::from_secs(30));
        assert_eq!(replies.from, "edi@a.example");
        assert!(config
            .to_string()
            .contains("mail.smtp_relay_password = ***"));
        assert!(!config.to_string().contains("pw"));
    }

    #[test]
    fn bad_values_name_their_flag() {
        for (args, key) in [
            (
                MailArgs {
                    smtp_addr: Some("nowhere".into()),
                    ..MailArgs::default()
                },
                "--smtp-addr",
            ),
            (
                MailArgs {
                    lmtp_addr: Some("relative/path".into()),
                    ..MailArgs::default()
                },
                "--lmtp-addr",
            ),
            (
                MailArgs {
                    lmtp_socket_mode: Some("0999".into()),
                    ..MailArgs::default()
                },
                "--lmtp-socket-mode",
            ),
            (
                MailArgs {
                    lmtp_socket_mode: Some("1777".into()),
                    ..MailArgs::default()
                },
                "--lmtp-socket-mode",
            ),
            (
                MailArgs {
                    mail_domain: Some("a@b".into()),
                    ..MailArgs::default()
                },
                "--mail-domain",
            ),
            (
                MailArgs {
                    mail_prefix: Some("a+b".into()),
                    ..MailArgs::default()
                },
                "--mail-prefix",
            ),
            (
                MailArgs {
                    mail_max_recipients: Some(0),
                    ..MailArgs::default()
                },
                "--mail-max-recipients",
            ),
            (
                MailArgs {
                    mail_require_auth_results: Some(true),
                    ..MailArgs::default()
                },
                "--mail-require-auth-results",
            ),
        ] {
            match merge(args) {
                Err(ConfigError::Invalid { key: got, .. }) => assert_eq!(got, key),
                other => panic!("{key}: {other:?}"),
            }
        }
    }
}
