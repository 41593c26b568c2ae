//! What a partner account is: its fields, the protocols it may use, and the rules for names,
//! customer codes and format overrides, checked where the values are made.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::password::Password;
use super::store::UserError;

/// The file formats a user's files can be forced to, whatever their extension.
pub const FORMATS: &[&str] = &["csv", "xml", "xls", "xlsx", "ods", "ttm"];

/// A protocol a user may log in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// FTP over a plain control channel.
    Ftp,
    /// FTP secured with AUTH TLS.
    Ftps,
    /// SFTP over SSH.
    Sftp,
    /// Files mailed as attachments (SMTP or LMTP); never granted unless asked for.
    Mail,
}

impl Protocol {
    /// The lower-case name used in the CLI, the database and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ftp => "ftp",
            Self::Ftps => "ftps",
            Self::Sftp => "sftp",
            Self::Mail => "mail",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = UserError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "ftp" => Ok(Self::Ftp),
            "ftps" => Ok(Self::Ftps),
            "sftp" => Ok(Self::Sftp),
            "mail" => Ok(Self::Mail),
            other => Err(UserError::InvalidProtocol(other.chars().take(20).collect())),
        }
    }
}

/// How a partner's uploads into its inbox over plain FTP are treated (`--inbox-ftp-plain`). On a
/// plain FTP data connection the end of a file is the connection's close, so a client killed
/// mid-upload looks like one that finished; these choose what the server does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InboxFtpPlain {
    /// Stored and processed like any other upload (the behaviour before this setting).
    Accept,
    /// Only under a temporary name (one the inbox never processes, e.g. `orders.csv.part`),
    /// processed once the client renames it to its final name after the transfer.
    RequireRename,
    /// Refused: uploads need FTPS (with a protected data channel) or SFTP.
    Refuse,
}

impl InboxFtpPlain {
    /// The name used in the CLI, the configuration, the database and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::RequireRename => "require-rename",
            Self::Refuse => "refuse",
        }
    }
}

impl fmt::Display for InboxFtpPlain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InboxFtpPlain {
    type Err = UserError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "accept" => Ok(Self::Accept),
            "require-rename" => Ok(Self::RequireRename),
            "refuse" => Ok(Self::Refuse),
            other => Err(UserError::InvalidInboxFtpPlain(
                other.chars().take(20).collect(),
            )),
        }
    }
}

/// The protocols one user may use; never empty. Serialized as a list of names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolSet {
    ftp: bool,
    ftps: bool,
    sftp: bool,
    mail: bool,
}

impl ProtocolSet {
    /// Every file-transfer protocol (FTP, FTPS, SFTP); mail is only granted by name.
    pub fn all() -> Self {
        Self {
            ftp: true,
            ftps: true,
            sftp: true,
            mail: false,
        }
    }

    /// Whether `protocol` is allowed.
    pub fn allows(self, protocol: Protocol) -> bool {
        match protocol {
            Protocol::Ftp => self.ftp,
            Protocol::Ftps => self.ftps,
            Protocol::Sftp => self.sftp,
            Protocol::Mail => self.mail,
        }
    }

    /// The allowed protocols, in a fixed order.
    pub fn iter(self) -> impl Iterator<Item = Protocol> {
        [
            Protocol::Ftp,
            Protocol::Ftps,
            Protocol::Sftp,
            Protocol::Mail,
        ]
        .into_iter()
        .filter(move |p| self.allows(*p))
    }

    /// Parses a comma-separated list such as `ftps,sftp`.
    ///
    /// # Errors
    /// [`UserError::InvalidProtocol`] for an unknown name or an empty list.
    pub fn parse(text: &str) -> Result<Self, UserError> {
        let mut set = Self {
            ftp: false,
            ftps: false,
            sftp: false,
            mail: false,
        };
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            match part.parse::<Protocol>()? {
                Protocol::Ftp => set.ftp = true,
                Protocol::Ftps => set.ftps = true,
                Protocol::Sftp => set.sftp = true,
                Protocol::Mail => set.mail = true,
            }
        }
        if set.iter().next().is_none() {
            return Err(UserError::InvalidProtocol(String::from("(none)")));
        }
        Ok(set)
    }
}

impl Serialize for ProtocolSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(Protocol::as_str))
    }
}

impl fmt::Display for ProtocolSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Protocol::as_str).collect();
        f.write_str(&names.join(","))
    }
}

/// A partner account as stored (without its password hash, which never leaves the store).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    /// Login name; also the name of the home folder.
    pub name: String,
    /// The customer code the user's orders belong to.
    pub customer: String,
    /// Whether the user may log in.
    pub enabled: bool,
    /// Protocols the user may log in with.
    pub protocols: ProtocolSet,
    /// Whether FTP logins must be secured with TLS, control and data.
    pub require_tls: bool,
    /// Format every file of this user is parsed as, whatever its extension.
    pub format: Option<String>,
    /// Largest file the user may upload, in bytes.
    pub max_upload_bytes: Option<u64>,
    /// How its plain-FTP inbox uploads are treated; `None` follows the server's
    /// `--inbox-ftp-plain`.
    pub inbox_ftp_plain: Option<InboxFtpPlain>,
    /// SSH public keys for SFTP logins, in OpenSSH one-line form.
    pub keys: Vec<UserKey>,
    /// Who may mail files to the account: addresses or `*@domain`, lower-case, sorted. Empty:
    /// no mail is accepted, even with the mail protocol.
    pub mail_senders: Vec<String>,
    /// When the account was made (Unix seconds).
    pub created_at: i64,
    /// When the account was last changed (Unix seconds).
    pub updated_at: i64,
    /// When the user last logged in (Unix seconds), if ever.
    pub last_login_at: Option<i64>,
    /// The protocol of the last login (`ftp`, `ftps` or `sftp`), if ever.
    pub last_login_protocol: Option<String>,
}

/// One SSH public key of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserKey {
    /// `SHA256:...`, as `ssh-keygen -lf` shows it.
    pub fingerprint: String,
    /// The key in OpenSSH one-line form.
    pub public_key: String,
}

/// What is needed to make a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name.
    pub name: String,
    /// Customer code.
    pub customer: String,
    /// The first password.
    pub password: Password,
    /// Allowed protocols.
    pub protocols: ProtocolSet,
    /// Whether FTP must use TLS.
    pub require_tls: bool,
    /// Format override.
    pub format: Option<String>,
    /// Upload size limit in bytes.
    pub max_upload_bytes: Option<u64>,
    /// Plain-FTP inbox uploads; `None` follows the server's default.
    pub inbox_ftp_plain: Option<InboxFtpPlain>,
}

/// Changes to a user's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// New customer code.
    pub customer: Option<String>,
    /// New protocol set.
    pub protocols: Option<ProtocolSet>,
    /// New TLS requirement.
    pub require_tls: Option<bool>,
    /// New format override (`Some(None)` clears it).
    pub format: Option<Option<String>>,
    /// New upload limit (`Some(None)` clears it).
    pub max_upload_bytes: Option<Option<u64>>,
    /// New plain-FTP inbox policy (`Some(None)`: follow the server's default).
    pub inbox_ftp_plain: Option<Option<InboxFtpPlain>>,
    /// Enabled or disabled.
    pub enabled: Option<bool>,
    /// The whole new list of mail senders (addresses or `*@domain`).
    pub mail_senders: Option<Vec<String>>,
}

/// Checks a login name: 1 to 32 letters, digits, `.`, `_` or `-`, starting with a letter or
/// digit (it becomes a folder name, so nothing else is allowed).
///
/// # Errors
/// [`UserError::InvalidName`].
pub fn check_name(name: &str) -> Result<(), UserError> {
    let valid = (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(UserError::InvalidName(name.chars().take(40).collect()))
    }
}

/// Checks a customer code: 1 to 20 letters, digits, `.`, `_` or `-` (the `customerID` of the
/// order files has at most 20 characters).
///
/// # Errors
/// [`UserError::InvalidCustomer`].
pub fn check_customer(code: &str) -> Result<(), UserError> {
    let valid = (1..=20).contains(&code.len())
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(UserError::InvalidCustomer(code.chars().take(40).collect()))
    }
}

/// Normalises a format override to one of [`FORMATS`], lower-case, without a leading dot.
///
/// # Errors
/// [`UserError::InvalidFormat`].
pub fn normalize_format(format: &str) -> Result<String, UserError> {
    let format = format.trim().trim_start_matches('.').to_ascii_lowercase();
    if FORMATS.contains(&format.as_str()) {
        Ok(format)
    } else {
        Err(UserError::InvalidFormat(format.chars().take(20).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["alice", "carrier-12", "a", "dhl.nl", "x_1"] {
            check_name(good).unwrap();
        }
        for bad in [
            "",
            ".hidden",
            "-x",
            "a/b",
            "a b",
            "..",
            "é",
            &"a".repeat(33),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn customers() {
        check_customer("1234").unwrap();
        assert!(check_customer(&"1".repeat(21)).is_err());
        assert!(check_customer("12 34").is_err());
    }

    #[test]
    fn protocol_sets() {
        let set = ProtocolSet::parse("sftp, FTPS").unwrap();
        assert!(set.allows(Protocol::Sftp) && set.allows(Protocol::Ftps));
        assert!(!set.allows(Protocol::Ftp));
        assert_eq!(set.to_string(), "ftps,sftp");
        assert!(ProtocolSet::parse("").is_err());
        assert!(ProtocolSet::parse("ftp,scp").is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(normalize_format(".CSV").unwrap(), "csv");
        assert!(normalize_format("pdf").is_err());
    }
}
