"""A test relay: aiosmtpd on 127.0.0.1:PORT storing each message it takes in FOLDER.

Usage: relay.py PORT FOLDER [--tls CERT KEY] [--auth USER:PASSWORD]. With --tls the relay
requires STARTTLS (with that certificate) before MAIL; with --auth it requires AUTH PLAIN or LOGIN
with those credentials (over TLS). Each message is FOLDER/<n>.eml (the message as received) with
FOLDER/<n>.json beside it ({"mail_from": ..., "rcpt_tos": [...], "tls": bool, "login": ...}), both written before the 250
and the .json last, so a test that sees the .json finds the whole message. Prints "ready" once
listening. Runs until killed.
"""

import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Store:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.folder, str(self.count))
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode()
        with open(base + ".eml", "wb") as f:
            f.write(content)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "login": login,
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 OK stored"


def authenticator(expected):
    user, password = expected.split(":", 1)

    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, auth_data=auth_data if ok else None)

    return check


async def main(port, folder, options):
    loop = asyncio.get_running_loop()
    store = Store(folder)
    settings = {"hostname": "relay.test"}
    if "--tls" in options:
        at = options.index("--tls")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(options[at + 1], options[at + 2])
        settings.update(tls_context=context, require_starttls=True)
    if "--auth" in options:
        at = options.index("--auth")
        settings.update(
            authenticator=authenticator(options[at + 1]),
            auth_required=True,
            auth_require_tls=True,
        )
    server = await loop.create_server(
        lambda: SMTP(store, **settings), "127.0.0.1", port
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3:]))
