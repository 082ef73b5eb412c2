"""Verifies one captured webhook request with the official Standard Webhooks library.

Reads {"secret": "whsec_…", "body": base64 of the raw body, "headers": {…}} on stdin and prints
{"ok": true, "type": …} or {"ok": false, "error": …}. The body is verified as the raw bytes
received, exactly as a receiver must.
"""
import base64
import json
import sys

from standardwebhooks.webhooks import Webhook

request = json.load(sys.stdin)
try:
    payload = Webhook(request["secret"]).verify(base64.b64decode(request["body"]), request["headers"])
    print(json.dumps({"ok": True, "type": payload.get("type")}))
except Exception as error:  # the verdict, whatever the library raised
    print(json.dumps({"ok": False, "error": f"{type(error).__name__}: {error}"}))
