"""Schemathesis hooks for the API contract test.

Adds one check to schemathesis' own: every 4xx answer is an RFC 9457 problem document
(`application/problem+json` with `type`, `title`, `status` and `detail`, its `status` the HTTP
status), and an answer that refuses the caller's input (400, 422) names the offending input in
`field`.
"""

import json

import schemathesis


@schemathesis.check
def problem_json_naming_the_field(ctx, response, case):
    status = response.status_code
    if not 400 <= status < 500:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/problem+json"):
        raise AssertionError(f"a {status} answer is {content_type or 'without a content type'}, not application/problem+json")
    try:
        problem = json.loads(response.content)
    except ValueError as e:
        raise AssertionError(f"a {status} problem is not JSON: {e}")
    if not isinstance(problem, dict):
        raise AssertionError(f"a {status} problem is not a JSON object")
    for member in ("type", "title", "detail"):
        if not isinstance(problem.get(member), str) or not problem[member]:
            raise AssertionError(f"a {status} problem has no {member!r}")
    if problem.get("status") != status:
        raise AssertionError(f"a {status} problem says status {problem.get('status')!r}")
    if status in (400, 422) and (not isinstance(problem.get("field"), str) or not problem["field"]):
        raise AssertionError(f"a {status} problem does not name the offending input in 'field': {problem.get('detail')!r}")
    return None
