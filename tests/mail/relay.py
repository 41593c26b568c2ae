"""A test relay: aiosmtpd on 127.0.0.1:PORT storing each message it takes in FOLDER.

Usage: relay.py PORT FOLDER. Each message is FOLDER/<n>.eml (the message as received) with
FOLDER/<n>.json beside it ({"mail_from": ..., "rcpt_tos": [...]}), both written before the 250
and the .json last, so a test that sees the .json finds the whole message. Prints "ready" once
listening. Runs until killed.
"""

import asyncio
import json
import os
import sys

from aiosmtpd.smtp import SMTP


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
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 OK stored"


async def main(port, folder):
    loop = asyncio.get_running_loop()
    store = Store(folder)
    server = await loop.create_server(
        lambda: SMTP(store, hostname="relay.test"), "127.0.0.1", port
    )
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
