//! The settings of the error replies the mail channel sends (issue 13 item 6): the relay they go
//! through (`--smtp-relay smtp://host:port`, `smtps://`, `?tls=required` for STARTTLS,
//! credentials in the URL or `--smtp-relay-user` / `--smtp-relay-password`, a CA to trust
//! besides the public ones `--smtp-relay-ca`), the sender address
//! of the replies (`--mail-reply-from`), the cap per sender and hour (`--mail-replies-per-hour`)
//! and the first retry delay (`--mail-reply-retry`). In the TOML file's `[mail]` table, the same
//! keys with `_`: `smtp_relay`, `smtp_relay_user`, `smtp_relay_password`, `smtp_relay_ca`, `reply_from`,
//! `replies_per_hour`, `reply_retry`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{invalid, ConfigError};

/// The reply flags as given; every field optional.
#[derive(Debug, Clone, Default, Args)]
pub struct ReplyArgs {
    /// Relay the error replies are sent through: `smtp://host:port` (plain),
    /// `smtp://host:port?tls=required` (STARTTLS), `smtps://host:port` (TLS from the start),
    /// optionally with `user:password@` [default: none, replies are queued but not sent].
    #[arg(
        long,
        env = "FREIGHTDROP_SMTP_RELAY",
        global = true,
        value_name = "URL"
    )]
    pub smtp_relay: Option<String>,
    /// User name for the relay (instead of the URL's).
    #[arg(
        long,
        env = "FREIGHTDROP_SMTP_RELAY_USER",
        global = true,
        value_name = "USER"
    )]
    pub smtp_relay_user: Option<String>,
    /// Password for the relay (instead of the URL's); best given in the environment.
    #[arg(
        long,
        env = "FREIGHTDROP_SMTP_RELAY_PASSWORD",
        global = true,
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub smtp_relay_password: Option<String>,
    /// A PEM file of CA certificates the relay's TLS certificate may chain to, besides the
    /// public roots (a site's own CA).
    #[arg(
        long,
        env = "FREIGHTDROP_SMTP_RELAY_CA",
        global = true,
        value_name = "FILE"
    )]
    pub smtp_relay_ca: Option<PathBuf>,
    /// The From address of error replies [default: postmaster@ the first --mail-domain].
    #[arg(
        long,
        env = "FREIGHTDROP_MAIL_REPLY_FROM",
        global = true,
        value_name = "ADDRESS"
    )]
    pub mail_reply_from: Option<String>,
    /// Most error replies to one sender in an hour; `0` sends none [default: 10].
    #[arg(
        long,
        env = "FREIGHTDROP_MAIL_REPLIES_PER_HOUR",
        global = true,
        value_name = "N"
    )]
    pub mail_replies_per_hour: Option<u32>,
    /// Seconds before the first retry of a reply the relay did not take; each further retry
    /// waits twice as long, at most an hour [default: 60].
    #[arg(
        long,
        env = "FREIGHTDROP_MAIL_REPLY_RETRY",
        global = true,
        value_name = "SECONDS"
    )]
    pub mail_reply_retry: Option<u64>,
}

/// The reply keys of the `[mail]` table, as read.
#[derive(Debug, Default)]
pub(super) struct ReplyFile {
    pub(super) smtp_relay: Option<String>,
    pub(super) smtp_relay_user: Option<String>,
    pub(super) smtp_relay_password: Option<String>,
    pub(super) smtp_relay_ca: Option<PathBuf>,
    pub(super) reply_from: Option<String>,
    pub(super) replies_per_hour: Option<u32>,
    pub(super) reply_retry: Option<u64>,
}

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayTls {
    /// Plain SMTP (`smtp://`).
    Plain,
    /// STARTTLS when the relay offers it (`?tls=opportunistic`).
    Opportunistic,
    /// STARTTLS or nothing is sent (`?tls=required`).
    Required,
    /// TLS from the first byte (`smtps://`).
    Wrapper,
}

/// Where replies are sent: the relay URL and its credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Relay {
    /// The URL without credentials (`smtp://host:port?tls=required`).
    pub url: String,
    /// The relay's host name or address (what its certificate must name).
    pub host: String,
    /// Its port (default 25, 587 with `?tls=`, 465 for `smtps://`).
    pub port: u16,
    /// How the connection is protected.
    pub tls: RelayTls,
    /// User and password, from the URL or the flags.
    pub credentials: Option<(String, String)>,
    /// A CA file to trust besides the public roots.
    pub ca: Option<PathBuf>,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password is never printed.
        f.debug_struct("Relay")
            .field("url", &self.url)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("ca", &self.ca)
            .finish()
    }
}

/// The replies' checked settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyConfig {
    /// The relay, if one is set; without it replies are queued and not sent.
    pub relay: Option<Relay>,
    /// The From address of the replies.
    pub from: String,
    /// Most replies to one sender in an hour.
    pub per_hour: u32,
    /// The first retry delay.
    pub retry: Duration,
}

impl ReplyConfig {
    pub(super) fn merge(
        args: &ReplyArgs,
        file: ReplyFile,
        domains: &[String],
    ) -> Result<Self, ConfigError> {
        let relay = match args.smtp_relay.clone().or(file.smtp_relay) {
            None => None,
            Some(text) if text.trim().is_empty() || text.trim() == "off" => None,
            Some(text) => Some(relay(
                text.trim(),
                args.smtp_relay_user.clone().or(file.smtp_relay_user),
                args.smtp_relay_password
                    .clone()
                    .or(file.smtp_relay_password),
                args.smtp_relay_ca.clone().or(file.smtp_relay_ca),
            )?),
        };
        let from = args
            .mail_reply_from
            .clone()
            .or(file.reply_from)
            .map(|f| f.trim().to_owned())
            .unwrap_or_else(|| {
                format!(
                    "postmaster@{}",
                    domains.first().map_or("localhost", String::as_str)
                )
            });
        if from.parse::<lettre::Address>().is_err() {
            return Err(invalid(
                "--mail-reply-from",
                format!("{from:?} is not a mail address"),
            ));
        }
        let per_hour = args
            .mail_replies_per_hour
            .or(file.replies_per_hour)
            .unwrap_or(10);
        if per_hour > 10_000 {
            return Err(invalid(
                "--mail-replies-per-hour",
                format!("{per_hour} is out of range (0 to 10000)"),
            ));
        }
        let retry = args.mail_reply_retry.or(file.reply_retry).unwrap_or(60);
        if retry == 0 || retry > 3600 {
            return Err(invalid(
                "--mail-reply-retry",
                format!("{retry} is out of range (1 to 3600 seconds)"),
            ));
        }
        Ok(Self {
            relay,
            from,
            per_hour,
            retry: Duration::from_secs(retry),
        })
    }
}

/// The relay of `text`, its credentials taken out of the URL (flags win).
fn relay(
    text: &str,
    user: Option<String>,
    password: Option<String>,
    ca: Option<PathBuf>,
) -> Result<Relay, ConfigError> {
    const KEY: &str = "--smtp-relay";
    let bad = |why: &str| {
        invalid(
            KEY,
            format!("{why}; expected smtp://host:port or smtps://host:port"),
        )
    };
    let (scheme, rest) = text.split_once("://").ok_or_else(|| bad("no scheme"))?;
    if !matches!(scheme, "smtp" | "smtps") {
        return Err(bad("unknown scheme"));
    }
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => (Some(userinfo), host),
        None => (None, authority),
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let url = format!("{scheme}://{host}{tail}");
    // lettre's own reading of the URL, as a check; the parts are taken apart below the same way.
    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&url)
        .map_err(|e| bad(&e.to_string()))?;
    let query = tail.split_once('?').map_or("", |(_, q)| q);
    let tls_param = query.split('&').find_map(|pair| pair.strip_prefix("tls="));
    let (tls, default_port) = match (scheme, tls_param) {
        ("smtps", _) => (RelayTls::Wrapper, 465),
        (_, Some("required")) => (RelayTls::Required, 587),
        (_, Some("opportunistic")) => (RelayTls::Opportunistic, 587),
        _ => (RelayTls::Plain, 25),
    };
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !port.contains(']') => {
            (name, port.parse::<u16>().map_err(|_| bad("bad port"))?)
        }
        _ => (host, default_port),
    };
    let name = name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if let Some(ca) = &ca {
        if tls == RelayTls::Plain {
            return Err(invalid(
                "--smtp-relay-ca",
                "a CA is used only with TLS: smtps:// or ?tls=required",
            ));
        }
        if !ca.is_file() {
            return Err(invalid(
                "--smtp-relay-ca",
                format!("{} is not a readable file", ca.display()),
            ));
        }
    }
    let (url_user, url_password) = match userinfo.map(|u| u.split_once(':')) {
        Some(Some((user, password))) => (Some(decode(user)), Some(decode(password))),
        Some(None) => (userinfo.map(decode), None),
        None => (None, None),
    };
    let credentials = match (user.or(url_user), password.or(url_password)) {
        (Some(user), Some(password)) => Some((user, password)),
        (None, None) => None,
        _ => {
            return Err(invalid(
                KEY,
                "a relay user needs a password and a password needs a user",
            ))
        }
    };
    Ok(Relay {
        url,
        host: name,
        port,
        tls,
        credentials,
        ca,
    })
}

/// `%XX` escapes of a URL's user or password decoded (others kept as they are).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Display for ReplyConfig {
    /// The settings as `check-config` prints them (never the password).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.relay {
            Some(relay) => {
                writeln!(f, "mail.smtp_relay = {}", relay.url)?;
                if let Some(ca) = &relay.ca {
                    writeln!(f, "mail.smtp_relay_ca = {}", ca.display())?;
                }
                if let Some((user, _)) = &relay.credentials {
                    writeln!(f, "mail.smtp_relay_user = {user}")?;
                    writeln!(f, "mail.smtp_relay_password = ***")?;
                }
            }
            None => writeln!(f, "mail.smtp_relay = off")?,
        }
        writeln!(f, "mail.reply_from = {}", self.from)?;
        writeln!(f, "mail.replies_per_hour = {}", self.per_hour)?;
        write!(f, "mail.reply_retry = {}", self.retry.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merge(args: ReplyArgs) -> Result<ReplyConfig, ConfigError> {
        ReplyConfig::merge(&args, ReplyFile::default(), &["orders.example".into()])
    }

    #[test]
    fn defaults_send_nothing_and_cap_at_ten() {
        let config = merge(ReplyArgs::default()).expect("defaults");
        assert_eq!(config.relay, None);
        assert_eq!(config.from, "postmaster@orders.example");
        assert_eq!(config.per_hour, 10);
        assert_eq!(config.retry, Duration::from_secs(60));
    }

    #[test]
    fn credentials_come_out_of_the_url_and_flags_win() {
        let config = merge(ReplyArgs {
            smtp_relay: Some("smtp://fd%40site:p%3Ass@relay.example:587?tls=required".into()),
            ..ReplyArgs::default()
        })
        .expect("valid");
        let relay = config.relay.expect("relay");
        assert_eq!(relay.url, "smtp://relay.example:587?tls=required");
        assert_eq!(
            (relay.host.as_str(), relay.port, relay.tls),
            ("relay.example", 587, RelayTls::Required)
        );
        assert_eq!(
            relay.credentials,
            Some(("fd@site".to_owned(), "p:ss".to_owned()))
        );
        assert!(!format!("{relay:?}").contains("p:ss"));
        let config = merge(ReplyArgs {
            smtp_relay: Some("smtps://a:b@relay.example".into()),
            smtp_relay_password: Some("other".into()),
            ..ReplyArgs::default()
        })
        .expect("valid");
        assert_eq!(
            config.relay.as_ref().expect("relay").credentials.clone(),
            Some(("a".to_owned(), "other".to_owned()))
        );
        assert!(!config.to_string().contains("other"));
        let relay = config.relay.expect("relay");
        assert_eq!((relay.port, relay.tls), (465, RelayTls::Wrapper));
        let plain = merge(ReplyArgs {
            smtp_relay: Some("smtp://127.0.0.1".into()),
            ..ReplyArgs::default()
        })
        .expect("valid")
        .relay
        .expect("relay");
        assert_eq!(
            (plain.host.as_str(), plain.port, plain.tls),
            ("127.0.0.1", 25, RelayTls::Plain)
        );
    }

    #[test]
    fn bad_values_name_their_flag() {
        for (args, key) in [
            (
                ReplyArgs {
                    smtp_relay: Some("http://relay.example".into()),
                    ..ReplyArgs::default()
                },
                "--smtp-relay",
            ),
            (
                ReplyArgs {
                    smtp_relay: Some("smtp://relay.example?tls=maybe".into()),
                    ..ReplyArgs::default()
                },
                "--smtp-relay",
            ),
            (
                ReplyArgs {
                    smtp_relay: Some("smtp://relay.example".into()),
                    smtp_relay_user: Some("u".into()),
                    ..ReplyArgs::default()
                },
                "--smtp-relay",
            ),
            (
                ReplyArgs {
                    mail_reply_from: Some("not an address".into()),
                    ..ReplyArgs::default()
                },
                "--mail-reply-from",
            ),
            (
                ReplyArgs {
                    mail_reply_retry: Some(0),
                    ..ReplyArgs::default()
                },
                "--mail-reply-retry",
            ),
        ] {
            match merge(args) {
                Err(ConfigError::Invalid { key: got, .. }) => assert_eq!(got, key),
                other => panic!("{key}: {other:?}"),
            }
        }
    }
}
