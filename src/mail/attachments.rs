//! The attachments of one MIME message, read with `mail-parser` (no hand-written MIME): each
//! attachment part (Content-Disposition attachment, or a named non-text part) with a safe file
//! name and its SHA-256, plus the Message-ID and subject the reply and the dedupe need, and the
//! `Authentication-Results` headers for `--mail-require-auth-results`.
//!
//! Known limit: `mail-parser` decodes the charset of `text/*` parts to UTF-8, so a text attachment
//! in another charset arrives as its UTF-8 form; binary parts keep their bytes.

use std::collections::HashSet;

use mail_parser::{MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

/// Longest file name kept, in bytes; longer names are cut on a character boundary.
const MAX_NAME: usize = 200;

/// One attachment, ready for the upload path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// A safe name: no path parts, no control characters, not hidden, unique in the message.
    pub name: String,
    /// The decoded content.
    pub bytes: Vec<u8>,
    /// Lower-case hex SHA-256 of `bytes`, for the dedupe of a message delivered twice.
    pub sha256: String,
}

/// What the channel needs from one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The Message-ID header, without angle brackets.
    pub message_id: Option<String>,
    /// The Subject header.
    pub subject: Option<String>,
    /// The raw values of the top-level `Authentication-Results` headers, in message order.
    pub authentication_results: Vec<String>,
    /// The attachments, in message order.
    pub attachments: Vec<Attachment>,
    /// The References header's message IDs, without angle brackets.
    pub references: Vec<String>,
    /// The Auto-Submitted header's value (RFC 3834), trimmed.
    pub auto_submitted: Option<String>,
    /// The Precedence header's value, trimmed.
    pub precedence: Option<String>,
    /// Whether the message has a `List-*` header (RFC 2369, RFC 2919).
    pub list_header: bool,
}

/// Why a message is refused; each text is fit for a 5xx reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MimeError {
    /// The bytes are not a message the parser can read.
    #[error("the message is not valid MIME")]
    Malformed,
    /// The message holds no attachment.
    #[error("the message has no attachment; send each file as a MIME attachment")]
    NoAttachment,
    /// More attachments than the limit.
    #[error("the message has {found} attachments; at most {limit} are accepted")]
    TooMany {
        /// Attachments found.
        found: usize,
        /// The limit.
        limit: usize,
    },
}

/// Reads the attachments of `raw`, at most `max_attachments` of them.
///
/// # Errors
/// A [`MimeError`] when the message is unreadable, has no attachment or too many.
pub fn read(raw: &[u8], max_attachments: usize) -> Result<Mail, MimeError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(MimeError::Malformed)?;
    if message.headers().is_empty() {
        return Err(MimeError::Malformed);
    }
    let parts: Vec<_> = message
        .parts
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != 0 || message.parts.len() == 1)
        .filter(|(_, part)| !part.is_multipart() && !part.is_message())
        .filter(|(_, part)| {
            part.content_disposition()
                .is_some_and(|cd| cd.is_attachment())
                || (part.attachment_name().is_some() && !part.is_text())
        })
        .map(|(_, part)| part)
        .collect();
    if parts.is_empty() {
        return Err(MimeError::NoAttachment);
    }
    if parts.len() > max_attachments {
        return Err(MimeError::TooMany {
            found: parts.len(),
            limit: max_attachments,
        });
    }
    let mut taken = HashSet::new();
    let attachments = parts
        .into_iter()
        .enumerate()
        .map(|(index, part)| {
            let base = safe_name(part.attachment_name().unwrap_or(""), index + 1);
            let name = unique(base, &mut taken);
            let bytes = part.contents().to_vec();
            let sha256 = hex::encode(Sha256::digest(&bytes));
            Attachment {
                name,
                bytes,
                sha256,
            }
        })
        .collect();
    let raw_header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    Ok(Mail {
        message_id: message.message_id().map(str::to_owned),
        subject: message.subject().map(str::to_owned),
        authentication_results: message
            .headers_raw()
            .filter(|(name, _)| name.eq_ignore_ascii_case("Authentication-Results"))
            .map(|(_, value)| value.to_owned())
            .collect(),
        attachments,
        references: message
            .references()
            .as_text_list()
            .map(|ids| ids.iter().map(|id| id.to_string()).collect())
            .unwrap_or_default(),
        auto_submitted: raw_header("Auto-Submitted"),
        precedence: raw_header("Precedence"),
        list_header: message.headers().iter().any(|h| {
            h.name()
                .get(..5)
                .is_some_and(|p| p.eq_ignore_ascii_case("list-"))
        }),
    })
}

/// A file name from an attachment's `filename`: the last path part, control characters and
/// leading dots removed, cut to [`MAX_NAME`] bytes; `attachment-N.bin` when nothing is left.
pub fn safe_name(raw: &str, index: usize) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = last.chars().filter(|c| !c.is_control()).collect();
    let trimmed = clean.trim().trim_start_matches('.').trim();
    let mut name = String::new();
    for c in trimmed.chars() {
        if name.len() + c.len_utf8() > MAX_NAME {
            break;
        }
        name.push(c);
    }
    if name.is_empty() || name == ".." {
        format!("attachment-{index}.bin")
    } else {
        name
    }
}

fn unique(base: String, taken: &mut HashSet<String>) -> String {
    if taken.insert(base.to_lowercase()) {
        return base;
    }
    let (stem, ext) = match base.rfind('.') {
        Some(dot) if dot > 0 => base.split_at(dot),
        _ => (base.as_str(), ""),
    };
    (2..)
        .map(|n| format!("{stem}-{n}{ext}"))
        .find(|candidate| taken.insert(candidate.to_lowercase()))
        .unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(parts: &[(&str, &str, &str)]) -> Vec<u8> {
        let mut m = String::from(
            "From: a@partner.example\r\nTo: edi+acme@orders.example\r\nSubject: orders\r\n\
             Message-ID: <m1@partner.example>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n\
             Content-Type: text/plain\r\n\r\nsee attached\r\n",
        );
        for (ctype, disposition, body) in parts {
            m.push_str(&format!(
                "--B\r\nContent-Type: {ctype}\r\n{disposition}\r\n\r\n{body}\r\n"
            ));
        }
        m.push_str("--B--\r\n");
        m.into_bytes()
    }

    #[test]
    fn attachments_are_read_with_names_hashes_and_headers() {
        let raw = message(&[
            (
                "text/csv",
                "Content-Disposition: attachment; filename=\"orders.csv\"",
                "a;b\r\n1;2",
            ),
            (
                "application/octet-stream; name=\"x.xlsx\"",
                "Content-Transfer-Encoding: base64",
                "UEsDBA==",
            ),
        ]);
        let mail = read(&raw, 10).expect("read");
        assert_eq!(mail.message_id.as_deref(), Some("m1@partner.example"));
        assert_eq!(mail.subject.as_deref(), Some("orders"));
        assert!(mail.authentication_results.is_empty());
        assert_eq!(mail.attachments.len(), 2);
        assert_eq!(mail.auto_submitted, None);
        assert!(!mail.list_header);
        assert_eq!(mail.attachments[0].name, "orders.csv");
        assert_eq!(mail.attachments[0].bytes, b"a;b\r\n1;2");
        assert_eq!(mail.attachments[1].name, "x.xlsx");
        assert_eq!(mail.attachments[1].bytes, b"PK\x03\x04");
        assert_eq!(
            mail.attachments[1].sha256,
            hex::encode(Sha256::digest(b"PK\x03\x04"))
        );
    }

    #[test]
    fn the_headers_a_reply_depends_on_are_read() {
        let mut raw =
            b"References: <a@x.example> <b@x.example>\r\nAuto-Submitted: auto-generated\r\n\
                        Precedence:  bulk \r\nList-Id: <orders.x.example>\r\n"
                .to_vec();
        raw.extend(message(&[(
            "text/csv",
            "Content-Disposition: attachment; filename=a.csv",
            "x",
        )]));
        let mail = read(&raw, 10).expect("read");
        assert_eq!(mail.references, ["a@x.example", "b@x.example"]);
        assert_eq!(mail.auto_submitted.as_deref(), Some("auto-generated"));
        assert_eq!(mail.precedence.as_deref(), Some("bulk"));
        assert!(mail.list_header);
    }

    #[test]
    fn the_text_body_alone_is_no_attachment() {
        let raw = message(&[]);
        assert_eq!(read(&raw, 10), Err(MimeError::NoAttachment));
        let plain = b"From: a@b.example\r\nSubject: hi\r\n\r\njust text\r\n";
        assert_eq!(read(plain, 10), Err(MimeError::NoAttachment));
    }

    #[test]
    fn too_many_attachments_are_refused() {
        let part = (
            "text/csv",
            "Content-Disposition: attachment; filename=a.csv",
            "x",
        );
        let raw = message(&[part, part, part]);
        assert_eq!(
            read(&raw, 2),
            Err(MimeError::TooMany { found: 3, limit: 2 })
        );
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(read(b"", 10), Err(MimeError::Malformed));
    }

    #[test]
    fn names_are_made_safe_and_unique() {
        assert_eq!(safe_name("../../etc/passwd", 1), "passwd");
        assert_eq!(safe_name("C:\\temp\\o.csv", 1), "o.csv");
        assert_eq!(safe_name(".hidden.csv", 1), "hidden.csv");
        assert_eq!(safe_name("a\u{0}b\nc.csv", 1), "abc.csv");
        assert_eq!(safe_name("..", 3), "attachment-3.bin");
        assert_eq!(safe_name("", 2), "attachment-2.bin");
        assert_eq!(safe_name(&"é".repeat(300), 1).len(), MAX_NAME);
        let part = (
            "text/csv",
            "Content-Disposition: attachment; filename=a.csv",
            "x",
        );
        let names: Vec<_> = read(&message(&[part, part, part]), 10)
            .expect("read")
            .attachments
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, ["a.csv", "a-2.csv", "a-3.csv"]);
    }
}
