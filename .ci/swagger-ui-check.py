#!/usr/bin/env python3
"""Loads Swagger UI from a running Karvon in headless Chromium and checks that it renders the
operations list offline: every request the page makes stays on 127.0.0.1.

Usage: swagger-ui-check.py BASE_URL WORK_DIR   (BASE_URL like http://127.0.0.1:8080)
Chromium's own background services are denied name resolution (--host-resolver-rules), so no
packet leaves the machine; the page's requests are told apart in the net log by their initiator.
"""
import json
import pathlib
import subprocess
import sys
from urllib.parse import urlparse

base, work = sys.argv[1], pathlib.Path(sys.argv[2])
work.mkdir(parents=True, exist_ok=True)
netlog, dom_file = work / "netlog.json", work / "dom.html"
origin = base.rstrip("/")
command = [
    "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--no-pings",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    f"--user-data-dir={work / 'profile'}", f"--log-net-log={netlog}",
    "--virtual-time-budget=20000", "--dump-dom", f"{origin}/docs/",
]
result = subprocess.run(command, capture_output=True, text=True, timeout=120)
dom_file.write_text(result.stdout)
if result.returncode != 0:
    sys.exit(f"chromium exited with {result.returncode}: {result.stderr[-2000:]}")

spec = json.loads(subprocess.run(["curl", "-sf", f"{origin}/api-docs/openapi.json"],
                                 capture_output=True, text=True, check=True).stdout)
shown = {path for path in spec["paths"] if f'data-path="{path}"' in result.stdout}
missing = sorted(set(spec["paths"]) - shown)
if missing:
    sys.exit(f"Swagger UI did not render {len(missing)} of {len(spec['paths'])} paths, e.g. {missing[:5]}")

log = json.loads(netlog.read_text())
start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
page_requests = [
    event["params"]["url"]
    for event in log["events"]
    if event["type"] == start_job and event.get("params", {}).get("initiator") == origin
]
leaving = [url for url in page_requests if urlparse(url).hostname != "127.0.0.1"]
if not page_requests:
    sys.exit("the net log shows no request made by the page: the check itself is broken")
if leaving:
    sys.exit(f"the page requested addresses off this machine: {leaving}")
print(f"Swagger UI rendered all {len(shown)} paths; the page made {len(page_requests)} requests, all to 127.0.0.1")
