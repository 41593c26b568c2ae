//! `--mail-require-auth-results`: whether a message carries an `Authentication-Results` header
//! (RFC 8601) written by the site's own MTA, named by its authserv-id, that says `dkim=pass` or
//! `spf=pass`. The headers are read by `mail-parser` ([`super::attachments`]); this file reads
//! the one header's value: `authserv-id [version] *( ";" method=result ... )`, comments in
//! parentheses ignored. Headers with any other authserv-id are not believed (anyone can write
//! them); the site's MTA must remove the ones claiming its own id that arrive from outside, as
//! OpenDKIM, OpenDMARC and rspamd do.

/// Whether one of `headers` (the raw values of the message's `Authentication-Results`
/// headers) has `authserv_id` and a `dkim=pass` or `spf=pass` result.
pub fn passes(headers: &[String], authserv_id: &str) -> bool {
    headers.iter().any(|value| {
        let text = without_comments(value);
        let mut parts = text.split(';');
        let id = parts
            .next()
            .and_then(|first| first.split_whitespace().next())
            .unwrap_or("");
        id.eq_ignore_ascii_case(authserv_id) && parts.any(passed)
    })
}

/// Whether one `method=result ...` clause is a DKIM or SPF pass.
fn passed(clause: &str) -> bool {
    let Some((method, rest)) = clause.trim().split_once('=') else {
        return false;
    };
    // A method may carry a version: `dkim/1`.
    let method = method.trim().split('/').next().unwrap_or("").trim();
    let result = rest.split_whitespace().next().unwrap_or("");
    (method.eq_ignore_ascii_case("dkim") || method.eq_ignore_ascii_case("spf"))
        && result.eq_ignore_ascii_case("pass")
}

/// `value` with its (possibly nested) comments removed and quoted strings kept.
fn without_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> Vec<String> {
        vec![value.to_owned()]
    }

    #[test]
    fn a_pass_of_the_trusted_id_counts() {
        assert!(passes(
            &one(" mx.site.example;\r\n\tdkim=pass header.d=partner.example header.s=s1"),
            "mx.site.example"
        ));
        assert!(passes(
            &one(
                "MX.Site.Example 1; spf=pass (sender SPF authorized) smtp.mailfrom=partner.example"
            ),
            "mx.site.example"
        ));
        assert!(passes(
            &one("mx.site.example; dkim=fail; spf = pass smtp.mailfrom=a.example"),
            "mx.site.example"
        ));
    }

    #[test]
    fn failures_other_ids_and_comments_do_not() {
        let id = "mx.site.example";
        assert!(!passes(
            &one("mx.site.example; dkim=fail; spf=softfail"),
            id
        ));
        assert!(!passes(&one("evil.example; dkim=pass"), id));
        assert!(!passes(&one("mx.site.example; none"), id));
        assert!(!passes(&one("mx.site.example; dmarc=pass"), id));
        assert!(!passes(
            &one("mx.site.example; spf=neutral (dkim=pass said nobody)"),
            id
        ));
        assert!(!passes(&one("mx.site.example.evil; spf=pass"), id));
        assert!(!passes(&[], id));
        // One header of the trusted id that passes among others is enough.
        assert!(passes(
            &[
                "evil.example; dkim=pass".to_owned(),
                "mx.site.example; spf=pass".to_owned()
            ],
            id
        ));
    }
}
