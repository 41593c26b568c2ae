"""Plain-FTP upload scenarios (`--inbox-ftp-plain`, `ALLO`) driven with Python's ftplib, run by
tests/ftp_plain.rs.

Usage: plain.py NAME PORT [ARGS...]. Exit 0 when every check holds; an assertion error (with a
message) otherwise.
"""
import ftplib
import io
import sys

from scenarios import expect_error, plain, secure


def allo(port, user, password, name, tls):
    """ALLO n, then fewer bytes: refused with 451 and discarded; ALLO n and n bytes: stored."""
    ftp = secure(port, user, password) if tls == "tls" else plain(port, user, password)
    ftp.voidcmd("TYPE I")
    reply = ftp.sendcmd("ALLO 1000")
    assert reply.startswith("200"), reply
    text = expect_error("451", ftp.storbinary, f"STOR short-{name}", io.BytesIO(b"x" * 600))
    assert "600 bytes received, 1000 announced" in text, text
    assert f"short-{name}" not in ftp.nlst(), ftp.nlst()
    reply = ftp.sendcmd("ALLO 600")
    assert reply.startswith("200"), reply
    reply = ftp.storbinary(f"STOR {name}", io.BytesIO(b"x" * 600))
    assert reply.startswith("226"), reply
    # An announced size holds for one upload only.
    reply = ftp.storbinary(f"STOR second-{name}", io.BytesIO(b"x" * 10))
    assert reply.startswith("226"), reply
    ftp.quit()


def prot_c_refused(port, user, password, name):
    """Over FTPS with a clear data channel (PROT C) an upload is as plain as over FTP."""
    ftp = secure(port, user, password, protect=False)
    ftp.voidcmd("TYPE I")
    # ftplib's own STOR: the data connection is a plain socket here.
    data = io.BytesIO(b"y" * 100)
    text = expect_error("550", ftplib.FTP.storbinary, ftp, f"STOR {name}", data)
    assert "use FTPS" in text, text
    ftp.prot_p()
    reply = ftp.storbinary(f"STOR {name}", io.BytesIO(b"y" * 100))
    assert reply.startswith("226"), reply
    ftp.quit()


if __name__ == "__main__":
    scenario, port, *args = sys.argv[1:]
    globals()[scenario](int(port), *args)
