//! What a recipient means and what becomes of a message for it: [`route`] reads an envelope
//! recipient (RCPT TO) into the account it names, refusing what may not receive mail and senders
//! the account does not list (the envelope's MAIL FROM, known by then), and
//! [`deliver`] puts every attachment of an accepted message into that account's inbox through
//! the partner-file core's upload path (staged under a hidden name, synced, published without
//! replacing anything, with the address's `+ext` as the file's own format), which reports each
//! file to the inbox like any upload.

use std::net::SocketAddr;

use super::address::{self, AddressError};
use super::attachments::Attachment;
use crate::config::MailConfig;
use crate::partner::{AccountRules, FileError, Partner, Partners, UploadMode};
use crate::replies::MailedFile;
use crate::users::{mail_sender_allowed, Protocol, User, UserStore};

/// How many other names an attachment tries when its own is taken in the inbox.
const MAX_SUFFIX: usize = 1000;

/// An accepted recipient: the account the message's attachments go to.
#[derive(Debug, Clone)]
pub struct Route {
    /// The recipient as given, for the log.
    pub address: String,
    /// The account.
    pub user: User,
    /// The format every attachment is read as (`+ext`), over the account's and the extension.
    pub format: Option<&'static str>,
}

/// Why a recipient is refused. Every text but [`RouteError::Unavailable`]'s is permanent (5xx)
/// and fit for the client.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The address itself is refused (domain, prefix, name, format).
    #[error("{0}")]
    Address(#[from] AddressError),
    /// No account by that name.
    #[error("no such mailbox")]
    NoAccount,
    /// The account is disabled.
    #[error("this mailbox is disabled")]
    Disabled,
    /// The account may not use the mail channel.
    #[error("this account does not accept files by mail")]
    NotForMail,
    /// The address names a customer other than the account's.
    #[error("this account may not send files for that customer")]
    Customer,
    /// The account lists no mail sender, so it accepts no mail.
    #[error("this account accepts mail from no sender")]
    NoSenders,
    /// The envelope sender is not one the account lists (the null sender never is).
    #[error("this account does not accept mail from this sender")]
    Sender,
    /// The user store could not be asked (a temporary failure).
    #[error("the server can't check this mailbox now; try again later")]
    Unavailable,
}

impl RouteError {
    /// The reply code and enhanced status code for this refusal.
    pub fn code(&self) -> (u16, &'static str) {
        match self {
            Self::Address(AddressError::Domain) => (550, "5.1.2"),
            Self::Address(AddressError::Malformed) => (550, "5.1.3"),
            Self::Address(_) | Self::NoAccount => (550, "5.1.1"),
            Self::Disabled => (550, "5.2.1"),
            Self::NotForMail | Self::Customer | Self::NoSenders | Self::Sender => (550, "5.7.1"),
            Self::Unavailable => (451, "4.3.0"),
        }
    }
}

/// Reads `recipient` against the accepted domains and prefix, finds the account it names, and
/// checks `sender` (the envelope's MAIL FROM, empty for the null sender) against the account's
/// mail senders.
///
/// # Errors
/// A [`RouteError`] naming why the recipient is refused.
pub async fn route(
    users: &UserStore,
    config: &MailConfig,
    sender: &str,
    recipient: &str,
) -> Result<Route, RouteError> {
    let parsed = address::parse(recipient, &config.domains, &config.prefix)?;
    let names = match &parsed.customer {
        Some(customer) => format!("{}.{customer}", parsed.account),
        None => parsed.account.clone(),
    };
    // A dotted account name may read several ways; the first whose account exists wins.
    let mut found = None;
    for (account, customer) in address::splits(&names) {
        match users.get(&account).await {
            Ok(Some(user)) => {
                found = Some((user, customer));
                break;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "mail recipient check failed: user store unavailable");
                return Err(RouteError::Unavailable);
            }
        }
    }
    let (user, customer) = found.ok_or(RouteError::NoAccount)?;
    if !user.enabled {
        return Err(RouteError::Disabled);
    }
    if !user.protocols.allows(Protocol::Mail) {
        return Err(RouteError::NotForMail);
    }
    if customer.is_some_and(|c| !c.eq_ignore_ascii_case(&user.customer)) {
        return Err(RouteError::Customer);
    }
    if user.mail_senders.is_empty() {
        return Err(RouteError::NoSenders);
    }
    if !mail_sender_allowed(&user.mail_senders, sender) {
        return Err(RouteError::Sender);
    }
    Ok(Route {
        address: recipient.to_owned(),
        user,
        format: parsed.format,
    })
}

/// Puts each of `attachments` into the inbox of `route`'s account; returns the names they got,
/// with the size and inode that tie each to its inbox ledger row.
/// Each is durable (synced, published, folder synced) before the next starts; an attachment
/// whose name is taken gets `-2`, `-3`, ... before its extension.
///
/// # Errors
/// The first [`FileError`]; the attachments before it stay delivered.
pub async fn deliver(
    partners: &Partners,
    route: &Route,
    peer: Option<SocketAddr>,
    attachments: &[Attachment],
) -> Result<Vec<MailedFile>, FileError> {
    let partner = Partner {
        user: route.user.name.clone(),
        protocol: Protocol::Mail,
        peer,
    };
    let session = partners.session(partner, AccountRules::of(&route.user))?;
    let mut names = Vec::with_capacity(attachments.len());
    for attachment in attachments {
        let mut stored = None;
        for candidate in candidates(&attachment.name) {
            let wire = format!("/{candidate}");
            let begun = match route.format {
                Some(format) => {
                    session
                        .begin_upload_as(&wire, UploadMode::New, format)
                        .await
                }
                None => session.begin_upload(&wire, UploadMode::New).await,
            };
            let upload = match begun {
                Ok(upload) => upload,
                Err(FileError::Exists) => continue,
                Err(e) => return Err(e),
            };
            let bytes = attachment.bytes.clone();
            let committed = tokio::task::spawn_blocking(move || {
                upload.append(&bytes)?;
                // The staged file keeps its inode when it is put in place.
                let inode = std::os::unix::fs::MetadataExt::ino(&upload.file().metadata()?);
                upload.commit().map(|size| (size, inode))
            })
            .await
            .map_err(|e| FileError::Io(std::io::Error::other(e)))?;
            match committed {
                Ok((size, inode)) => {
                    stored = Some(MailedFile {
                        name: candidate,
                        size,
                        inode,
                    });
                    break;
                }
                Err(FileError::Exists) => continue,
                Err(e) => return Err(e),
            }
        }
        names.push(stored.ok_or(FileError::Exists)?);
    }
    Ok(names)
}

/// `name`, then `stem-2.ext`, `stem-3.ext`, ... up to [`MAX_SUFFIX`].
fn candidates(name: &str) -> impl Iterator<Item = String> + '_ {
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    };
    std::iter::once(name.to_owned())
        .chain((2..=MAX_SUFFIX).map(move |n| format!("{stem}-{n}{ext}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_names_get_a_suffix_before_the_extension() {
        let names: Vec<_> = candidates("orders.csv").take(3).collect();
        assert_eq!(names, ["orders.csv", "orders-2.csv", "orders-3.csv"]);
        let bare: Vec<_> = candidates("README").take(2).collect();
        assert_eq!(bare, ["README", "README-2"]);
        assert_eq!(candidates("a.csv").count(), MAX_SUFFIX);
    }
}
