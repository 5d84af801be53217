"""Times Karvon's everyday calls against a running server seeded by `karvon seed-demo`.

Sequential requests (one client) give latency percentiles; a short concurrent burst gives
throughput. Prints a Markdown table. Standard library only; loopback only.
"""
import json
import statistics
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

BASE, USERS, REQUESTS, PID, BACKEND, MIGRANTS = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
PASSWORD = "demo-password-karvon"
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(method, path, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    with opener.open(request, timeout=30) as response:
        return response.status, json.loads(response.read() or b"null")


def login(username):
    return call("POST", "/api/v1/auth/login", body={"username": username, "password": PASSWORD})[1]["access_token"]


def timed(n, fn):
    samples = []
    for i in range(n):
        started = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    return statistics.median(samples), pick(0.95), pick(0.99)


def rss_kib(kind):
    with open(f"/proc/{PID}/status") as status:
        for line in status:
            if line.startswith(kind):
                return int(line.split()[1])
    return 0


names = USERS.split(", ")
supervisor = login(names[0])
counsellor = login(names[1])
now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
_, migrants_page = call("GET", "/api/v1/migrants?limit=1", supervisor)
migrant_id = migrants_page["items"][0]["id"]
_, cases_page = call("GET", "/api/v1/cases?status=open&limit=1", supervisor)
case_id = cases_page["items"][0]["id"]

rows = [
    ("login (argon2id, OWASP cost)", 20, lambda i: login(names[1])),
    ("search `?q=gul` (one word, any script)", REQUESTS, lambda i: call("GET", "/api/v1/migrants?q=gul", supervisor)),
    ("search `?q=джаб гул` (two words)", REQUESTS, lambda i: call("GET", "/api/v1/migrants?q=%D0%B4%D0%B6%D0%B0%D0%B1%20%D0%B3%D1%83%D0%BB", supervisor)),
    ("duplicates (Gurlu Jabborzoda, 1990, female)", REQUESTS, lambda i: call("GET", "/api/v1/migrants/duplicates?given_name=Gurlu&family_name=Jabborzoda&birth_year=1990&sex=female", supervisor)),
    ("migrants, first page of 50", REQUESTS, lambda i: call("GET", "/api/v1/migrants?limit=50", supervisor)),
    ("migrant full record (audited read)", REQUESTS, lambda i: call("GET", f"/api/v1/migrants/{migrant_id}", supervisor)),
    ("consultations, newest 50 (supervisor)", REQUESTS, lambda i: call("GET", "/api/v1/consultations?limit=50", supervisor)),
    ("consultations, newest 50 (counsellor scope)", REQUESTS, lambda i: call("GET", "/api/v1/consultations?limit=50", counsellor)),
    ("open cases, page of 50", REQUESTS, lambda i: call("GET", "/api/v1/cases?status=open&limit=50", supervisor)),
    ("case timeline", REQUESTS, lambda i: call("GET", f"/api/v1/cases/{case_id}/timeline", supervisor)),
    ("caseloads (centre)", REQUESTS, lambda i: call("GET", "/api/v1/caseloads", supervisor)),
    ("log a consultation (write + audit)", REQUESTS, lambda i: call("POST", "/api/v1/consultations", counsellor, {
        "anonymous": {"sex": "female", "age_band": "25-34", "nationality": "TJ", "migration_status": "prospective"},
        "occurred_at": now, "channel": "walk_in", "duration_minutes": 15, "topics": ["pre_departure"],
        "language": "tg", "notes": "bench"})),
]

print(f"### {BACKEND}: {MIGRANTS} migrants, {2 * int(MIGRANTS)} consultations\n")
print("| call | n | p50 ms | p95 ms | p99 ms |")
print("|---|---|---|---|---|")
for label, n, fn in rows:
    p50, p95, p99 = timed(n, fn)
    print(f"| {label} | {n} | {p50:.1f} | {p95:.1f} | {p99:.1f} |")

burst = 2000
started = time.perf_counter()
with ThreadPoolExecutor(max_workers=8) as pool:
    list(pool.map(lambda i: call("GET", "/api/v1/migrants?q=gul&limit=20", supervisor), range(burst)))
elapsed = time.perf_counter() - started
print(f"\nThroughput, 8 concurrent clients searching: {burst / elapsed:.0f} requests/s.")
print(f"Server memory: {rss_kib('VmRSS') / 1024:.0f} MiB resident now, {rss_kib('VmHWM') / 1024:.0f} MiB peak.\n")
