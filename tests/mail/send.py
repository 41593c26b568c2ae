"""Sends one message with files attached over SMTP with Python's smtplib, for the mail tests.

Usage: send.py PORT FROM TO SUBJECT [--header "Name: value"]... FILE...
FROM may be "" for the null sender (MAIL FROM:<>). Prints the server's reply to the message;
exits 1 when it is refused.
"""

import os
import smtplib
import sys
from email.message import EmailMessage
from email.utils import make_msgid


def main(argv):
    port, sender, to, subject = int(argv[0]), argv[1], argv[2], argv[3]
    rest = argv[4:]
    headers, files = [], []
    while rest:
        if rest[0] == "--header":
            headers.append(rest[1])
            rest = rest[2:]
        else:
            files.append(rest[0])
            rest = rest[1:]
    msg = EmailMessage()
    msg["From"] = sender or "daemon@partner.example"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="partner.example")
    for header in headers:
        name, value = header.split(":", 1)
        msg[name.strip()] = value.strip()
    msg.set_content("see attached")
    for path in files:
        with open(path, "rb") as f:
            msg.add_attachment(
                f.read(),
                maintype="text",
                subtype="csv",
                filename=os.path.basename(path),
            )
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        try:
            smtp.sendmail(sender, [to], msg.as_bytes())
        except smtplib.SMTPException as e:
            print("refused:", e)
            return 1
    print("sent", msg["Message-ID"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
