//! Hostile files at the parser level (issue 12, findings 2, 3 and 6): zip workbooks whose
//! entries lie about their size or hold a runaway cell, runaway XML, runaway TTM lines and
//! blocks, a file whose model passes the memory bound, and TTM streamed in batches giving what
//! the whole-file parse gives. Fixtures are built here, in memory.

use std::io::{Cursor, Write};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use inbox_processor::parse::{self, CsvStream, Format, Parsed, Rejected};

const MIB: u64 = 1024 * 1024;

fn bounded(format: Format, bytes: &[u8], max_memory: u64) -> Result<Parsed, Rejected> {
    parse::parse_bounded(format, bytes, Arc::new(AtomicBool::new(false)), max_memory)
}

fn reason(result: Result<Parsed, Rejected>) -> String {
    match result {
        Ok(parsed) => panic!("expected a rejection, got {parsed:?}"),
        Err(rejected) => rejected.report(),
    }
}

/// A minimal xlsx whose sheet is `sheet`.
fn xlsx(sheet: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let parts: [(&str, &[u8]); 4] = [
        ("[Content_Types].xml", br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>"#),
        ("_rels/.rels", br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#),
        ("xl/workbook.xml", br#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>"#),
        ("xl/_rels/workbook.xml.rels", br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#),
    ];
    for (name, text) in parts {
        zip.start_file(name, deflated).expect("zip");
        zip.write_all(text).expect("zip");
    }
    zip.start_file("xl/worksheets/sheet1.xml", deflated)
        .expect("zip");
    zip.write_all(sheet).expect("zip");
    zip.finish().expect("zip").into_inner()
}

fn inline_cell_sheet(text_len: usize) -> Vec<u8> {
    let mut sheet = br#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>"#.to_vec();
    sheet.extend(std::iter::repeat_n(b'A', text_len));
    sheet.extend_from_slice(b"</t></is></c></row></sheetData></worksheet>");
    sheet
}

/// Sets every size field that declares `from` bytes unpacked to `to` (local header, central
/// directory): an entry that lies about its size.
fn lie_about_size(zip: &mut [u8], from: u32, to: u32) {
    let (from, to) = (from.to_le_bytes(), to.to_le_bytes());
    for sig in [&b"PK\x03\x04"[..], &b"PK\x01\x02"[..]] {
        let offset = if sig == b"PK\x03\x04" { 22 } else { 24 };
        let mut at = 0;
        while let Some(pos) = zip[at..].windows(4).position(|w| w == sig) {
            let field = at + pos + offset;
            if zip.get(field..field + 4) == Some(&from[..]) {
                zip[field..field + 4].copy_from_slice(&to);
            }
            at += pos + 4;
        }
    }
}

#[test]
fn an_xlsx_that_unpacks_past_the_bound_is_refused_by_its_declared_size() {
    let bytes = xlsx(&inline_cell_sheet(3 * MIB as usize));
    assert!(bytes.len() < 64 * 1024, "{}", bytes.len());
    let report = reason(bounded(Format::Xlsx, &bytes, 2 * MIB));
    assert!(
        report.contains("the workbook unpacks to more than 2 MiB"),
        "{report}"
    );
}

#[test]
fn an_xlsx_entry_that_lies_about_its_size_is_refused() {
    let sheet = inline_cell_sheet(3 * MIB as usize);
    let mut bytes = xlsx(&sheet);
    lie_about_size(&mut bytes, sheet.len() as u32, 1000);
    let report = reason(bounded(Format::Xlsx, &bytes, 2 * MIB));
    assert!(
        report.contains("a part of it does not unpack to the size it declares"),
        "{report}"
    );
}

#[test]
fn an_xlsx_cell_with_more_than_a_mebibyte_of_text_is_refused() {
    let bytes = xlsx(&inline_cell_sheet(2 * MIB as usize));
    let report = reason(bounded(Format::Xlsx, &bytes, 512 * MIB));
    assert!(
        report.contains("a cell (or tag) with more than 1 MiB of text"),
        "{report}"
    );
}

#[test]
fn deep_xml_is_refused_before_it_is_held() {
    let mut xml = b"<orders>".to_vec();
    xml.extend(b"<a>".repeat(1_000_000));
    let report = reason(parse::parse(Format::Xml, &xml));
    assert!(
        report.contains("elements are nested more than 100 deep"),
        "{report}"
    );
}

#[test]
fn a_runaway_xml_value_is_refused() {
    let mut xml = b"<orders><order><shipment><remarks>".to_vec();
    xml.extend(std::iter::repeat_n(b'x', 3 * MIB as usize));
    xml.extend_from_slice(b"</remarks></shipment></order></orders>");
    let report = reason(parse::parse(Format::Xml, &xml));
    assert!(
        report.contains("the value is longer than 1048576 bytes"),
        "{report}"
    );
}

#[test]
fn an_xml_file_whose_model_passes_the_bound_is_refused() {
    let mut xml = b"<orders>".to_vec();
    for n in 0..20_000 {
        xml.extend(
            format!(
                "<order><shipment><customerID>1234</customerID><shipmentID>S{n}</shipmentID>\
                 <deliveryName>Philips</deliveryName><goods><good><colli>1</colli></good>\
                 </goods></shipment></order>"
            )
            .bytes(),
        );
    }
    xml.extend_from_slice(b"</orders>");
    assert!(bounded(Format::Xml, &xml, 64 * MIB).is_ok());
    let report = reason(bounded(Format::Xml, &xml, 4 * MIB));
    assert!(report.contains("more than 4 MiB of memory"), "{report}");
}

#[test]
fn runaway_ttm_lines_and_blocks_stop_reading() {
    let mut line = b"<!-- start order\nremarks : ".to_vec();
    line.extend(std::iter::repeat_n(b'x', 2 * MIB as usize));
    line.extend_from_slice(b"\n-->\n");
    let report = reason(parse::parse(Format::Ttm, &line));
    assert!(report.contains("this line is longer than"), "{report}");

    let mut block = b"<!-- start order\n".to_vec();
    for n in 0..400_000 {
        block.extend(format!("goodsDescription{n} : {}\n", "y".repeat(40)).bytes());
    }
    let report = reason(parse::parse(Format::Ttm, &block));
    assert!(
        report.contains("the block holds more than 16 MiB of values"),
        "{report}"
    );
}

#[test]
fn a_streamed_ttm_file_gives_what_the_whole_file_gives() {
    let mut ttm = String::new();
    for n in 0..25_000 {
        ttm.push_str(&format!(
            "<!-- start order\ncustomerID : 1234\nshipmentID : S{}\ndeliveryName : Philips\n\
             quantity1 : 1\n-->\n",
            n % 20_000
        ));
    }
    let whole = parse::parse(Format::Ttm, ttm.as_bytes()).expect("accepted");
    let mut stream = CsvStream::of(Format::Ttm).expect("TTM streams");
    let mut batches = Vec::new();
    stream
        .read(ttm.as_bytes(), 1000, |b| batches.push(b))
        .expect("read");
    assert!(batches.len() > 10, "{}", batches.len());
    assert!(stream.needs_second_reading(), "shipments come back late");
    let last = stream.read_again(ttm.as_bytes()).expect("read again");
    let end = stream.finish().expect("accepted");
    // The last batch replaces what left before; the store upserts by shipment ID.
    let mut stored = std::collections::BTreeMap::new();
    for batch in batches.into_iter().chain([last]) {
        for order in batch.orders {
            for shipment in order.shipments {
                stored.insert(shipment.shipment_id.clone(), shipment);
            }
        }
    }
    let expected: std::collections::BTreeMap<_, _> = whole
        .orders
        .into_iter()
        .flat_map(|o| o.shipments)
        .map(|s| (s.shipment_id.clone(), s))
        .collect();
    assert_eq!(end.shipments as usize, expected.len());
    assert_eq!(stored, expected);
}
