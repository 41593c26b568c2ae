"""Raw and real clients for tests/admission.rs. Usage: clients.py SCENARIO ARGS...

- stall FTP_PORT SFTP_PORT COUNT: opens COUNT connections to each port from 127.0.0.1 that never
  log in (half the SSH ones send their version line, the rest nothing), sorts them by what the
  server answered (`220`/`SSH-` admitted, `421` or a close refused), prints
  `admitted N refused M`, then waits for a line on stdin and closes them all.
- cap FTP_PORT SFTP_PORT CAP: opens CAP FTP connections from 127.0.0.1, each greeted, then
  tries one more FTP and one more SSH connection from 127.0.0.1 and one of each from
  127.0.0.2, and prints what each got (`ftp-1 421 ...`, `ftp-2 220 ...`, `ssh-1 closed`,
  `ssh-2 SSH-...`).
- sftp-partner PORT USER PASSWORD: logs in with paramiko from 127.0.0.2, lists the home,
  prints `sftp-login SECONDS`.
Every wait is bounded; an unexpected exception exits non-zero.
"""
import resource
import selectors
import socket
import sys
import time


def raise_file_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > 65536:
        hard = 65536
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def connect(port, source):
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))


def first_words(sock, within=5.0):
    """The start of what the server sends first, or `closed`."""
    sock.settimeout(within)
    try:
        data = sock.recv(200)
    except socket.timeout:
        return "silent"
    except OSError:
        return "closed"
    return data.decode("ascii", "replace").strip() if data else "closed"


def stall(ftp_port, sftp_port, count):
    raise_file_limit()
    socks = []
    for i in range(count):
        socks.append(connect(ftp_port, "127.0.0.1"))
        s = connect(sftp_port, "127.0.0.1")
        if i % 2 == 0:
            s.sendall(b"SSH-2.0-stalled\r\n")
        socks.append(s)
    waiting = selectors.DefaultSelector()  # epoll: select() can't take fds past 1024
    for s in socks:
        waiting.register(s, selectors.EVENT_READ)
    pending = len(socks)
    admitted = refused = 0
    deadline = time.monotonic() + 30
    while pending and time.monotonic() < deadline:
        for key, _ in waiting.select(0.5):
            s = key.fileobj
            waiting.unregister(s)
            pending -= 1
            try:
                data = s.recv(200)
            except OSError:
                data = b""
            if data.startswith(b"220") or data.startswith(b"SSH-"):
                admitted += 1
            else:
                refused += 1
    print("admitted", admitted, "refused", refused, flush=True)
    sys.stdin.readline()
    for s in socks:
        s.close()


def cap(ftp_port, sftp_port, n):
    held = []
    for _ in range(n):
        s = connect(ftp_port, "127.0.0.1")
        words = first_words(s)
        assert words.startswith("220"), words
        held.append(s)
    for name, port, source in [
        ("ftp-1", ftp_port, "127.0.0.1"),
        ("ssh-1", sftp_port, "127.0.0.1"),
        ("ftp-2", ftp_port, "127.0.0.2"),
        ("ssh-2", sftp_port, "127.0.0.2"),
    ]:
        s = connect(port, source)
        print(name, first_words(s), flush=True)
        s.close()
    for s in held:
        s.close()


def sftp_partner(port, user, password):
    import paramiko

    started = time.monotonic()
    sock = connect(port, "127.0.0.2")
    transport = paramiko.Transport(sock)
    transport.connect(username=user, password=password)
    sftp = paramiko.SFTPClient.from_transport(transport)
    sftp.listdir(".")
    print("sftp-login %.3f" % (time.monotonic() - started), flush=True)
    transport.close()


if __name__ == "__main__":
    scenario, args = sys.argv[1], sys.argv[2:]
    if scenario == "stall":
        stall(int(args[0]), int(args[1]), int(args[2]))
    elif scenario == "cap":
        cap(int(args[0]), int(args[1]), int(args[2]))
    elif scenario == "sftp-partner":
        sftp_partner(int(args[0]), args[1], args[2])
    else:
        sys.exit("unknown scenario " + scenario)
