//! The track & trace answer as XML: `<order>` with one element per flat field, `<goods>` with a
//! `<line>` per goods line and `<statusHistory>` with a `<status at="..">` per public event.
//! Every value is escaped here; characters XML 1.0 can't carry become U+FFFD.

use std::fmt::Write as _;

use super::view::{Fields, OrderView};

/// The XML document of `view`.
pub fn order(view: &OrderView) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<order>\n");
    write_fields(&mut out, &view.fields, "  ");
    out.push_str("  <goods>\n");
    for line in &view.goods {
        out.push_str("    <line>\n");
        write_fields(&mut out, line, "      ");
        out.push_str("    </line>\n");
    }
    out.push_str("  </goods>\n  <statusHistory>\n");
    for event in &view.history {
        let _ = write!(out, "    <status at=\"{}\"", escape(&event.at));
        for (name, value) in [
            ("location", &event.location),
            ("signee", &event.signee),
            ("remarks", &event.remarks),
        ] {
            if let Some(value) = value {
                let _ = write!(out, " {name}=\"{}\"", escape(value));
            }
        }
        let _ = writeln!(out, ">{}</status>", escape(&event.status));
    }
    out.push_str("  </statusHistory>\n</order>\n");
    out
}

/// A one-element error document: `<error>message</error>`.
pub fn error(message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>{}</error>\n",
        escape(message)
    )
}

fn write_fields(out: &mut String, fields: &Fields, indent: &str) {
    for (name, value) in fields {
        // Names are our own constants, never client data.
        let _ = writeln!(out, "{indent}<{name}>{}</{name}>", escape(&value.as_text()));
    }
}

/// `text` escaped for element content and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Whether XML 1.0 allows `c` in a document (the `Char` production, less tab and newlines,
/// which [`escape`] writes as references).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::super::view::tests::tracked;
    use super::*;

    #[test]
    fn values_are_escaped() {
        assert_eq!(
            escape("a&b<c>\"d\"'e'"),
            "a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;"
        );
        assert_eq!(escape("x\u{1}y\u{FFFF}z"), "x\u{FFFD}y\u{FFFD}z");
        assert_eq!(escape("tab\there"), "tab&#9;here");
        assert_eq!(escape("Zoë 東京"), "Zoë 東京");
    }

    #[test]
    fn the_order_document_has_flat_fields_goods_and_history() {
        let xml = order(&OrderView::of(&tracked()));
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<order>\n"));
        assert!(xml.contains("<shipmentID>S1</shipmentID>"));
        assert!(xml.contains("<orderReference>PO-1 &amp; &lt;2&gt;</orderReference>"));
        assert!(xml.contains("<deliveryPostcode>7418 EV</deliveryPostcode>"));
        assert!(xml.contains("<pickupName>Warehouse</pickupName>"));
        assert!(
            xml.contains("<line>\n      <quantity>10</quantity>\n      <packing>carton</packing>")
        );
        assert!(xml.contains(
            "<status at=\"2025-06-02T14:20:00\" location=\"Deventer\">delivered</status>"
        ));
        assert!(!xml.contains("batchentry"));
        assert!(xml.ends_with("</statusHistory>\n</order>\n"));
    }

    #[test]
    fn the_error_document_is_escaped() {
        assert_eq!(
            error("a<b"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>a&lt;b</error>\n"
        );
    }
}
