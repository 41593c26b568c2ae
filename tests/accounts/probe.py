"""Holds one logged-in session open and says, when asked, whether the server has ended it.

Usage: probe.py ftp|ftps|sftp|sftp-key PORT USER SECRET
SECRET is the password, or for sftp-key the path of an ed25519 private key file.
Prints "ready" once logged in. Then, for each line "check" on standard input, runs one command
and prints "open" if it was answered or "closed" if the server had ended the session (and
then exits). Standard input closing ends the probe.
"""

import ftplib
import ssl
import sys


def session(kind, port, user, secret):
    if kind in ("ftp", "ftps"):
        if kind == "ftp":
            ftp = ftplib.FTP()
        else:
            ftp = ftplib.FTP_TLS(context=ssl._create_unverified_context())
        ftp.connect("127.0.0.1", port, timeout=20)
        ftp.login(user, secret)
        if kind == "ftps":
            ftp.prot_p()
        return ftp.pwd

    import paramiko

    transport = paramiko.Transport(("127.0.0.1", port))
    if kind == "sftp-key":
        transport.connect(username=user, pkey=paramiko.Ed25519Key.from_private_key_file(secret))
    else:
        transport.connect(username=user, password=secret)
    sftp = paramiko.SFTPClient.from_transport(transport)
    sftp.get_channel().settimeout(20)
    return lambda: sftp.listdir("/")


def main():
    kind, port, user, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    probe = session(kind, port, user, secret)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "check":
            continue
        try:
            probe()
        except Exception:
            print("closed", flush=True)
            return
        print("open", flush=True)


if __name__ == "__main__":
    main()
