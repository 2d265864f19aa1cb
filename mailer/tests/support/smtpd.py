#!/usr/bin/env python3
"""A real SMTP server for the mailer's tests (aiosmtpd, not written by this project).

STARTTLS is required before anything else (or TLS from the first byte with --implicit-tls), AUTH (PLAIN or LOGIN) is required before MAIL, and
every accepted message is parsed with Python's own `email` package and written as one JSON
file into --out, so the Rust test checks what a mail client would see. Prints "READY <port>"
once listening and exits when its standard input closes (the test ended, or died).

With --xoauth2-tokens only AUTH XOAUTH2 is offered (LOGIN and PLAIN excluded) and a listed
access token is accepted; a wrong one is refused the way Office 365 does (535 5.7.3) or, with
--xoauth2-style gmail, the way Gmail does (a 334 challenge carrying a JSON error first).
--auth-reply refuses every AUTH with the given reply (e.g. Office 365's 535 5.7.139).
--size-limit plays a relay with a message size limit (SIZE, then 552 for a larger message).
"""

import argparse
import base64
import asyncio
import email
import json
import logging
import os
import socket
import ssl
import sys
import warnings
from email import policy

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

# aiosmtpd 1.4 warns about its own deprecated attributes on every AUTH; not our concern.
warnings.simplefilter("ignore")
logging.getLogger("mail.log").setLevel(logging.ERROR)

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--cert", required=True)
ap.add_argument("--key", required=True)
ap.add_argument("--user", required=True)
ap.add_argument("--password", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--reject", default="", help="answer DATA with this reply, e.g. '451 busy'")
ap.add_argument("--implicit-tls", action="store_true", help="TLS from the first byte (port 465 style)")
ap.add_argument("--xoauth2-tokens", default="", help="comma-separated tokens AUTH XOAUTH2 accepts; offers only XOAUTH2")
ap.add_argument("--xoauth2-style", default="office365", choices=["office365", "gmail"])
ap.add_argument("--auth-reply", default="", help="refuse every AUTH with this reply")
ap.add_argument("--size-limit", type=int, default=0, help="refuse messages over this many bytes (552), as relays do")
args = ap.parse_args()


def log(line):
    with open(os.path.join(args.out, "events.log"), "a") as f:
        f.write(line + "\n")


class Handler:
    def __init__(self):
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        if args.reject:
            log("rejected " + args.reject)
            return args.reject
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        parts = {}
        attachments = []
        for part in msg.walk():
            ct = part.get_content_type()
            if part.get_content_disposition() == "attachment":
                attachments.append(
                    {"filename": part.get_filename(), "content_type": ct, "size": len(part.get_payload(decode=True))}
                )
            elif ct in ("text/plain", "text/html") and ct not in parts:
                parts[ct] = part.get_content()
        self.n += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": msg["From"],
            "to": msg["To"],
            "cc": msg["Cc"],
            "bcc": msg["Bcc"],
            "subject": msg["Subject"],
            "message_id": msg["Message-ID"],
            "date": msg["Date"],
            "importance": msg["Importance"],
            "content_type": msg.get_content_type(),
            "text": parts.get("text/plain"),
            "html": parts.get("text/html"),
            "attachments": attachments,
            "size": len(envelope.content),
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
            "authenticated": bool(session.authenticated),
        }
        path = os.path.join(args.out, "msg-%04d.json" % self.n)
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        log("accepted " + path)
        return "250 OK"


class OAuthHandler(Handler):
    """Adds AUTH XOAUTH2: `user=<user>\\x01auth=Bearer <token>\\x01\\x01`, base64."""

    async def auth_XOAUTH2(self, server, auth_args):
        if len(auth_args) == 2:
            blob = auth_args[1].encode()
        else:
            got = await server.challenge_auth("", encode_to_b64=False)
            blob = base64.b64encode(got if isinstance(got, bytes) else b"")
        try:
            fields = base64.b64decode(blob, validate=True).decode().split("\x01")
        except Exception:
            fields = []
        user = next((f[5:] for f in fields if f.startswith("user=")), "")
        auth = next((f[5:] for f in fields if f.startswith("auth=")), "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if args_reply():
            log("auth XOAUTH2 refused-by-reply user=%s token=%s" % (user, token))
            return AuthResult(success=False, handled=False, message=args.auth_reply)
        if user == args.user and token in args.xoauth2_tokens.split(","):
            log("auth XOAUTH2 ok user=%s token=%s" % (user, token))
            return AuthResult(success=True, handled=False)
        log("auth XOAUTH2 refused user=%s token=%s" % (user, token))
        if args.xoauth2_style == "gmail":
            challenge = json.dumps(
                {"status": "400", "schemes": "Bearer", "scope": "https://mail.google.com/"}
            )
            await server.challenge_auth(challenge)
            return AuthResult(
                success=False,
                handled=False,
                message="535 5.7.8 Username and Password not accepted. For more information, go to https://support.google.com/mail/?p=BadCredentials",
            )
        return AuthResult(
            success=False,
            handled=False,
            message="535 5.7.3 Authentication unsuccessful [SN4PR0601CA0002.namprd06.prod.outlook.com]",
        )


def args_reply():
    return bool(args.auth_reply)


def authenticator(server, session, envelope, mechanism, auth_data):
    if args_reply():
        log("auth %s refused-by-reply" % mechanism)
        return AuthResult(success=False, handled=False, message=args.auth_reply)
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == args.user
        and auth_data.password.decode() == args.password
    )
    log("auth %s %s" % (mechanism, "ok" if ok else "refused"))
    return AuthResult(success=ok, handled=False)


async def main():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    handler = OAuthHandler() if args.xoauth2_tokens else Handler()
    # Only XOAUTH2 when tokens are given, as an Office 365 tenant with basic auth off.
    exclude = ["LOGIN", "PLAIN"] if args.xoauth2_tokens else []
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(16)
    if args.implicit_tls:
        server = await loop.create_server(
            lambda: SMTP(
                handler,
                hostname="localhost",
                auth_required=True,
                # aiosmtpd cannot tell the socket is already TLS; it is.
                auth_require_tls=False,
                authenticator=authenticator,
                auth_exclude_mechanism=exclude,
                # aiosmtpd's own default (32 MiB) unless a test plays a smaller relay.
                data_size_limit=args.size_limit or 33554432,
            ),
            sock=sock,
            ssl=ctx,
        )
    else:
        server = await loop.create_server(
            lambda: SMTP(
                handler,
                hostname="localhost",
                tls_context=ctx,
                require_starttls=True,
                auth_required=True,
                auth_require_tls=True,
                authenticator=authenticator,
                auth_exclude_mechanism=exclude,
                # aiosmtpd's own default (32 MiB) unless a test plays a smaller relay.
                data_size_limit=args.size_limit or 33554432,
            ),
            sock=sock,
        )
    print("READY %d" % sock.getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


asyncio.run(main())
