#!/usr/bin/env python3
"""A minimal keepwarm webhook receiver (Python standard library only).

It checks each request's signature, refuses stale or replayed timestamps, drops events it has
already handled (keepwarm delivers at least once), and prints every new event as one JSON line.
Point a [[crm.webhooks]] entry at it:

    KEEPWARM_WEBHOOK_SECRET=... python3 examples/receiver.py --port 9000

    [[crm.webhooks]]
    name = "demo"
    url = "http://127.0.0.1:9000/keepwarm"
    secret_env = "KEEPWARM_WEBHOOK_SECRET"

The signature recipe: X-Keepwarm-Signature is "v1=" + hex(HMAC-SHA256(secret,
X-Keepwarm-Timestamp + "." + raw body)). Compare in constant time, over the raw bytes. While
keepwarm's secret is being rotated the header carries two signatures, comma-separated (the new
secret's first): accept the request when one of them matches.
"""

import argparse
import hashlib
import hmac
import json
import os
import sqlite3
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 300


def verify(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    expected = "v1=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    ok = False
    for candidate in signature.split(","):
        ok |= hmac.compare_digest(expected, candidate.strip())
    return ok


class Seen:
    """Event ids already handled; kept in SQLite so a restart still deduplicates."""

    def __init__(self, path: str):
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("CREATE TABLE IF NOT EXISTS seen (event_id TEXT PRIMARY KEY)")

    def first_time(self, event_id: str) -> bool:
        cur = self.db.execute("INSERT OR IGNORE INTO seen (event_id) VALUES (?)", (event_id,))
        return cur.rowcount == 1


def handler(secret: bytes, seen: Seen):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            timestamp = self.headers.get("X-Keepwarm-Timestamp", "")
            signature = self.headers.get("X-Keepwarm-Signature", "")
            event_id = self.headers.get("X-Keepwarm-Event-Id", "")
            if not verify(secret, timestamp, body, signature):
                return self.answer(401, "bad signature")
            if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
                return self.answer(401, "stale timestamp")
            try:
                event = json.loads(body)
            except ValueError:
                return self.answer(400, "not JSON")
            if event.get("id") != event_id:
                return self.answer(400, "event id mismatch")
            if seen.first_time(event_id):
                # Act on the event here (update the CRM); this example prints it.
                print(json.dumps(event, ensure_ascii=False), flush=True)
            self.answer(200, "ok")

        def answer(self, status: int, text: str):
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--secret-env", default="KEEPWARM_WEBHOOK_SECRET")
    parser.add_argument("--seen-db", default="receiver-seen.db", help="where handled event ids are kept")
    args = parser.parse_args()
    secret = os.environ.get(args.secret_env)
    if not secret:
        sys.exit(f"set {args.secret_env} to the webhook's signing secret")
    server = ThreadingHTTPServer((args.host, args.port), handler(secret.encode(), Seen(args.seen_db)))
    print(f"listening on http://{args.host}:{server.server_port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
