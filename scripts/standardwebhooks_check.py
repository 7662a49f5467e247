#!/usr/bin/env python3
"""Checks Baton's webhooks with the official `standardwebhooks` library (PyPI), as a new
user's receiver would: every delivery must verify, before and after a secret rotation.

    pip install standardwebhooks
    baton up &                       # on 127.0.0.1:8080
    python3 scripts/standardwebhooks_check.py http://127.0.0.1:8080
"""
import http.server
import json
import sys
import threading
import time
import urllib.request
import uuid

from standardwebhooks.webhooks import Webhook

BATON = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
received = []


class Receiver(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.end_headers()


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BATON + path, data=data, method=method)
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
topic = "swh-" + uuid.uuid4().hex[:8]
call("POST", "/topics", {"name": topic})
endpoint = f"http://127.0.0.1:{server.server_address[1]}/hook"
sub = call("POST", f"/topics/{topic}/subscriptions", {"endpoint": endpoint})
old = sub["secret"]
sent = [
    call("POST", f"/topics/{topic}/messages", m)["message_id"]
    for m in (
        {"message": {"hello": "wörld"}, "subject": "s",
         "attributes": {"n": {"Type": "Number", "Value": "3"}}},
        {"message": "plain text"},
    )
]
new = call("POST", f"/topics/{topic}/subscriptions/{sub['id']}/rotate-secret")["secret"]
sent.append(call("POST", f"/topics/{topic}/messages", {"message": {"after": "rotation"}})["message_id"])
deadline = time.time() + 10
while len(received) < len(sent) and time.time() < deadline:
    time.sleep(0.05)
assert sorted(h["webhook-id"] for h, _ in received) == sorted(sent), received
for i, (headers, body) in enumerate(received):
    secrets = [old] if headers["webhook-id"] != sent[2] else [old, new]
    for s in secrets:
        Webhook(s).verify(body, headers)  # raises if the signature does not verify
print(f"ok: {len(received)} deliveries verified by the official standardwebhooks library")
call("DELETE", f"/topics/{topic}")
