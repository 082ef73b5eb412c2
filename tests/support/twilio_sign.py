"""Signs a request the way Twilio does, with the official `twilio` package.

Reads {"token": …, "url": …, "params": {…}} on stdin and prints {"signature": …}: the
X-Twilio-Signature Twilio would send for a form POST of `params` to `url`, computed by
twilio.request_validator.RequestValidator, and whether the same library accepts it.
"""
import json
import sys

from twilio.request_validator import RequestValidator

request = json.load(sys.stdin)
validator = RequestValidator(request["token"])
signature = validator.compute_signature(request["url"], request["params"])
print(json.dumps({"signature": signature, "valid": validator.validate(request["url"], request["params"], signature)}))
