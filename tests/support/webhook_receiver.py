#!/usr/bin/env python3
"""A webhook receiver for the alert tests: records every request it gets as a
JSON line, checks the X-Cxpulse-Signature over timestamp "." body (except on
/chat/... and Alertmanager's /api/v2/alerts, where requests arrive unsigned),
and fails on command (503 for the first N requests, or one status for every
request), or never answers.

usage: webhook_receiver.py --port P --log FILE [--secret S] [--refuse N] [--status CODE]
                           [--delay-ms MS] [--latin1] [--ansi] [--hang] [--hang-first N]
(--latin1: refusals answer 300 bytes of Latin-1 text, which is not UTF-8;
--ansi: refusals answer terminal escape sequences around their text;
--hang: each request is read and recorded, with status 0, and never answered;
--hang-first N: the same for the first N requests only.)
Prints "ready" on stdout once it listens on 127.0.0.1:P.
"""
import argparse
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--secret")
    ap.add_argument("--refuse", type=int, default=0)
    ap.add_argument("--status", type=int, default=200)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--latin1", action="store_true")
    ap.add_argument("--ansi", action="store_true")
    ap.add_argument("--hang", action="store_true")
    ap.add_argument("--hang-first", type=int, default=0)
    args = ap.parse_args()
    lock = threading.Lock()
    seen = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            ts = self.headers.get("X-Cxpulse-Timestamp", "")
            sig = self.headers.get("X-Cxpulse-Signature", "")
            ok = stale = None
            unsigned = self.path.startswith("/chat") or self.path.endswith("/api/v2/alerts")
            if args.secret is not None and not unsigned:
                want = "sha256=" + hmac.new(args.secret.encode(), ts.encode() + b"." + body,
                                            hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(want, sig)
                # as docs/alerts.md advises: a timestamp too old is retried (503), for
                # it may be a clock that is off, not a replay
                stale = ok and abs(time.time() - int(ts or 0)) >= 300
            with lock:
                seen["n"] += 1
                status = 503 if seen["n"] <= args.refuse else args.status
                if ok is False:
                    status = 401
                elif stale:
                    status = 503
                hang = args.hang or seen["n"] <= args.hang_first
                if hang:
                    status = 0
                rec = {"n": seen["n"], "status": status, "signature_ok": ok,
                       "key": self.headers.get("Idempotency-Key"), "path": self.path,
                       "body": json.loads(body)}
                with open(args.log, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            if hang:
                threading.Event().wait()  # the connection stays open, unanswered
            time.sleep(args.delay_ms / 1000)
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            refusal = b"refused on purpose\n"
            if args.latin1:
                refusal = b"refus\xe9 " * 50
            elif args.ansi:
                refusal = (b"\x1b]0;owned\x07\x1b[31mrefused\x1b[0m\tbadly"
                           b" \xc2\x9b2J\xe2\x80\xaeevil\n")  # C1 CSI, right-to-left override
            self.wfile.write(b"ok\n" if status == 200 else refusal)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
