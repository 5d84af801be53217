"""Times each report as an admin over every centre, against a running server seeded by
`karvon seed-demo`. Prints a Markdown table: median and slowest of ROUNDS calls per report.

    python3 bench/reports.py BASE_URL ROUNDS BACKEND SEED_SECONDS PGBENCH_TPS
"""

import datetime
import json
import statistics
import sys
import time
import urllib.request

BASE, ROUNDS, BACKEND, SEEDED, CEILING = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]


def call(method, path, token=None, body=None, accept="application/json"):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, method=method, data=data)
    request.add_header("content-type", "application/json")
    request.add_header("accept", accept)
    if token:
        request.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read()


def main():
    token = json.loads(call("POST", "/api/v1/auth/login",
                            body={"username": "bench.admin", "password": "bench-admin-password-1"}))["access_token"]
    today = datetime.date.today()
    year = (today - datetime.timedelta(days=365)).isoformat()
    month = (today - datetime.timedelta(days=30)).isoformat()
    end = (today + datetime.timedelta(days=1)).isoformat()
    reports = [
        ("consultations, one year, by month and sex", f"consultations?from={year}&to={end}&group_by=month,sex"),
        ("consultations, one year, by topic", f"consultations?from={year}&to={end}&group_by=topic"),
        ("consultations, one year, by age band and status", f"consultations?from={year}&to={end}&group_by=age_band,migration_status"),
        ("consultations, one year, by centre (CSV)", f"consultations?from={year}&to={end}&group_by=centre"),
        ("consultations, one month, by week and destination", f"consultations?from={month}&to={end}&group_by=week,destination_country"),
        ("referrals, one year, by provider kind and status", f"referrals?from={year}&to={end}&group_by=provider_kind,status"),
        ("follow-ups, one year, by month and status", f"follow-ups?from={year}&to={end}&group_by=month,status"),
        ("group sessions, one year, by month and kind", f"group-sessions?from={year}&to={end}&group_by=month,kind"),
        ("reach, one year, by channel and sex", f"reach?from={year}&to={end}&group_by=channel,sex"),
    ]
    print(f"### {BACKEND}: reports over every centre (admin)\n")
    print("| report | median ms | slowest ms |")
    print("|---|---|---|")
    for label, path in reports:
        accept = "text/csv" if "CSV" in label else "application/json"
        times = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            call("GET", "/api/v1/reports/" + path, token, accept=accept)
            times.append((time.perf_counter() - started) * 1000)
        print(f"| {label} | {statistics.median(times):.0f} | {max(times):.0f} |")
    print(f"\nSeeding took {SEEDED} s.", end="")
    if CEILING:
        print(f" pgbench -S (8 clients, 10 s) in the same run: {CEILING} tps.", end="")
    print()


main()
