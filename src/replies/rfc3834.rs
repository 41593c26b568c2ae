//! Whether a message may be answered automatically at all (RFC 3834 section 2): never a null
//! sender, a mailer daemon or a postmaster, never a message that says it was sent automatically
//! (`Auto-Submitted` other than `no`), nor bulk or list mail (`Precedence: bulk|list|junk`, any
//! `List-*` header). Facts in, a reason out; no I/O.

/// What a message says about itself that decides whether it may be answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts<'a> {
    /// The envelope sender (MAIL FROM), empty for the null sender `<>`.
    pub sender: &'a str,
    /// The `Auto-Submitted` header's value.
    pub auto_submitted: Option<&'a str>,
    /// The `Precedence` header's value.
    pub precedence: Option<&'a str>,
    /// Whether a `List-*` header is present.
    pub list_header: bool,
}

/// Why a message gets no automatic reply; `None` when it may get one.
pub fn no_reply(facts: &Facts<'_>) -> Option<&'static str> {
    let sender = facts.sender.trim();
    if sender.is_empty() || !sender.contains('@') {
        return Some("null sender");
    }
    let local = sender
        .rsplit_once('@')
        .map_or(sender, |(local, _)| local)
        .to_ascii_lowercase();
    // The local part without a `+detail`, as daemons often add one.
    let base = local.split('+').next().unwrap_or(&local);
    if matches!(
        base,
        "mailer-daemon" | "postmaster" | "mailer_daemon" | "maildaemon" | "noreply" | "no-reply"
    ) || base.starts_with("owner-")
        || base.ends_with("-request")
        || base.ends_with("-owner")
    {
        return Some("sender is a mailer daemon, postmaster, list or no-reply address");
    }
    if let Some(value) = facts.auto_submitted {
        // The keyword is the value up to its parameters (`auto-generated; owner-email=...`).
        let keyword = value.split(';').next().unwrap_or("").trim();
        if !keyword.eq_ignore_ascii_case("no") {
            return Some("message is auto-submitted");
        }
    }
    if let Some(value) = facts.precedence {
        let value = value.trim();
        if ["bulk", "list", "junk"]
            .iter()
            .any(|p| value.eq_ignore_ascii_case(p))
        {
            return Some("message has Precedence: bulk, list or junk");
        }
    }
    if facts.list_header {
        return Some("message is list mail (List-* header)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(sender: &str) -> Facts<'_> {
        Facts {
            sender,
            ..Facts::default()
        }
    }

    #[test]
    fn an_ordinary_partner_may_be_answered() {
        assert_eq!(no_reply(&from("orders@partner.example")), None);
        let manual = Facts {
            auto_submitted: Some("No"),
            precedence: Some("normal"),
            ..from("orders@partner.example")
        };
        assert_eq!(no_reply(&manual), None);
    }

    #[test]
    fn null_and_daemon_senders_are_never_answered() {
        for sender in [
            "",
            "<>",
            "MAILER-DAEMON@mx.partner.example",
            "postmaster@partner.example",
            "Postmaster+bounces@partner.example",
            "owner-orders@lists.example",
            "orders-request@lists.example",
            "no-reply@partner.example",
        ] {
            assert!(no_reply(&from(sender)).is_some(), "{sender}");
        }
    }

    #[test]
    fn automatic_bulk_and_list_mail_is_never_answered() {
        let sender = "orders@partner.example";
        for facts in [
            Facts {
                auto_submitted: Some("auto-generated"),
                ..from(sender)
            },
            Facts {
                auto_submitted: Some("auto-replied; owner-email=\"a@b\""),
                ..from(sender)
            },
            Facts {
                precedence: Some("BULK"),
                ..from(sender)
            },
            Facts {
                precedence: Some("junk"),
                ..from(sender)
            },
            Facts {
                list_header: true,
                ..from(sender)
            },
        ] {
            assert!(no_reply(&facts).is_some(), "{facts:?}");
        }
    }
}
