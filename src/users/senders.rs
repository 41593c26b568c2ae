//! Who may mail files to an account: its sender patterns, each an address
//! (`orders@partner.example`) or every address of a domain (`*@partner.example`), compared
//! without regard to case. Mail has no password, so an account with the mail protocol and no
//! pattern accepts no mail at all; the null sender (`<>`, bounces) matches no pattern.

use super::store::UserError;

/// Longest pattern kept, in bytes (RFC 5321's limit on a path).
const MAX_PATTERN: usize = 254;

/// Checks a sender pattern and returns it lower-case.
///
/// # Errors
/// [`UserError::InvalidMailSender`] unless it is `local@domain` or `*@domain`, without spaces,
/// angle brackets or control characters.
pub fn check_mail_sender(pattern: &str) -> Result<String, UserError> {
    let pattern = pattern.trim().to_ascii_lowercase();
    let refused = || UserError::InvalidMailSender(pattern.chars().take(60).collect());
    if pattern.len() > MAX_PATTERN
        || pattern
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';'))
    {
        return Err(refused());
    }
    let (local, domain) = pattern.rsplit_once('@').ok_or_else(refused)?;
    let domain_ok = !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains(['@', '*']);
    let local_ok = local == "*" || (!local.is_empty() && !local.contains('*'));
    if domain_ok && local_ok {
        Ok(pattern)
    } else {
        Err(refused())
    }
}

/// Whether `sender` (the envelope's MAIL FROM, without angle brackets) matches one of
/// `patterns` (as [`check_mail_sender`] returns them). The null sender matches none.
pub fn mail_sender_allowed(patterns: &[String], sender: &str) -> bool {
    let sender = sender.trim().to_ascii_lowercase();
    let Some((local, domain)) = sender.rsplit_once('@') else {
        return false;
    };
    if local.is_empty() || domain.is_empty() {
        return false;
    }
    patterns
        .iter()
        .any(|pattern| match pattern.strip_prefix("*@") {
            Some(any_of) => any_of == domain,
            None => *pattern == sender,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_checked_and_lower_cased() {
        assert_eq!(
            check_mail_sender(" Orders@Partner.Example ").expect("address"),
            "orders@partner.example"
        );
        assert_eq!(
            check_mail_sender("*@Partner.Example").expect("domain"),
            "*@partner.example"
        );
        for bad in [
            "",
            "partner.example",
            "@partner.example",
            "a@",
            "a@.example",
            "a*@partner.example",
            "*@*.example",
            "<a@b.example>",
            "a b@c.example",
            "a@b.example,c@d.example",
        ] {
            assert!(check_mail_sender(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn senders_match_exactly_or_by_domain_without_case() {
        let patterns = vec![
            "orders@partner.example".to_owned(),
            "*@edi.example".to_owned(),
        ];
        assert!(mail_sender_allowed(&patterns, "Orders@PARTNER.example"));
        assert!(mail_sender_allowed(&patterns, "anyone@edi.example"));
        assert!(!mail_sender_allowed(&patterns, "other@partner.example"));
        assert!(!mail_sender_allowed(&patterns, "x@sub.edi.example"));
        assert!(!mail_sender_allowed(&patterns, "x@edi.example.evil"));
        assert!(!mail_sender_allowed(&patterns, ""));
        assert!(!mail_sender_allowed(&[], "orders@partner.example"));
    }
}
