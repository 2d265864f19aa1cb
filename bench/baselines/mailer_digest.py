#!/usr/bin/env python3
"""Baseline for the mailer benchmark: the old tool's way of building the digest, one HTML table
assembled by string concatenation in Python, with the same columns as Vigia's digest (site,
technology, oldest, newest in dd/mm/yyyy HHhMM, status, days in red under the minimum, a 30-day
coverage strip, the details). Reads the fleets exported by `mailer/benches/render.rs --export`.

usage: mailer_digest.py FLEET_10000.json FLEET_300.json [RUNS [VIGIA_MS_FILE]]
"""

import html
import json
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

TZ = ZoneInfo("America/Sao_Paulo")
TODAY = date(2026, 11, 28)
WINDOW = [(TODAY - timedelta(days=i)).isoformat() for i in range(29, -1, -1)]


def fmt(ts):
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, TZ).strftime("%d/%m/%Y %Hh%M")


def build(rows):
    problems = [r for r in rows if r["status"] != "VERDICT_KIND_OK"]
    healthy = [r for r in rows if r["status"] == "VERDICT_KIND_OK"]
    out = "<html><body><h2>Auditoria CFTV</h2>"
    out += "<table border='1' cellpadding='3' cellspacing='0' style='font-family:Arial;font-size:11px'>"
    out += "<tr><th>Local</th><th>Tecnologia</th><th>Mais antiga</th><th>Mais recente</th><th>Situação</th><th>Dias</th><th>Últimos 30 dias</th></tr>"
    for r in problems + healthy:
        days = r["days"]
        color = "color:red" if days < r["min_days"] else ""
        out += "<tr>"
        out += "<td>" + html.escape(r["site"]) + "</td>"
        out += "<td>" + html.escape(r["technology"]) + "</td>"
        out += "<td>" + fmt(r["oldest"]) + "</td>"
        out += "<td>" + fmt(r["newest"]) + "</td>"
        out += "<td>" + r["status"] + "</td>"
        out += "<td style='" + color + "'>" + str(days) + "</td>"
        recorded = set(r["recorded_days"])
        out += "<td><table cellpadding='0' cellspacing='0'><tr>"
        for d in WINDOW:
            out += "<td width='3' style='background:" + ("#2e7d32" if d in recorded else "#c62828") + "'></td>"
        out += "</tr></table></td></tr>"
        if r["status"] != "VERDICT_KIND_OK":
            out += "<tr><td colspan='7'>"
            for d in r["details"]:
                out += "&bull; " + html.escape(d) + "<br>"
            out += "</td></tr>"
    out += "</table></body></html>"
    return out


def main():
    big = json.load(open(sys.argv[1]))
    small = json.load(open(sys.argv[2]))
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    build(big)  # warm-up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = build(big)
        times.append(time.perf_counter() - t)
    ms = statistics.median(times) * 1000
    print("baseline (Python string concatenation, %d runs, median)" % runs)
    print("  10,000 sites, 10%% problems: %.1f ms, HTML %d bytes" % (ms, len(out.encode())))
    print("  300 sites, 10%% problems: HTML %d bytes" % len(build(small).encode()))
    if len(sys.argv) > 4:
        vigia = float(open(sys.argv[4]).read())
        print("ratio: Vigia renders 10,000 sites %.1fx faster than the baseline (%.1f ms vs %.1f ms)"
              % (ms / vigia, vigia, ms))


main()
