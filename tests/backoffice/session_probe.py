"""Holds one logged-in session open and reports whether the server closed it.

Usage: session_probe.py ftp|sftp PORT USER PASSWORD
Prints "ready" once logged in, then waits for a line on standard input; then tries one more
command and prints "closed" if the server had ended the session, "open" if it still answers.
"""

import ftplib
import sys


def main():
    protocol, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if protocol == "ftp":
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", port, timeout=20)
        ftp.login(user, password)
        probe = ftp.pwd
    else:
        import paramiko

        transport = paramiko.Transport(("127.0.0.1", port))
        transport.connect(username=user, password=password)
        sftp = paramiko.SFTPClient.from_transport(transport)
        sftp.get_channel().settimeout(20)
        probe = lambda: sftp.listdir("/")
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        probe()
    except Exception:
        print("closed", flush=True)
        return
    print("open", flush=True)


if __name__ == "__main__":
    main()
