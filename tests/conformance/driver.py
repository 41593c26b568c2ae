"""One partner's client for tests/conformance.rs, over one channel, driven line by line.

Usage: driver.py CHANNEL PORT USER PASSWORD, CHANNEL one of ftp, ftps, sftp.

Reads one JSON operation per line on standard input and answers each with one JSON line on
standard output: {"ok": true, ...facts} when the server did it, {"ok": false, "error": TEXT}
when the server (or the connection) refused it. A mistake of the driver itself (an unknown
operation, a bug) is answered with {"driver_error": TEXT}, never as a refusal, so a test can't
mistake a broken driver for a server that says no.

Every operation names a session ("session": "a"); a session is one login, made on first use,
so a scenario can hold an upload open on one session and look at the home from another. The
same operations exist on every channel, with the real client of that channel: Python's ftplib
(plain FTP, and FTP_TLS with a protected data channel) and paramiko (SFTP).

Operations (paths are the partner's, e.g. "/out/a.csv"):
  put path data                  a whole upload
  begin_upload path data         starts an upload and sends the first part; the session keeps it
  write data                     sends more of the upload in progress
  finish_upload                  ends it as a client that completed it would
  cut_upload                     ends it as a cut line would (see Ftp.cut_upload / Sftp.cut_upload);
                                 answers {"ok": true, "confirmed": BOOL}: whether the server
                                 said the upload completed
  get path                       a whole download: {"size", "sha256"}
  get_part path bytes            reads the first bytes, then gives up (see get_part)
  list path                      every listing the channel has: {"listings": {HOW: [names]}}
                                 (FTP: LIST, MLSD, NLST; SFTP: paramiko's listdir and
                                 listdir_attr, and OpenSSH sftp's `ls -a`)
  stat path                      {"size"}
  rename from to how             how: "rnfr" (FTP), "rename" or "posix_rename" (SFTP)
  remove path / mkdir path / rmdir path
  race_renames pairs to how      with a second login, renames pairs[i][0] and pairs[i][1] onto
                                 to-i at the same moment, round after round: {"rounds": [[ok0, ok1]]}
  quit                           logs out cleanly
"""
import ftplib
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import threading

HOST = "127.0.0.1"
TIMEOUT = 20
try:
    import paramiko

    SSH_ERRORS = (paramiko.SSHException,)
except ImportError:  # an FTP-only machine
    SSH_ERRORS = ()
# What a refusal or a broken connection looks like, on every channel.
REFUSALS = ftplib.all_errors + (IOError, OSError, EOFError) + SSH_ERRORS


class Refused(Exception):
    """The server refused an operation in a way the client library does not raise itself."""


def linger_zero(sock):
    """Closing the socket then sends a reset (RST), not a clean end (FIN): a cut line."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class FtpTls(ftplib.FTP_TLS):
    """ftplib's FTPS client, tolerant of a data channel closed without a TLS close_notify after
    an upload (libunftp sends none; see README and tests/ftp/scenarios.py)."""

    def storbinary(self, cmd, fp, blocksize=8192, callback=None, rest=None):
        return store(self, cmd, fp.read(), tls=True)


def store(ftp, cmd, data, tls):
    """STOR or APPE `data`. When the server ends the data connection early (it refused the
    upload), the reason is its reply on the control connection: read it, as lftp and curl do, so
    the session stays in step (stock ftplib leaves it unread and the next command reads it)."""
    ftp.voidcmd("TYPE I")
    with ftp.transfercmd(cmd) as conn:
        try:
            conn.sendall(data)
            if tls:
                end_tls_upload(conn)
        except OSError:
            pass
    return ftp.voidresp()


def end_tls_upload(conn):
    try:
        conn.unwrap()
    except ssl.SSLEOFError:
        pass


class Ftp:
    """A login over plain FTP (tls False) or FTPS with PROT P (tls True)."""

    def __init__(self, port, user, password, tls):
        self.tls = tls
        if tls:
            self.ftp = FtpTls(context=ssl._create_unverified_context())
        else:
            self.ftp = ftplib.FTP()
        self.ftp.connect(HOST, port, timeout=TIMEOUT)
        self.ftp.login(user, password)
        if tls:
            self.ftp.prot_p()
        self.upload = None

    def put(self, path, data):
        return {"reply": store(self.ftp, "STOR " + path, data.encode(), self.tls)}

    def append(self, path, data):
        return {"reply": store(self.ftp, "APPE " + path, data.encode(), self.tls)}

    def begin_upload(self, path, data):
        self.ftp.voidcmd("TYPE I")
        self.upload = self.ftp.transfercmd("STOR " + path)
        self.upload.sendall(data.encode())
        return {}

    def write(self, data):
        self.upload.sendall(data.encode())
        return {}

    def finish_upload(self):
        conn, self.upload = self.upload, None
        if self.tls:
            end_tls_upload(conn)
        conn.close()
        return {"reply": self.ftp.voidresp()}

    def cut_upload(self):
        """Plain FTP: the data connection reset (RST); a clean FIN can't be told from the end of
        the file in stream mode (README), so it is not what a cut means here. FTPS: the TCP
        connection closed under TLS, without a close_notify."""
        conn, self.upload = self.upload, None
        if self.tls:
            conn.shutdown(socket.SHUT_RDWR)  # SSLSocket.shutdown: TCP only, no close_notify
        else:
            linger_zero(conn)
        conn.close()
        try:
            reply = self.ftp.voidresp()
        except ftplib.all_errors as e:
            return {"confirmed": False, "reply": str(e)}
        return {"confirmed": True, "reply": reply}

    def get(self, path):
        digest, size = hashlib.sha256(), [0]

        def take(block):
            digest.update(block)
            size[0] += len(block)

        self.ftp.retrbinary("RETR " + path, take)
        return {"size": size[0], "sha256": digest.hexdigest()}

    def get_part(self, path, count):
        """Reads `count` bytes of the file, then resets the data connection: an aborted
        download. Answers the server's reply on the control connection."""
        self.ftp.voidcmd("TYPE I")
        conn = self.ftp.transfercmd("RETR " + path)
        got = 0
        while got < count:
            block = conn.recv(min(65536, count - got))
            if not block:
                break
            got += len(block)
        linger_zero(conn)
        conn.close()
        try:
            reply = self.ftp.voidresp()
        except ftplib.all_errors as e:
            reply = str(e)
        return {"read": got, "reply": reply}

    def list(self, path):
        lines = []
        self.ftp.retrlines("LIST " + path, lines.append)
        listings = {"LIST": [line.split()[-1] for line in lines if line.split()]}
        listings["MLSD"] = [name for name, _ in self.ftp.mlsd(path)]
        listings["NLST"] = [n.rstrip("/").rsplit("/", 1)[-1] for n in self.ftp.nlst(path)]
        return {"listings": listings}

    def stat(self, path):
        size = self.ftp.size(path)
        if size is None:
            raise Refused("no size")
        return {"size": size}

    def rename(self, source, target, how):
        if how != "rnfr":
            raise ValueError("FTP renames only with RNFR/RNTO, not " + how)
        return {"reply": self.ftp.rename(source, target)}

    def remove(self, path):
        return {"reply": self.ftp.delete(path)}

    def mkdir(self, path):
        return {"reply": self.ftp.mkd(path)}

    def rmdir(self, path):
        return {"reply": self.ftp.rmd(path)}

    def rename_at_once(self, source, target, how, barrier):
        """RNFR now, RNTO when the other login is ready too."""
        if how != "rnfr":
            raise ValueError("FTP renames only with RNFR/RNTO, not " + how)
        self.ftp.sendcmd("RNFR " + source)
        barrier.wait()
        self.ftp.voidcmd("RNTO " + target)

    def quit(self):
        try:
            self.ftp.quit()
        except ftplib.all_errors:
            self.ftp.close()
        return {}


class Sftp:
    """A login over SFTP with paramiko."""

    def __init__(self, port, user, password):
        self.port, self.user, self.password = port, user, password
        self.transport = paramiko.Transport((HOST, port))
        self.transport.banner_timeout = TIMEOUT
        self.transport.connect(username=user, password=password)
        self.sftp = paramiko.SFTPClient.from_transport(self.transport)
        self.sftp.get_channel().settimeout(TIMEOUT)
        self.upload = None

    def put(self, path, data):
        with self.sftp.open(path, "w") as f:
            f.write(data.encode())
        return {}

    def append(self, path, data):
        with self.sftp.open(path, "a") as f:
            f.write(data.encode())
        return {}

    def begin_upload(self, path, data):
        self.upload = self.sftp.open(path, "w")
        self.upload.write(data.encode())
        self.upload.flush()
        return {}

    def write(self, data):
        self.upload.write(data.encode())
        self.upload.flush()
        return {}

    def finish_upload(self):
        f, self.upload = self.upload, None
        f.close()
        return {}

    def cut_upload(self):
        """The SSH connection dropped (reset) before the file's CLOSE."""
        sock = self.transport.sock
        linger_zero(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        self.transport.close()
        self.upload = None
        return {"confirmed": False}

    def get(self, path):
        digest, size = hashlib.sha256(), 0
        with self.sftp.open(path, "r") as f:
            while True:
                block = f.read(65536)
                if not block:
                    break
                digest.update(block)
                size += len(block)
        return {"size": size, "sha256": digest.hexdigest()}

    def get_part(self, path, count):
        """Reads `count` bytes from the start, then closes the file: an aborted download."""
        f = self.sftp.open(path, "r")
        got = len(f.read(count))
        f.close()
        return {"read": got}

    def list(self, path):
        return {
            "listings": {
                "listdir": self.sftp.listdir(path),
                "listdir_attr": [a.filename for a in self.sftp.listdir_attr(path)],
                "ls -a": self.openssh_ls(path),
            }
        }

    def openssh_ls(self, path):
        """`ls -1a` of OpenSSH's sftp, on a login of its own (typed in by sshpass)."""
        import subprocess

        run = subprocess.run(
            ["timeout", str(TIMEOUT), "sshpass", "-p", self.password, "sftp",
             "-o", "BatchMode=no", "-o", "PubkeyAuthentication=no",
             "-o", "NumberOfPasswordPrompts=1", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
             "-P", str(self.port), "-b", "-", "%s@%s" % (self.user, HOST)],
            input="ls -1a %s\n" % path, capture_output=True, text=True,
        )
        if run.returncode != 0:
            raise Refused("sftp ls -a: " + run.stderr.strip())
        names = []
        for line in run.stdout.splitlines():
            if line.startswith("sftp>") or not line.strip():
                continue
            names.append(line.strip().rstrip("/").rsplit("/", 1)[-1])
        return names

    def stat(self, path):
        return {"size": self.sftp.stat(path).st_size}

    def rename(self, source, target, how):
        if how == "rename":
            self.sftp.rename(source, target)
        elif how == "posix_rename":
            self.sftp.posix_rename(source, target)
        else:
            raise ValueError("SFTP renames with rename or posix_rename, not " + how)
        return {}

    def remove(self, path):
        self.sftp.remove(path)
        return {}

    def mkdir(self, path):
        self.sftp.mkdir(path)
        return {}

    def rmdir(self, path):
        self.sftp.rmdir(path)
        return {}

    def rename_at_once(self, source, target, how, barrier):
        barrier.wait()
        self.rename(source, target, how)

    def quit(self):
        self.sftp.close()
        self.transport.close()
        return {}


def race_renames(first, second, pairs, to, how):
    """Round i: `first` renames pairs[i][0] and `second` renames pairs[i][1] onto to-i, both
    released by one barrier. Answers which of the two the server did, per round."""
    rounds = []
    for i, (a, b) in enumerate(pairs):
        barrier = threading.Barrier(2, timeout=TIMEOUT)
        results = [None, None]

        def run(index, session, source):
            try:
                session.rename_at_once(source, "%s-%d" % (to, i), how, barrier)
                results[index] = True
            except REFUSALS:
                results[index] = False
            except threading.BrokenBarrierError:
                results[index] = False

        threads = [
            threading.Thread(target=run, args=(0, first, a)),
            threading.Thread(target=run, args=(1, second, b)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rounds.append(results)
    return {"rounds": rounds}


def main():
    channel, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

    def login():
        if channel == "ftp":
            return Ftp(port, user, password, tls=False)
        if channel == "ftps":
            return Ftp(port, user, password, tls=True)
        if channel == "sftp":
            return Sftp(port, user, password)
        raise ValueError("unknown channel " + channel)

    sessions = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        answer = {}
        try:
            op = json.loads(line)
            name = op.pop("op")
            key = op.pop("session", "a")
            if key not in sessions:
                sessions[key] = login()
            session = sessions[key]
            if name == "race_renames":
                other = op.pop("with")
                if other not in sessions:
                    sessions[other] = login()
                answer = race_renames(session, sessions[other], **op)
            else:
                answer = getattr(session, name)(**op)
            # A logout ends the login; so does a cut SSH connection (FTP's control connection
            # outlives a cut data connection).
            if name == "quit" or (name == "cut_upload" and isinstance(session, Sftp)):
                del sessions[key]
            answer["ok"] = True
        except REFUSALS + (Refused,) as e:
            answer = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        except Exception as e:  # noqa: BLE001 (anything else is the driver's own mistake)
            answer = {"driver_error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    for session in sessions.values():
        try:
            session.quit()
        except Exception:  # noqa: BLE001 (closing at the end; nothing left to report)
            pass


if __name__ == "__main__":
    main()
