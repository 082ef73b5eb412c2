#!/usr/bin/env python3
"""Search and inbox latency against a seeded hub (see benches/search.sh).

Sends each query ROUNDS times over one keep-alive connection, one request at a time (an
operator typing), and prints one JSON line per group with p50 / p95 / max in milliseconds,
then one line with the index's size.
"""
import argparse
import http.client
import json
import time
import urllib.parse

parser = argparse.ArgumentParser()
parser.add_argument("--base", required=True)
parser.add_argument("--key", required=True)
parser.add_argument("--seeded", required=True, help="the seeder's JSON summary")
parser.add_argument("--stats", required=True, help="`omnibridge search stats` output")
parser.add_argument("--label", required=True)
parser.add_argument("--rounds", type=int, default=20)
args = parser.parse_args()

url = urllib.parse.urlparse(args.base)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
headers = {"Authorization": f"Bearer {args.key}"}


def get(path):
    started = time.perf_counter()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise SystemExit(f"{path}: {response.status} {body[:300]!r}")
    return elapsed, json.loads(body)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def measure(group, paths):
    times, results = [], []
    for path in paths:
        get(path)  # warm: the first request of a query pays for cold pages
    for _ in range(args.rounds):
        for path in paths:
            elapsed, body = get(path)
            times.append(elapsed)
            results.append(len(body.get("data", [])))
    print(json.dumps({
        "label": args.label, "group": group, "queries": len(paths), "requests": len(times),
        "p50_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1),
        "max_ms": round(max(times), 1), "mean_results": round(sum(results) / len(results), 1),
    }), flush=True)
    return times


def q(text, **params):
    return "/v1/search?" + urllib.parse.urlencode({"q": text, **params})


seeded = json.load(open(args.seeded))
probes = seeded["probes"]
all_search = []
all_search += measure("search: rare (order numbers of every age)", [q(p["query"]) for p in probes[:12]])
all_search += measure("search: common words", [q(w) for w in ["order", "delivery", "заказ", "注文", "Bestellung", "pedido", "commande", "refund"]])
all_search += measure("search: two words", [q(w) for w in ["refund order", "damaged box", "walnut desk", "заказ пришёл", "Lieferadresse ändern", "注文 発送"]])
all_search += measure("search: prefixes", [q(w) for w in ["repl", "invo", "bestell", "дост", "livr"]])
all_search += measure("search: conversations", [q(w, type="conversations") for w in ["refund", "damaged", "заказ"]])
all_search += measure("search: contacts", [q(w, type="contacts") for w in ["Smith", "Müller", "Иванов", "佐藤", "customer12"]])
print(json.dumps({"label": args.label, "group": "search: all", "requests": len(all_search),
                  "p50_ms": round(percentile(all_search, 50), 1), "p95_ms": round(percentile(all_search, 95), 1)}), flush=True)

_, channels = get("/v1/channels")
_, operators = get("/v1/operators")
channel = channels["data"][0]["id"] if isinstance(channels, dict) else channels[0]["id"]
ops = operators["data"] if isinstance(operators, dict) else operators
agent = next(o["id"] for o in ops if o.get("role") == "agent")
inbox = [
    f"/v1/conversations?status=open&channel_id={channel}",
    f"/v1/conversations?status=resolved&assignee={agent}",
    f"/v1/conversations?status=pending&channel_id={channel}",
]
measure("inbox: two filters", inbox)
measure("inbox: two filters, with summaries", [p + "&include=summary" for p in inbox])

stats = json.loads(args.stats)
print(json.dumps({"label": args.label, "group": "index", "seed_seconds": round(seeded["seed_seconds"], 1),
                  "index_seconds": round(seeded["index_seconds"], 1),
                  "indexed_per_second": round(seeded["messages"] / seeded["index_seconds"]) if seeded["index_seconds"] else None,
                  **stats}), flush=True)
