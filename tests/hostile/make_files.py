#!/usr/bin/env python3
"""Writes the hostile files of tests/hostile.rs into the folder given (generated at test time,
never committed: some unpack to hundreds of megabytes)."""

import os
import sys
import zipfile

OUT = sys.argv[1]
MIB = 1024 * 1024
# More than the inbox's default memory bound (512 MiB) once unpacked.
BOMB_MIB = 600


def path(name):
    return os.path.join(OUT, name)


def zip_bomb(name, parts, big, head, tail):
    """A zip whose entry `big` is `head`, BOMB_MIB MiB of one letter, then `tail`."""
    with zipfile.ZipFile(path(name), "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for part, text in parts.items():
            z.writestr(part, text)
        with z.open(big, "w", force_zip64=True) as f:
            f.write(head)
            chunk = b"A" * MIB
            for _ in range(BOMB_MIB):
                f.write(chunk)
            f.write(tail)


XLSX_PARTS = {
    "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}

zip_bomb(
    "bomb.xlsx",
    XLSX_PARTS,
    "xl/worksheets/sheet1.xml",
    b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>',
    b"</t></is></c></row></sheetData></worksheet>",
)

zip_bomb(
    "bomb.ods",
    {"mimetype": "application/vnd.oasis.opendocument.spreadsheet"},
    "content.xml",
    b'<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="S"><table:table-row><table:table-cell office:value-type="string"><text:p>',
    b"</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>",
)

# An .xls bigger than a quarter of the memory bound is refused unread (its worst case).
with open(path("big.xls"), "wb") as f:
    f.write(bytes.fromhex("d0cf11e0a1b11ae1"))
    f.write(b"\0" * (130 * MIB))

# Deep: five million nested elements. Wide: a 50 MB value, and a million unknown siblings.
with open(path("deep.xml"), "wb") as f:
    f.write(b"<orders>" + b"<a>" * 5_000_000 + b"</a>" * 5_000_000 + b"</orders>")
with open(path("wide.xml"), "wb") as f:
    f.write(b"<orders><order><shipment>")
    f.write(b"".join(b"<x%d/>" % n for n in range(1_000_000)))
    f.write(b"<customerID>" + b"1" * (50 * MIB) + b"</customerID></shipment></order></orders>")

# A 50 MB line, in CSV and TTM.
with open(path("line.csv"), "wb") as f:
    f.write(b"customerID;shipmentID;deliveryName;colli\n1234;S1;" + b"x" * (50 * MIB) + b";1\n")
with open(path("line.ttm"), "wb") as f:
    f.write(b"<!-- start order\nremarks : " + b"x" * (50 * MIB) + b"\n-->\n")

# Five million empty lines.
with open(path("empty.csv"), "wb") as f:
    f.write(b"customerID;shipmentID;deliveryName;colli\n" + b"\n" * 5_000_000)
with open(path("empty.ttm"), "wb") as f:
    f.write(b"\n" * 5_000_000)

# Four million blocks, each missing its shipmentID.
with open(path("blocks.ttm"), "wb") as f:
    block = b"<!-- start order\ncustomerID : 1234\n-->\n"
    for _ in range(40):
        f.write(block * 100_000)
