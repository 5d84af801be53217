"""Helpers of bench/throughput.sh (standard library only, loopback only, no proxies).

    tput.py prepare BASE SUPERVISOR COUNSELLOR DIR   ids of open cases and migrants -> DIR/ids.json
    tput.py lua BASE SUPERVISOR COUNSELLOR DIR SECS  tokens + ids -> DIR/data.lua (for wrk), with
                                                     tokens that outlive a run of SECS seconds
    tput.py sample PID FILE                          VmRSS/VmHWM/Threads every 0.5 s until PID ends
    tput.py storm BASE PASSWORD SECONDS USER...      one login loop per user, each from its own
                                                     loopback address; prints one JSON line
    tput.py record wrk|pgbench OUTPUT RESULTS K=V... one run (its printed output + the script's
                                                     key=value pairs) -> a JSON line in RESULTS
    tput.py summary RESULTS SAMPLES BACKEND TITLE    Markdown table of the medians
    tput.py soak SAMPLES START END                   the soak's RSS series and whether it is flat

Tokens live 15 minutes (KARVON_ACCESS_TOKEN_TTL_SECS default): the script calls `lua` before every
wrk run, which logs in again when the tokens would expire during the run.
"""
import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import date, datetime, timezone

PASSWORD = "demo-password-karvon"
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# Prefixes of the demo's names (src/demo/people.rs), both scripts; one word and two words.
SEARCHES = [
    "gul", "mad", "far", "rus", "jab", "naz", "shar", "dil",
    "гул", "рустам", "джаб", "фарҳод",
    "farhod rah", "madina naz", "rustam kholov", "джаб гул", "зарина саид",
]


def call(base, method, path, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    with opener.open(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def login(base, username, password=PASSWORD):
    body = {"username": username, "password": password}
    return call(base, "POST", "/api/v1/auth/login", body=body)["access_token"]


def collect(base, token, path, want):
    """Ids from a keyset-paged list, following `next_cursor`."""
    ids, cursor = [], None
    while len(ids) < want:
        page = call(base, "GET", path + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else ""), token)
        ids += [item["id"] for item in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return ids[:want]


def prepare(base, supervisor, counsellor, directory):
    if os.path.exists(os.path.join(directory, "data.lua")):
        os.remove(os.path.join(directory, "data.lua"))  # another backend's tokens and ids
    sup = login(base, supervisor)
    cou = login(base, counsellor)
    me = call(base, "GET", "/api/v1/me", sup)
    # The counsellor's own open cases: get_case reads them with the counsellor's scope check.
    cases = collect(base, cou, "/api/v1/cases?status=open&limit=100", 500)
    migrants = collect(base, cou, "/api/v1/migrants?limit=100", 500)
    if not cases or not migrants:
        sys.exit(f"prepare: {len(cases)} open cases, {len(migrants)} migrants visible to {counsellor}")
    today = date.today()
    start = date(today.year - 1, today.month, 1)
    end = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    ids = {
        "centre_id": me["centre_id"],
        "cases": cases,
        "migrants": migrants,
        "searches": [urllib.parse.quote(q) for q in SEARCHES],
        "report": f"from={start}&to={end}&group_by=month",
    }
    with open(os.path.join(directory, "ids.json"), "w") as out:
        json.dump(ids, out)
    print(me["centre_id"], len(cases), len(migrants))


def lua_string(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lua_list(values):
    return "{" + ",".join(lua_string(v) for v in values) + "}"


TOKEN_TTL = 900  # KARVON_ACCESS_TOKEN_TTL_SECS default


def write_lua(base, supervisor, counsellor, directory, seconds):
    """Tokens are reused while they outlive the coming run by a minute: every login hashes with
    argon2id (19 MiB, ~20 ms of CPU), which would otherwise weigh on each scenario."""
    path = os.path.join(directory, "data.lua")
    if os.path.exists(path) and time.time() - os.path.getmtime(path) + float(seconds) + 60 < TOKEN_TTL:
        return
    with open(os.path.join(directory, "ids.json")) as f:
        ids = json.load(f)
    sup, cou = login(base, supervisor), login(base, counsellor)
    text = (
        "return {\n"
        f"  supervisor = {lua_string('Bearer ' + sup)},\n"
        f"  counsellor = {lua_string('Bearer ' + cou)},\n"
        f"  cases = {lua_list(ids['cases'])},\n"
        f"  migrants = {lua_list(ids['migrants'])},\n"
        f"  searches = {lua_list(ids['searches'])},\n"
        f"  report = {lua_string(ids['report'])},\n"
        "}\n"
    )
    with open(path + ".tmp", "w") as out:
        out.write(text)
    os.replace(path + ".tmp", path)


def proc_status(pid):
    values = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM", "Threads"):
                    values[key] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return values


def sample(pid, path):
    with open(path, "a", buffering=1) as out:
        while True:
            values = proc_status(pid)
            if not values:
                return
            out.write(f"{time.time():.2f} {values['VmRSS']} {values['VmHWM']} {values['Threads']}\n")
            time.sleep(0.5)


def storm(base, password, seconds, users):
    """One thread per account, logging in again and again from its own loopback address (the
    login throttle counts attempts per address and per username: 50 people at 50 desks)."""
    host, port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
    deadline = time.monotonic() + seconds
    latencies, statuses, errors = [], {}, []
    lock = threading.Lock()

    def run(index, username):
        source = (f"127.0.1.{index + 1}", 0)
        body = json.dumps({"username": username, "password": password})
        conn = None
        while time.monotonic() < deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=60, source_address=source)
                started = time.perf_counter()
                conn.request("POST", "/api/v1/auth/login", body, {"content-type": "application/json"})
                response = conn.getresponse()
                response.read()
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    statuses[response.status] = statuses.get(response.status, 0) + 1
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    errors.append(f"{username}: {error!r}")
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.1)

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(i, u)) for i, u in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0.0
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    print(json.dumps({
        "logins": ok, "attempts": len(latencies), "accounts": len(users),
        "rate": ok / elapsed, "p50": pick(0.5), "p99": pick(0.99),
        "non2xx": len(latencies) - ok, "statuses": statuses,
        "socket_errors": len(errors), "first_error": errors[0] if errors else None,
    }))


def parse_wrk(path):
    result = {"ok": False}
    with open(path) as f:
        for line in f:
            if line.startswith("KARVON first_error="):
                result["first_error"] = line.split("=", 1)[1].strip()
            elif line.startswith("KARVON "):
                for field in line.split()[1:]:
                    key, _, value = field.partition("=")
                    result[key] = value if key == "codes" else float(value)
                result["ok"] = True
    if result["ok"]:
        result["socket_errors"] = int(sum(result[k] for k in ("connect", "read", "write", "timeout")))
        result["non2xx"] = int(result["non2xx"])
    return result


def parse_pgbench(path):
    result = {"ok": False}
    with open(path) as f:
        for line in f:
            if line.startswith("tps = "):
                result["tps"] = float(line.split()[2])
                result["ok"] = True
            elif line.startswith("latency average"):
                result["latency_ms"] = float(line.split()[3])
            elif line.startswith("number of failed transactions"):
                result["failed"] = int(line.split(":")[1].split()[0])
    return result


def record(kind, output, results, pairs):
    """Appends one run to RESULTS (JSON lines): what wrk or pgbench printed, plus key=value pairs
    from the script (key=@FILE: a JSON file). Prints a one-line account of the run."""
    row = parse_wrk(output) if kind == "wrk" else parse_pgbench(output)
    for pair in pairs:
        key, _, value = pair.partition("=")
        if value.startswith("@"):
            try:
                with open(value[1:]) as f:
                    value = json.load(f)
            except (OSError, ValueError) as error:
                value = {"problem": f"{value[1:]}: {error}"}
        elif key in ("t_start", "t_end"):
            value = float(value)
        elif key in ("rss_start", "rss_end", "connections", "round") and value.isdigit():
            value = int(value)
        if value != "":
            row[key] = value
    if not row["ok"] and not row.get("problem"):
        row["problem"] = f"{kind} printed no result"
    with open(results, "a") as out:
        out.write(json.dumps(row) + "\n")
    if kind == "wrk" and row["ok"]:
        line = (f"{row['scenario']:<18} {row['rps']:>8.0f} req/s  p50 {row['p50_ms']:6.1f} ms  "
                f"p99 {row['p99_ms']:7.1f} ms  non-2xx {row['non2xx']}  socket errors {row['socket_errors']}")
        storm = row.get("storm")
        if isinstance(storm, dict) and "logins" in storm:
            line += (f"  | {storm['logins']} logins ({storm['rate']:.1f}/s) p50 {storm['p50']:.0f} ms "
                     f"p99 {storm['p99']:.0f} ms non-2xx {storm['non2xx']}")
    elif row["ok"]:
        line = f"{row['scenario']:<18} {row['tps']:>8.0f} tps    avg {row.get('latency_ms', 0):6.1f} ms"
    else:
        line = f"{row['scenario']:<18} FAILED: {row.get('problem')}"
    if row.get("problem") and row["ok"]:
        line += f"  PROBLEM: {row['problem']}"
    print(line)


def load_samples(path):
    samples = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 4:
                    samples.append((float(parts[0]), int(parts[1]), int(parts[2]), int(parts[3])))
    return samples


def mib(kib):
    return f"{kib / 1024:.0f}"


def fmt(value, digits=0):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}".replace(",", " ")


READS = {"get_case", "list_cases", "search", "caseloads", "report", "login_storm"}
LABELS = {
    "get_case": "get_case — GET /cases/{id} (counsellor, audited)",
    "list_cases": "list_cases — GET /cases?limit=50 (counsellor)",
    "search": "search — GET /migrants?q=… (counsellor)",
    "post_consultation": "post_consultation — POST /consultations (counsellor)",
    "caseloads": "caseloads — GET /caseloads (supervisor)",
    "report": "report — GET /reports/consultations, 1 year by month (supervisor)",
    "login_storm": "login_storm — get_case while the storm accounts log in",
    "soak": "soak — 3 get_case : 1 post_consultation",
    "server": "server",
}


def summary(results_path, samples_path, backend, title):
    rows = []
    with open(results_path) as f:
        for line in f:
            row = json.loads(line)
            if row.get("backend") == backend:
                rows.append(row)
    samples = load_samples(samples_path)
    med = lambda values: statistics.median(values) if values else None
    pg = {}
    for kind in ("pgbench_S", "pgbench_N"):
        tps = [r["tps"] for r in rows if r["scenario"] == kind and r.get("ok")]
        pg[kind] = med(tps)
    out = [title, "",
           "| scenario | conns | req/s | p50 ms | p99 ms | ratio to pgbench | non-2xx | socket errors | peak RSS MiB | RSS start→end MiB | status |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    failed = []
    order = []
    for r in rows:
        if r["scenario"] not in order and not r["scenario"].startswith("pgbench"):
            order.append(r["scenario"])
    for name in order:
        runs = [r for r in rows if r["scenario"] == name]
        good = [r for r in runs if r.get("ok")]
        rps = med([r["rps"] for r in good])
        p50 = med([r["p50_ms"] for r in good])
        p99 = med([r["p99_ms"] for r in good])
        non2xx = sum(r.get("non2xx", 0) for r in runs)
        sock = sum(r.get("socket_errors", 0) for r in runs)
        problems = [r.get("problem") for r in runs if r.get("problem")]
        bad = len(good) < len(runs) or non2xx or sock or problems
        if name == "login_storm":
            storms = [r.get("storm", {}) for r in runs]
            bad = bad or any(s.get("non2xx") or s.get("socket_errors") or not s.get("logins") for s in storms)
        status = "FAILED" if bad else "ok"
        if bad:
            failed.append(name)
        reference = pg["pgbench_N"] if name == "post_consultation" else pg["pgbench_S"]
        flag = "N" if name == "post_consultation" else "S"
        ratio = f"{rps / reference:.3f} of -{flag}" if rps and reference and name in READS | {"post_consultation"} else "—"
        peaks, spans = [], []
        for r in runs:
            if "t_start" in r:
                window = [s[1] for s in samples if r["t_start"] <= s[0] <= r["t_end"] + 0.5]
                peaks += window[-1:] and [max(window)]
            spans.append(f"{mib(r['rss_start'])}→{mib(r['rss_end'])}" if r.get("rss_start") else "—")
        out.append(
            f"| {LABELS.get(name, name)} | {runs[0].get('connections', '—')} | {fmt(rps)} | {fmt(p50, 1)} | {fmt(p99, 1)} "
            f"| {ratio} | {non2xx} | {sock} | {mib(max(peaks)) if peaks else '—'} | {', '.join(spans)} | {status} |"
        )
    for kind, flag in (("pgbench_S", "-S (select only)"), ("pgbench_N", "-N (simple update)")):
        runs = [r for r in rows if r["scenario"] == kind]
        if runs:
            lat = med([r["latency_ms"] for r in runs if r.get("ok") and "latency_ms" in r])
            bad = any(not r.get("ok") or r.get("failed") for r in runs)
            if bad:
                failed.append(kind)
            out.append(f"| pgbench {flag}, reference | {runs[0]['connections']} | {fmt(pg[kind])} tps | — | — "
                       f"| 1 | — | — | — | — | {'FAILED' if bad else f'ok (avg {lat:.1f} ms)'} |")
    out.append("")
    storms = [r for r in rows if r["scenario"] == "login_storm" and r.get("storm")]
    if storms:
        s = [r["storm"] for r in storms]
        base = [r for r in rows if r["scenario"] == "get_case" and r.get("ok")]
        out.append(
            f"Login storm: {s[0]['accounts']} accounts logging in back to back, each from its own "
            f"loopback address, while get_case ran: {fmt(med([x['logins'] for x in s]))} logins per run "
            f"({fmt(med([x['rate'] for x in s]), 1)}/s), login p50 {fmt(med([x['p50'] for x in s]))} ms, "
            f"p99 {fmt(med([x['p99'] for x in s]))} ms, non-2xx {sum(x['non2xx'] for x in s)}, "
            f"socket errors {sum(x['socket_errors'] for x in s)}; get_case p99 "
            f"{fmt(med([r['p99_ms'] for r in storms if r.get('ok')]), 1)} ms with the storm vs "
            f"{fmt(med([r['p99_ms'] for r in base]), 1)} ms without."
        )
    if samples:
        hwm = max(s[2] for s in samples)
        out.append(
            f"Server: peak RSS {mib(hwm)} MiB (VmHWM), sampled max {mib(max(s[1] for s in samples))} MiB, "
            f"end {mib(samples[-1][1])} MiB; threads peak {max(s[3] for s in samples)}."
        )
    for r in rows:
        notes = [r.get("problem")]
        if r.get("non2xx"):
            notes.append(f"non-2xx by status {r.get('codes')}, the first: {r.get('first_error')}")
        if r.get("socket_errors"):
            notes.append(" ".join(f"{k} {int(r[k])}" for k in ("connect", "read", "write", "timeout") if r.get(k)))
        storm = r.get("storm") if isinstance(r.get("storm"), dict) else {}
        if storm.get("non2xx") or storm.get("socket_errors") or storm.get("problem"):
            notes.append(f"login storm: statuses {storm.get('statuses')}, {storm.get('first_error') or storm.get('problem') or ''}")
        notes = [n for n in notes if n]
        if notes:
            out.append(f"- {r['scenario']} round {r['round']}: " + "; ".join(notes))
    print("\n".join(out))
    return failed


def soak(samples_path, start, end):
    samples = [s for s in load_samples(samples_path) if start <= s[0] <= end + 1]
    if not samples:
        print("soak: no RSS samples")
        return
    every = []
    next_at = start
    for s in samples:
        if s[0] >= next_at:
            every.append(s)
            next_at += 10
    length = end - start
    window = min(60.0, length / 3)
    series = [f"0 s {mib(samples[0][1])}"]
    minute = 60
    for s in every:
        if s[0] - start >= minute:
            series.append(f"{minute // 60} min {mib(s[1])}")
            minute += 60
    series.append(f"end {mib(samples[-1][1])}")
    first = [s[1] for s in samples if start + window <= s[0] < start + 2 * window]
    last = [s[1] for s in samples if s[0] >= end - window]
    print("Soak RSS (MiB, sampled every 10 s; every minute shown): " + ", ".join(series))
    if first and last:
        growth = max(last) - max(first)
        flat = growth <= max(8 * 1024, 0.05 * max(first))
        print(
            f"Soak: max RSS {mib(max(first))} MiB in the first {window:.0f} s after a {window:.0f} s warm-up, "
            f"{mib(max(last))} MiB in the last {window:.0f} s: "
            + ("flat (grew ≤ 5 % or ≤ 8 MiB)." if flat else f"NOT flat (+{mib(growth)} MiB).")
        )
    print("Soak RSS series, every 10 s (MiB): " + " ".join(mib(s[1]) for s in every))


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "prepare":
        prepare(*args)
    elif command == "lua":
        write_lua(*args)
    elif command == "sample":
        sample(int(args[0]), args[1])
    elif command == "storm":
        storm(args[0], args[1], float(args[2]), args[3:])
    elif command == "record":
        record(args[0], args[1], args[2], args[3:])
    elif command == "summary":
        failed = summary(*args)
        if failed:
            print(f"\nFAILED: {', '.join(failed)}", file=sys.stderr)
            sys.exit(3)
    elif command == "soak":
        soak(args[0], float(args[1]), float(args[2]))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
