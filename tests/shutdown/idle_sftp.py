"""An idle SFTP session for tests/shutdown.rs. Usage: idle_sftp.py PORT USER PASSWORD

Logs in, lists the home, prints `logged-in`, then sits idle until the server closes the
connection, and prints `closed`. Gives up after 30 s.
"""
import sys
import time

import paramiko

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
transport = paramiko.Transport(("127.0.0.1", port))
transport.connect(username=user, password=password)
sftp = paramiko.SFTPClient.from_transport(transport)
sftp.listdir(".")
print("logged-in", flush=True)
deadline = time.monotonic() + 30
while transport.is_active() and time.monotonic() < deadline:
    time.sleep(0.05)
print("closed" if not transport.is_active() else "still-open", flush=True)
