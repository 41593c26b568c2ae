"""FTP scenarios driven with Python's ftplib, one per name, run by tests/ftp.rs.

Usage: scenarios.py NAME PORT [ARGS...]. Exit 0 when every check holds; an assertion error
(with a message) otherwise. Each scenario talks to a real freightdrop server on 127.0.0.1.
"""
import ftplib
import io
import os
import socket
import ssl
import struct
import sys
import time

HOST = "127.0.0.1"


def plain(port, user=None, password=None):
    ftp = ftplib.FTP()
    ftp.connect(HOST, port, timeout=20)
    if user:
        ftp.login(user, password)
    return ftp


class FTP_TLS(ftplib.FTP_TLS):
    """ftplib's FTPS client, tolerant of a data channel closed without a TLS close_notify.

    After an upload ftplib waits for the server's close_notify on the data connection; libunftp
    closes it without one, so stock ftplib raises SSLEOFError after a successful STOR (the same
    ftplib behaviour is reported against other servers: cpython#124850). The transfer's outcome
    is still read from the control reply.
    """

    def storbinary(self, cmd, fp, blocksize=8192, callback=None, rest=None):
        self.voidcmd("TYPE I")
        with self.transfercmd(cmd, rest) as conn:
            while True:
                buf = fp.read(blocksize)
                if not buf:
                    break
                conn.sendall(buf)
            try:
                conn.unwrap()
            except ssl.SSLEOFError:
                pass
        return self.voidresp()


def secure(port, user=None, password=None, protect=True):
    ftp = FTP_TLS(context=ssl._create_unverified_context())
    ftp.connect(HOST, port, timeout=20)
    if user:
        ftp.login(user, password)
        if protect:
            ftp.prot_p()
    return ftp


def expect_error(code, fn, *args):
    try:
        fn(*args)
    except ftplib.all_errors as e:
        assert str(e).startswith(code), f"expected {code}, got {e}"
        return str(e)
    raise AssertionError(f"expected {code}, call succeeded")


def logins(port, user, password, disabled, sftp_only):
    ftp = plain(port)
    expect_error("530", ftp.login, user, "wrong-password")
    ftp.close()
    for name, pw in [("nobody", password), ("anonymous", "guest@example"), (disabled, password), (sftp_only, password)]:
        ftp = plain(port)
        expect_error("530", ftp.login, name, pw)
        ftp.close()
    ftp = plain(port, user, password)
    assert ftp.pwd() == "/"
    ftp.quit()
    ftp = secure(port, user, password)
    assert ftp.pwd() == "/"
    ftp.quit()


def blocked(port, user, password, failures):
    for _ in range(int(failures)):
        ftp = plain(port)
        expect_error("530", ftp.login, user, "wrong-password")
        ftp.close()
    # Now even the right password from this address is refused, before the greeting.
    try:
        ftp = ftplib.FTP()
        ftp.connect(HOST, port, timeout=20)
    except ftplib.error_temp as e:
        assert str(e).startswith("421") and "failed logins" in str(e), str(e)
        return
    raise AssertionError("a blocked address got a greeting")


def commands(port, user, password):
    ftp = secure(port, user, password)
    feat = ftp.sendcmd("FEAT")
    for word in ["AUTH TLS", "EPSV", "MDTM", "MLSD", "MLST", "PBSZ", "PROT", "SIZE", "UTF8"]:
        assert word in feat, f"FEAT lacks {word}: {feat}"
    assert ftp.sendcmd("OPTS UTF8 ON").startswith("200")
    assert ftp.sendcmd("TYPE I").startswith("200")
    assert ftp.sendcmd("NOOP").startswith("200")
    assert sorted(ftp.nlst()) == ["done", "error", "out"], ftp.nlst()
    ftp.cwd("out")
    assert ftp.pwd() == "/out"
    ftp.mkd("batch")
    ftp.cwd("batch")
    data = os.urandom(70_000)
    ftp.storbinary("STOR part1.bin", io.BytesIO(data))
    ftp.storbinary("APPE part1.bin", io.BytesIO(b"tail"))
    assert ftp.size("part1.bin") == len(data) + 4
    mdtm = ftp.sendcmd("MDTM part1.bin")
    assert mdtm.startswith("213 ") and len(mdtm.split()[1]) >= 14, mdtm
    got = io.BytesIO()
    ftp.retrbinary("RETR part1.bin", got.write)
    assert got.getvalue() == data + b"tail"
    lines = []
    ftp.retrlines("LIST", lines.append)
    assert any("part1.bin" in l for l in lines), lines
    facts = dict(ftp.mlsd())
    assert facts["part1.bin"]["type"] == "file" and int(facts["part1.bin"]["size"]) == len(data) + 4
    mlst = ftp.sendcmd("MLST /out/batch/part1.bin")
    assert "type=file" in mlst, mlst
    ftp.rename("part1.bin", "renamed.bin")
    assert ftp.nlst() == ["renamed.bin"]
    ftp.sendcmd("CDUP")
    assert ftp.pwd() == "/out"
    ftp.delete("batch/renamed.bin")
    ftp.rmd("batch")
    # EPSV and PASV both work for data.
    ftp.af = socket.AF_INET6  # makes ftplib use EPSV
    ftp.storbinary("STOR epsv.bin", io.BytesIO(b"epsv"))
    ftp.af = socket.AF_INET
    ftp.storbinary("STOR pasv.bin", io.BytesIO(b"pasv"))
    assert sorted(ftp.nlst()) == ["epsv.bin", "pasv.bin"]
    ftp.quit()


def escapes(port, user, password):
    ftp = plain(port, user, password)
    ftp.cwd("..")
    assert ftp.pwd() == "/", ftp.pwd()
    ftp.cwd("/../../..")
    assert sorted(ftp.nlst()) == ["done", "error", "out", "to-bob", "to-etc"] or "out" in ftp.nlst()
    for path in ["../bob/out/secret.csv", "/../bob/out/secret.csv", "/etc/passwd",
                 "../../../../etc/passwd", "to-bob/out/secret.csv", "to-etc/passwd"]:
        expect_error("550", ftp.retrbinary, f"RETR {path}", lambda b: None)
    expect_error("550", ftp.cwd, "to-bob")
    expect_error("550", ftp.cwd, "/etc")
    expect_error("550", ftp.size, "/etc/passwd")
    # The reserved folders stay.
    expect_error("550", ftp.rmd, "/out")
    expect_error("550", ftp.rmd, "done")
    expect_error("550", ftp.delete, "error")
    expect_error("550", ftp.rename, "out", "mine")
    ftp.storbinary("STOR /out/a.bin", io.BytesIO(b"a"))
    expect_error("550", ftp.rename, "/out/a.bin", "/done")
    ftp.storbinary("STOR /done/a.bin", io.BytesIO(b"b"))
    # A rename never replaces a file.
    expect_error("550", ftp.rename, "/out/a.bin", "/done/a.bin")
    expect_error("550", ftp.storbinary, "STOR /out", io.BytesIO(b"x"))
    ftp.quit()


def partner_procedure(port, user, password, name, tls):
    connect = secure if tls == "tls" else plain
    ftp = connect(port, user, password)
    got = io.BytesIO()
    ftp.retrbinary(f"RETR /out/{name}", got.write)
    ftp.quit()
    content = got.getvalue()
    assert content.startswith(b"order"), content[:40]
    ftp = connect(port, user, password)
    ftp.rename(f"/out/{name}", f"/done/{name}")
    ftp.quit()
    sys.stdout.write(content.decode())


def idle_timeout(port, user, password, seconds):
    ftp = plain(port, user, password)
    time.sleep(float(seconds) + 1.5)
    # The server said so ("421 Session timed out", as vsftpd and ProFTPD do: 221 is the answer
    # to QUIT, and a script would read it as success) and closed: after it the connection is gone.
    try:
        reply = ftp.sendcmd("NOOP")
    except ftplib.error_temp as e:
        assert str(e).startswith("421") and "timed out" in str(e), f"timeout reply: {e}"
    else:
        raise AssertionError(f"idle session not closed with 421: {reply}")
    try:
        ftp.sendcmd("NOOP")
    except (ftplib.Error, EOFError, ConnectionError, OSError):
        return
    raise AssertionError("idle session still answers after its timeout")


class SlowReader(io.RawIOBase):
    """Yields `chunks` blocks of `size` bytes, pausing `pause` seconds before each."""

    def __init__(self, chunks, size, pause):
        self.left, self.size, self.pause = chunks, size, pause

    def read(self, n=-1):
        if self.left == 0:
            return b""
        time.sleep(self.pause)
        self.left -= 1
        return b"x" * self.size


def slow_upload(port, user, password, seconds):
    ftp = plain(port, user, password)
    pause = float(seconds) / 2
    start = time.time()
    reply = ftp.storbinary("STOR /out/slow.bin", SlowReader(8, 1000, pause), blocksize=1000)
    took = time.time() - start
    assert reply.startswith("226"), reply
    assert took > float(seconds) * 2, f"upload took only {took:.1f}s"
    assert ftp.size("/out/slow.bin") == 8000
    ftp.quit()


def aborted_upload(port, user, password, name):
    ftp = plain(port, user, password)
    ftp.voidcmd("TYPE I")
    conn = ftp.transfercmd(f"STOR /out/{name}")
    conn.sendall(b"y" * 200_000)
    # Reset the data connection instead of closing it cleanly: a cut line, not an end of file.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    try:
        reply = ftp.voidresp()
        raise AssertionError(f"a cut upload was accepted: {reply}")
    except ftplib.all_errors as e:
        assert str(e)[:3] in ("426", "451"), str(e)
    assert name not in ftp.nlst("/out"), ftp.nlst("/out")
    ftp.quit()


def tls_required(port, user, password):
    ftp = plain(port)
    expect_error("530", ftp.login, user, password)
    ftp.close()
    ftp = secure(port, user, password)
    ftp.storbinary("STOR /out/secret.bin", io.BytesIO(b"secret"))
    got = io.BytesIO()
    ftp.retrbinary("RETR /out/secret.bin", got.write)
    assert got.getvalue() == b"secret"
    ftp.quit()


def tls_logins(port, user, password, count):
    for i in range(int(count)):
        ftp = secure(port, user, password, protect=False)
        ftp.quit()


def session_limit(port, user, password):
    first = plain(port, user, password)
    second = plain(port)
    expect_error("530", second.login, user, password)
    second.close()
    first.quit()
    again = plain(port, user, password)
    again.quit()


def server_full(port, user, password):
    first = plain(port, user, password)
    try:
        ftp = ftplib.FTP()
        ftp.connect(HOST, port, timeout=20)
        raise AssertionError("a second session got a greeting on a full server")
    except ftplib.error_temp as e:
        assert str(e).startswith("421") and "Too many sessions" in str(e), str(e)
    first.quit()


def upload_limit(port, user, password):
    ftp = plain(port, user, password)
    expect_error("552", ftp.storbinary, "STOR /out/big.bin", io.BytesIO(b"z" * 5000))
    assert "big.bin" not in ftp.nlst("/out")
    ftp.storbinary("STOR /out/small.bin", io.BytesIO(b"z" * 500))
    ftp.quit()


def sftp_login(sftp_port, user, password):
    """Logs in over SFTP with paramiko; returns the open transport, or None when refused."""
    import paramiko

    transport = paramiko.Transport((HOST, int(sftp_port)))
    try:
        # A blocked address is refused by the gate's admission before the SSH version exchange.
        transport.start_client(timeout=20)
    except (paramiko.SSHException, EOFError):
        transport.close()
        return None
    try:
        transport.auth_password(user, password)
    except paramiko.AuthenticationException:
        transport.close()
        return None
    return transport


def blocked_everywhere(port, sftp_port, user, password, failures):
    blocked(port, user, password, failures)
    assert sftp_login(sftp_port, user, password) is None, "SFTP let a blocked address in"


def limit_across_protocols(port, sftp_port, user, password):
    transport = sftp_login(sftp_port, user, password)
    assert transport is not None, "SFTP login refused"
    ftp = plain(port)
    expect_error("530", ftp.login, user, password)
    ftp.close()
    transport.close()
    deadline = time.time() + 10
    while True:
        ftp = plain(port)
        try:
            ftp.login(user, password)
            break
        except ftplib.error_perm:
            ftp.close()
            assert time.time() < deadline, "the SFTP session's place was never freed"
            time.sleep(0.1)
    ftp.quit()


def refused_before_150(ftp, cmd, code="550"):
    """Sends `cmd` with a passive data connection open; the refusal must be the only reply (no
    150 first), and the server must close the prepared data connection."""
    host, port = ftp.makepasv()
    data = socket.create_connection((host, port), timeout=10)
    try:
        text = expect_error(code, ftp.sendcmd, cmd)
        data.settimeout(10)
        assert data.recv(1) == b"", f"{cmd}: the data connection stayed open"
    finally:
        data.close()
    return text


def not_found_before_150(port, user, password):
    ftp = plain(port, user, password)
    ftp.storbinary("STOR /out/here.csv", io.BytesIO(b"here"))
    for cmd, text in [
        ("RETR /out/missing.csv", "550 File not found"),
        ("RETR missing.csv", "550 File not found"),
        ("RETR /out", "550 File not found"),
        ("RETR /../../etc/passwd", "550 File not found"),
        ("LIST /out/missing", "550 File not found"),
        ("LIST /out/here.csv", "550 Directory not found"),
        ("NLST /missing", "550 File not found"),
        ("MLSD /out/missing", "550 File not found"),
    ]:
        got = refused_before_150(ftp, cmd)
        assert got == text, f"{cmd}: {got!r}"
    # Without a data connection the command's own 425 still comes first.
    expect_error("425", ftp.sendcmd, "RETR /out/missing.csv")
    # The session goes on: what exists still transfers.
    got = io.BytesIO()
    ftp.retrbinary("RETR /out/here.csv", got.write)
    assert got.getvalue() == b"here"
    assert ftp.nlst("/out") == ["here.csv"], ftp.nlst("/out")
    ftp.quit()


def clean_error_texts(port, user, password):
    ftp = plain(port, user, password)
    for cmd, text in [
        ("MLST /out/missing.csv", "550 File not found"),
        ("MLST missing.csv", "550 File not found"),
        ("SIZE /out/missing.csv", "550 File not found"),
        ("CWD /out/missing", "550 File not found"),
        ("DELE /out/missing.csv", "550 File not found"),
    ]:
        got = expect_error("550", ftp.sendcmd, cmd)
        assert got == text, f"{cmd}: {got!r}"
    # MLST of a relative name is looked up in the working folder.
    ftp.storbinary("STOR /out/rel.csv", io.BytesIO(b"rel"))
    ftp.cwd("/out")
    mlst = ftp.sendcmd("MLST rel.csv")
    assert mlst.startswith("250") and "type=file;size=3;" in mlst, mlst
    ftp.quit()


def non_utf8_names(port, user, password):
    # latin-1 puts the byte 0xE9 on the wire for "é": not UTF-8.
    ftp = ftplib.FTP(encoding="latin-1")
    ftp.connect(HOST, port, timeout=20)
    ftp.login(user, password)
    ftp.storbinary("STOR /out/plain.csv", io.BytesIO(b"plain"))
    bad = "/out/caf\xe9.csv"
    for cmd in [f"MKD /out/caf\xe9", f"DELE {bad}", f"RNFR {bad}", f"SIZE {bad}", f"MLST {bad}", f"CWD /out/caf\xe9"]:
        got = expect_error("553", ftp.sendcmd, cmd)
        assert got == "553 File name not allowed: not valid UTF-8", f"{cmd}: {got!r}"
    for cmd in [f"STOR {bad}", f"APPE {bad}", f"RETR {bad}", "LIST /out/caf\xe9"]:
        refused_before_150(ftp, cmd, "553")
    assert ftp.sendcmd("RNFR /out/plain.csv").startswith("350")
    expect_error("553", ftp.sendcmd, f"RNTO {bad}")
    assert ftp.sendcmd("NOOP").startswith("200")
    assert ftp.nlst("/out") == ["plain.csv"], ftp.nlst("/out")
    # The same name in UTF-8 is an ordinary name.
    ftp.quit()
    ftp = plain(port, user, password)
    ftp.storbinary("STOR /out/café.csv", io.BytesIO(b"cafe"))
    assert sorted(ftp.nlst("/out")) == ["café.csv", "plain.csv"], ftp.nlst("/out")
    ftp.quit()


def data_protection_kept(port, user, password, other):
    """`user` must keep the data channel protected; `other` (not TLS-required) may clear it."""
    ftp = secure(port, user, password)
    got = expect_error("534", ftp.sendcmd, "PROT C")
    assert got == "534 Data channel protection required; use PROT P", got
    ftp.storbinary("STOR /out/kept.bin", io.BytesIO(b"kept"))
    got = io.BytesIO()
    ftp.retrbinary("RETR /out/kept.bin", got.write)
    assert got.getvalue() == b"kept"
    ftp.quit()
    # Logged in over TLS but never PROT P: no command may open or use a data connection.
    ftp = secure(port, user, password, protect=False)
    for cmd in ["PASV", "EPSV", "PORT 127,0,0,1,200,10", "RETR /out/kept.bin", "STOR /out/clear.bin",
                "APPE /out/kept.bin", "STOU", "LIST /out", "NLST /out", "MLSD /out"]:
        got = expect_error("534", ftp.sendcmd, cmd)
        assert got == "534 A TLS connection is required on the data channel", f"{cmd}: {got!r}"
    ftp.prot_p()
    assert ftp.nlst("/out") == ["kept.bin"], ftp.nlst("/out")
    ftp.quit()
    # PROT P, PASV, then PROT C: refused, so the prepared data connection stays protected.
    ftp = secure(port, user, password)
    ftp.makepasv()
    expect_error("534", ftp.sendcmd, "PROT C")
    ftp.quit()
    # A user who may use plain FTP may also clear the data channel after a TLS login.
    ftp = secure(port, other, password)
    assert ftp.prot_c().startswith("200")
    assert ftp.nlst("/out") == [], ftp.nlst("/out")
    ftp.quit()


class ResumingFTP_TLS(FTP_TLS):
    """An FTPS client that offers the control connection's TLS session on each data connection
    (as curl, lftp and FileZilla do) and notes whether the server resumed it."""

    resumed = []

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
            self.resumed.append(conn.session_reused)
        return conn, size


def data_tls(port, user, password):
    """Data connections resume the control connection's TLS session (TLS 1.3 and 1.2); a data
    connection whose TLS handshake fails is answered 425 and the session goes on."""
    for version in [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2]:
        context = ssl._create_unverified_context()
        context.minimum_version = context.maximum_version = version
        ftp = ResumingFTP_TLS(context=context)
        ftp.resumed = []
        ftp.connect(HOST, port, timeout=20)
        ftp.login(user, password)
        ftp.prot_p()
        name = f"/out/resume-{version.name}.bin"
        ftp.storbinary(f"STOR {name}", io.BytesIO(b"x" * 1000))
        for _ in range(3):
            got = io.BytesIO()
            ftp.retrbinary(f"RETR {name}", got.write)
            assert got.getvalue() == b"x" * 1000
        assert ftp.nlst("/out") != []
        assert ftp.resumed == [True] * 5, f"{version.name}: resumed {ftp.resumed}"
        ftp.quit()
    # Not TLS on a protected data connection: 425 after the 150, then the session goes on.
    ftp = secure(port, user, password)
    ftp.voidcmd("TYPE I")
    host, data_port = ftp.makepasv()
    raw = socket.create_connection((host, data_port), timeout=20)
    raw.sendall(b"this is not a TLS client hello\r\n" * 4)
    ftp.putcmd("RETR /out/resume-TLSv1_3.bin")
    first = ftp.getline()
    assert first.startswith("150"), first
    second = ftp.getline()
    assert second.startswith("425 "), second
    raw.close()
    assert ftp.voidcmd("NOOP").startswith("200")
    got = io.BytesIO()
    ftp.retrbinary("RETR /out/resume-TLSv1_3.bin", got.write)
    assert got.getvalue() == b"x" * 1000
    ftp.quit()


if __name__ == "__main__":
    name, port, *args = sys.argv[1:]
    globals()[name](int(port), *args)
