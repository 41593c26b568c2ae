//! The error reply to a rejected mailed file, built with `lettre`'s message builder (no
//! hand-written MIME): `Re: <subject>` naming the file, `In-Reply-To` and `References` to the
//! partner's message, `Auto-Submitted: auto-replied` (RFC 3834), the report in the body and
//! attached as `<name>.error.txt`, the original file attached. Values in, bytes out; no I/O.

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Message;

/// The `Auto-Submitted: auto-replied` header (RFC 3834 section 5).
#[derive(Debug, Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-replied".to_owned())
    }
}

/// What the reply is made of.
#[derive(Debug, Clone)]
pub struct Reply<'a> {
    /// The From address (the server's).
    pub from: &'a str,
    /// The partner's address (the envelope sender of its message).
    pub to: &'a str,
    /// The Message-ID of the partner's message, without angle brackets.
    pub message_id: Option<&'a str>,
    /// The References of the partner's message, without angle brackets.
    pub references: &'a [String],
    /// The subject of the partner's message.
    pub subject: Option<&'a str>,
    /// The file's name in the inbox (the attachment's safe name).
    pub file_name: &'a str,
    /// The error report.
    pub report: &'a str,
    /// The rejected file, when it could still be read.
    pub file: Option<&'a [u8]>,
}

/// Why no reply could be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// An address is not a mail address.
    #[error("not a mail address: {0}")]
    Address(String),
    /// The builder refused the message.
    #[error("the reply could not be built: {0}")]
    Message(#[from] lettre::error::Error),
}

/// The subject of the reply: `Re: <subject>` (no second `Re:`), with the file's name.
pub fn subject(original: Option<&str>, file_name: &str) -> String {
    let original = original.map(str::trim).unwrap_or("");
    let base = match original.get(..3) {
        Some(re) if re.eq_ignore_ascii_case("re:") => original[3..].trim_start(),
        _ => original,
    };
    if base.is_empty() {
        format!("Re: your file {file_name} was rejected")
    } else {
        format!("Re: {base} ({file_name} was rejected)")
    }
}

/// The reply as a whole message (headers and body), ready for the relay.
///
/// # Errors
/// [`BuildError`] when an address is invalid.
pub fn build(reply: &Reply<'_>, message_id_domain: &str) -> Result<Vec<u8>, BuildError> {
    let mailbox = |text: &str| {
        text.parse::<Mailbox>()
            .map_err(|_| BuildError::Address(text.to_owned()))
    };
    let mut builder = Message::builder()
        .from(mailbox(reply.from)?)
        .to(mailbox(reply.to)?)
        .subject(subject(reply.subject, reply.file_name))
        .message_id(Some(format!(
            "<{}@{message_id_domain}>",
            hex::encode(rand::random::<[u8; 16]>())
        )))
        .header(AutoSubmitted);
    if let Some(id) = reply.message_id {
        builder = builder.in_reply_to(format!("<{id}>"));
    }
    // References: the partner's own references, then its message (RFC 5322 section 3.6.4).
    let references: Vec<String> = reply
        .references
        .iter()
        .map(String::as_str)
        .chain(reply.message_id)
        .map(|id| format!("<{id}>"))
        .collect();
    if !references.is_empty() {
        builder = builder.references(references.join(" "));
    }
    let attached = if reply.file.is_some() {
        "The file and this report are attached."
    } else {
        "This report is attached; the file itself could no longer be read, so it is not."
    };
    let body = format!(
        "Your file {} was not accepted: nothing of it was processed.\n{attached}\nCorrect the \
         file and send it again.\n\n{}\n\n-- \nThis is an automatic reply; please do not \
         answer it.\n",
        reply.file_name, reply.report
    );
    let text_plain =
        ContentType::parse("text/plain; charset=utf-8").unwrap_or(ContentType::TEXT_PLAIN);
    let mut parts = MultiPart::mixed()
        .singlepart(SinglePart::builder().header(text_plain.clone()).body(body))
        .singlepart(
            Attachment::new(format!("{}.error.txt", reply.file_name))
                .body(reply.report.to_owned(), text_plain),
        );
    if let Some(file) = reply.file {
        let octets =
            ContentType::parse("application/octet-stream").unwrap_or(ContentType::TEXT_PLAIN);
        parts = parts
            .singlepart(Attachment::new(reply.file_name.to_owned()).body(file.to_vec(), octets));
    }
    Ok(builder.multipart(parts)?.formatted())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::{MessageParser, MimeHeaders};

    #[test]
    fn the_subject_names_the_file_once_with_one_re() {
        assert_eq!(
            subject(Some("orders week 12"), "o.csv"),
            "Re: orders week 12 (o.csv was rejected)"
        );
        assert_eq!(
            subject(Some("RE: x"), "o.csv"),
            "Re: x (o.csv was rejected)"
        );
        assert_eq!(subject(None, "o.csv"), "Re: your file o.csv was rejected");
    }

    #[test]
    fn the_reply_has_both_attachments_and_the_rfc_3834_headers() {
        let references = ["a@partner.example".to_owned()];
        let raw = build(
            &Reply {
                from: "postmaster@orders.example",
                to: "orders@partner.example",
                message_id: Some("m1@partner.example"),
                references: &references,
                subject: Some("orders"),
                file_name: "o.csv",
                report: "line 2: no shipment ID",
                file: Some(b"a;b\n1;2\n"),
            },
            "orders.example",
        )
        .expect("build");
        let message = MessageParser::default().parse(&raw).expect("parse");
        assert_eq!(
            message.header_raw("Auto-Submitted").map(str::trim),
            Some("auto-replied")
        );
        assert_eq!(message.in_reply_to().as_text(), Some("m1@partner.example"));
        assert_eq!(message.references().as_text_list().map(<[_]>::len), Some(2));
        assert_eq!(message.subject(), Some("Re: orders (o.csv was rejected)"));
        let names: Vec<_> = message
            .attachments()
            .map(|a| a.attachment_name().unwrap_or("").to_owned())
            .collect();
        assert_eq!(names, ["o.csv.error.txt", "o.csv"]);
        assert_eq!(
            message.attachments().nth(1).map(|a| a.contents().to_vec()),
            Some(b"a;b\n1;2\n".to_vec())
        );
        assert!(message
            .body_text(0)
            .is_some_and(|b| b.contains("line 2: no shipment ID")));
    }
}
