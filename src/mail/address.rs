//! The recipient address of the mail channel: `<prefix>+<account>[.<customer>][+<ext>]@<domain>`,
//! compared without regard to case. Routing is on the envelope recipient (RCPT TO) only; this
//! module reads that address and nothing else.

use crate::users::{check_customer, check_name, FORMATS};

/// What a recipient address names, read at the first `.` of the names part (the issue's
/// `edi+acme.1234`); [`splits`] gives the other readings for a dotted account name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The account, lower-cased.
    pub account: String,
    /// The customer the file is sent for, if the address names one.
    pub customer: Option<String>,
    /// The format that overrides every attachment's extension, if the address names one.
    pub format: Option<&'static str>,
}

/// Account names may hold a `.` themselves, so `a.b.c` reads as several (account, customer)
/// pairs; the listener takes the first whose account exists. Longest account first.
pub fn splits(names: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    if check_name(names).is_ok() {
        out.push((names.to_owned(), None));
    }
    for (dot, _) in names.rmatch_indices('.') {
        let (account, customer) = (&names[..dot], &names[dot + 1..]);
        if check_name(account).is_ok() && check_customer(customer).is_ok() {
            out.push((account.to_owned(), Some(customer.to_owned())));
        }
    }
    out
}

/// Why an address is refused; each text is fit to send to the client in a 550.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// No `@`, or an empty local part or domain.
    #[error("not a mail address")]
    Malformed,
    /// The domain is not one this server accepts mail for.
    #[error("this server does not accept mail for that domain")]
    Domain,
    /// The local part does not start with `<prefix>+`.
    #[error("no such mailbox; addresses have the form {0}+ACCOUNT[.CUSTOMER][+FORMAT]")]
    Prefix(String),
    /// The account or customer part is empty or holds characters no name has.
    #[error("no such mailbox: the account or customer part is not a valid name")]
    Name,
    /// `+ext` names no format the server knows.
    #[error("unknown format {0:?}; known formats are csv, xml, xls, xlsx, ods, ttm")]
    Format(String),
}

/// Reads `address` (without angle brackets) against the accepted `domains` and the `prefix`.
///
/// # Errors
/// An [`AddressError`] saying which part is refused.
pub fn parse(address: &str, domains: &[String], prefix: &str) -> Result<Recipient, AddressError> {
    let address = address.trim().to_ascii_lowercase();
    let (local, domain) = address.rsplit_once('@').ok_or(AddressError::Malformed)?;
    if local.is_empty() || domain.is_empty() {
        return Err(AddressError::Malformed);
    }
    if !domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
        return Err(AddressError::Domain);
    }
    let prefix = prefix.to_ascii_lowercase();
    let rest = local
        .strip_prefix(prefix.as_str())
        .and_then(|r| r.strip_prefix('+'))
        .ok_or_else(|| AddressError::Prefix(prefix.clone()))?;
    let (names, ext) = match rest.split_once('+') {
        Some((names, ext)) => (names, Some(ext)),
        None => (rest, None),
    };
    let (account, customer) = splits(names).into_iter().last().ok_or(AddressError::Name)?;
    let format = match ext {
        Some(ext) => Some(
            FORMATS
                .iter()
                .copied()
                .find(|f| *f == ext)
                .ok_or_else(|| AddressError::Format(ext.to_owned()))?,
        ),
        None => None,
    };
    Ok(Recipient {
        account,
        customer,
        format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains() -> Vec<String> {
        vec!["orders.example".to_owned(), "edi.example".to_owned()]
    }

    fn ok(address: &str) -> Recipient {
        parse(address, &domains(), "edi").expect("accepted")
    }

    #[test]
    fn the_four_forms_of_the_issue_are_read() {
        assert_eq!(
            ok("edi+acme@orders.example"),
            Recipient {
                account: "acme".into(),
                customer: None,
                format: None
            }
        );
        assert_eq!(
            ok("edi+acme.1234@orders.example").customer.as_deref(),
            Some("1234")
        );
        assert_eq!(ok("edi+acme+csv@orders.example").format, Some("csv"));
        let full = ok("edi+acme.1234+xml@edi.example");
        assert_eq!(full.account, "acme");
        assert_eq!(full.customer.as_deref(), Some("1234"));
        assert_eq!(full.format, Some("xml"));
    }

    #[test]
    fn case_does_not_matter() {
        let r = ok("EDI+Acme.X9+CSV@Orders.Example");
        assert_eq!(r.account, "acme");
        assert_eq!(r.customer.as_deref(), Some("x9"));
        assert_eq!(r.format, Some("csv"));
    }

    #[test]
    fn refusals_name_the_part() {
        let d = domains();
        assert_eq!(
            parse("edi+acme@other.example", &d, "edi"),
            Err(AddressError::Domain)
        );
        assert_eq!(
            parse("acme@orders.example", &d, "edi"),
            Err(AddressError::Prefix("edi".into()))
        );
        assert_eq!(
            parse("edix+acme@orders.example", &d, "edi"),
            Err(AddressError::Prefix("edi".into()))
        );
        assert_eq!(
            parse("edi+@orders.example", &d, "edi"),
            Err(AddressError::Name)
        );
        assert_eq!(
            parse("edi+.acme@orders.example", &d, "edi"),
            Err(AddressError::Name)
        );
        assert_eq!(
            parse("edi+ac/me@orders.example", &d, "edi"),
            Err(AddressError::Name)
        );
        assert_eq!(
            parse("edi+acme+pdf@orders.example", &d, "edi"),
            Err(AddressError::Format("pdf".into()))
        );
        assert_eq!(parse("edi+acme", &d, "edi"), Err(AddressError::Malformed));
        assert_eq!(
            parse("@orders.example", &d, "edi"),
            Err(AddressError::Malformed)
        );
    }

    #[test]
    fn dotted_account_names_give_every_split() {
        assert_eq!(
            splits("j.doe.1234"),
            [
                ("j.doe.1234".to_owned(), None),
                ("j.doe".to_owned(), Some("1234".to_owned())),
                ("j".to_owned(), Some("doe.1234".to_owned())),
            ]
        );
        assert_eq!(splits("acme"), [("acme".to_owned(), None)]);
    }

    #[test]
    fn another_prefix_is_honoured() {
        assert_eq!(
            parse("tms+acme@orders.example", &domains(), "TMS").map(|r| r.account),
            Ok("acme".into())
        );
    }
}
