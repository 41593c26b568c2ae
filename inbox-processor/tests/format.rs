//! Picking the parser from a file name and a user's override.

use inbox_processor::parse::{is_temporary_name, Format, FormatError};

#[test]
fn by_extension_in_any_case() {
    let cases = [
        ("orders.csv", Format::Csv),
        ("ORDERS.CSV", Format::Csv),
        ("in/2025/orders.Xml", Format::Xml),
        ("a.b.xls", Format::Xls),
        ("report.XLSX", Format::Xlsx),
        ("sheet.ods", Format::Ods),
        ("mail.TTM", Format::Ttm),
        ("C:\\drop\\orders.csv", Format::Csv),
    ];
    for (name, format) in cases {
        assert_eq!(Format::from_name(name, None), Ok(Some(format)), "{name}");
    }
}

#[test]
fn override_wins() {
    assert_eq!(
        Format::from_name("orders.xml", Some("csv")),
        Ok(Some(Format::Csv))
    );
    assert_eq!(
        Format::from_name("orders.dat", Some("+CSV")),
        Ok(Some(Format::Csv))
    );
    assert_eq!(
        Format::from_name("no_extension", Some(".ttm")),
        Ok(Some(Format::Ttm))
    );
    assert_eq!(
        Format::from_name("orders.csv", Some("json")),
        Err(FormatError::UnknownOverride("json".into()))
    );
}

#[test]
fn temporary_names_are_never_parsed() {
    for name in [
        "orders.csv.part",
        "orders.csv.PART",
        "orders.csv.filepart",
        "orders.tmp",
        ".orders.csv",
        "dir/.hidden.xml",
    ] {
        assert!(is_temporary_name(name), "{name}");
        assert_eq!(Format::from_name(name, None), Ok(None), "{name}");
        assert_eq!(
            Format::from_name(name, Some("csv")),
            Ok(None),
            "override too: {name}"
        );
    }
    for name in [
        "orders.csv",
        "part.csv",
        "tmp/orders.csv",
        "orders.partial.csv",
    ] {
        assert!(!is_temporary_name(name), "{name}");
    }
}

#[test]
fn unknown_extensions_are_clear_errors() {
    let err = Format::from_name("orders.json", None);
    assert_eq!(
        err,
        Err(FormatError::UnknownExtension {
            name: "orders.json".into(),
            extension: "json".into()
        })
    );
    let message = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        message,
        "the extension \"json\" of \"orders.json\" is not a known format; use .csv, .xml, .xls, .xlsx, .ods or .ttm"
    );
    assert!(matches!(
        Format::from_name("README", None),
        Err(FormatError::NoExtension { .. })
    ));
    assert!(matches!(
        Format::from_name("orders.", None),
        Err(FormatError::NoExtension { .. })
    ));
}

#[test]
fn display_is_the_extension() {
    let names: Vec<String> = Format::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["csv", "xml", "xls", "xlsx", "ods", "ttm"]);
}
