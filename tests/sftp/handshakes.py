"""A bounded flood of SSH key exchanges for tests/sftp.rs, as ssh-audit's DHEat check makes them.
Usage: handshakes.py PORT SECONDS MAX_CONNECTIONS

For SECONDS (or until MAX_CONNECTIONS were opened) it opens connections to 127.0.0.1:PORT as
fast as it can, at most 200 open at a time; each sends an SSH version line and a KEXINIT at once
and is closed as soon as the server answers with its version line (served), closes it
(refused), or the window ends (waiting). Prints `offered N served M refused R waiting W seconds S`.
"""
import os
import selectors
import socket
import struct
import sys
import time

OPEN_AT_ONCE = 200


def name_list(names):
    data = names.encode("ascii")
    return struct.pack(">I", len(data)) + data


def kexinit():
    payload = bytes([20]) + os.urandom(16)
    for names in [
        "curve25519-sha256",
        "ssh-ed25519",
        "chacha20-poly1305@openssh.com",
        "chacha20-poly1305@openssh.com",
        "hmac-sha2-256",
        "hmac-sha2-256",
        "none",
        "none",
        "",
        "",
    ]:
        payload += name_list(names)
    payload += bytes([0]) + struct.pack(">I", 0)
    padding = 8 - (len(payload) + 5) % 8
    if padding < 4:
        padding += 8
    packet = bytes([padding]) + payload + bytes(padding)
    return struct.pack(">I", len(packet)) + packet


def main():
    port, seconds, most = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    hello = b"SSH-2.0-flood\r\n" + kexinit()
    waiting = selectors.DefaultSelector()
    offered = served = refused = 0
    started = time.monotonic()
    end = started + seconds
    while time.monotonic() < end:
        while offered < most and len(waiting.get_map()) < OPEN_AT_ONCE:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            offered += 1
            try:
                s.sendall(hello)
            except OSError:
                refused += 1
                s.close()
                continue
            s.setblocking(False)
            waiting.register(s, selectors.EVENT_READ)
        for key, _ in waiting.select(0.01):
            s = key.fileobj
            waiting.unregister(s)
            try:
                data = s.recv(64)
            except OSError:
                data = b""
            if data.startswith(b"SSH-"):
                served += 1
            else:
                refused += 1
            s.close()
    elapsed = time.monotonic() - started
    left = list(waiting.get_map().values())
    for key in left:
        key.fileobj.close()
    print(
        "offered %d served %d refused %d waiting %d seconds %.2f"
        % (offered, served, refused, len(left), elapsed),
        flush=True,
    )


if __name__ == "__main__":
    main()
