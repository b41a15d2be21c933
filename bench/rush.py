#!/usr/bin/env python3
"""When bookings open: N citizens arrive at the same moment, each opens one of the next
three weeks, picks a random free slot and reserves it; on "taken" they read the week again
and try another, three tries in all. Each citizen is its own client (its own forwarded
address, through the server's trusted proxy). One asyncio task per citizen over plain
HTTP/1.1. The crowd itself is bench/crowd.rs (built by rush.sh, named by CROWD): a
compiled program on one thread, so that the load generator takes as little as it can of
the two cores the server and the simulator share with it; this script sets the scene and
counts.

Usage: CROWD=target/release/examples/crowd rush.py BASE[,BASE2…] SIM N [FREE]   (prints one JSON line)
With several bases (instances sharing one store), citizen i goes to base i mod their number.
Before the doors open, staff book all but FREE of the free slots (default 63, as in the
crowd the issue describes; "all" keeps the demo calendar as seeded), so the figure does not
depend on the weekday the benchmark runs on. The time to the last successful hold is read
from the simulator (the time of its last write), against the moment the citizens were let
go."""
import asyncio
import json
import os
import random
import subprocess
import sys
import urllib.parse
import urllib.request
from datetime import date, datetime, timedelta

BASE, SIM, N = sys.argv[1], sys.argv[2], int(sys.argv[3])
FREE = sys.argv[4] if len(sys.argv) > 4 else "63"
# bench/booket.rush.toml's cache_ttl_seconds, plus a second: after staff have booked, the
# server's kept weeks must have lapsed before the free slots are counted.
CACHE_TTL = 11
INSTANCES = [(urllib.parse.urlsplit(b).hostname, urllib.parse.urlsplit(b).port) for b in BASE.split(",")]
DEADLINE = 60.0


def sim_state():
    with urllib.request.urlopen(SIM + "/_sim/state", timeout=30) as r:
        return json.loads(r.read())


async def post(path, fields, client, instance=0):
    """One request on its own connection to one of the instances; returns (status, json)."""
    HOST, PORT = INSTANCES[instance % len(INSTANCES)]
    body = urllib.parse.urlencode(fields).encode()
    reader, writer = await asyncio.open_connection(HOST, PORT)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{PORT}\r\nAccept: application/json\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
            f"X-Forwarded-For: {client}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        out, rest = b"", payload
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        payload = out
    try:
        return status, json.loads(payload or b"null")
    except ValueError:
        return status, None


def add_series():
    """Two recurring series of free slots (10 daily occurrences from next Monday, 13:30 and
    14:30 UTC) beside the single events: occurrences of a series share their master."""
    tenant, client, secret, owner = (
        "7d1f5c2e-4b8a-4e36-9a51-0c2d8e6f4b10",
        "3f6b9a14-2c7d-4e58-8b90-d1e2f3a4b5c6",
        "demo~Sim.Secret-Value_0123456789abcdef",
        "borgerservice@demo.booket.dk",
    )
    form = urllib.parse.urlencode({
        "client_id": client, "client_secret": secret, "grant_type": "client_credentials",
        "scope": "https://graph.microsoft.com/.default",
    }).encode()
    with urllib.request.urlopen(f"{SIM}/{tenant}/oauth2/v2.0/token", data=form, timeout=30) as r:
        token = json.loads(r.read())["access_token"]

    def graph(method, path, body=None):
        req = urllib.request.Request(
            f"{SIM}/v1.0{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    cals = graph("GET", f"/users/{owner}/calendars")["value"]
    cal = next(c["id"] for c in cals if c["name"] == "Borgerservice")
    monday = date.today() - timedelta(days=date.today().weekday()) + timedelta(weeks=1)
    for hour in (13, 14):
        start = f"{monday.isoformat()}T{hour:02}:30:00.0000000"
        end = f"{monday.isoformat()}T{hour + 1:02}:00:00.0000000"
        graph("POST", f"/users/{owner}/calendars/{cal}/events", {
            "subject": "Borgersamtale",
            "start": {"dateTime": start, "timeZone": "UTC"},
            "end": {"dateTime": end, "timeZone": "UTC"},
            "recurrence": {
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": monday.isoformat(), "numberOfOccurrences": 10},
            },
        })


def mondays(n=3):
    today = date.today()
    first = today - timedelta(days=today.weekday())
    return [first + timedelta(weeks=i) for i in range(n)]


async def free_slots(weeks, instance=0):
    """The free slots of these weeks as one more citizen sees them (on that instance):
    (start, end) pairs."""
    out = []
    for w in weeks:
        _, view = await post("/api/week", {"form": "plain", "element": "tid", "week": w.isoformat()}, "10.255.255.254", instance)
        out += [(s["start"], s["end"]) for s in view["slots"] if s["state"] == "free"]
    return out


def instant(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def leave_free(keep):
    """Staff book every free slot but `keep` (through the simulator's staff edit, as a clerk
    would in Outlook). Occurrences of the recurring series stay free: they are part of what
    the crowd meets."""
    weeks = mondays(4)  # the simulator's horizon; citizens reach the fourth via "next free"
    free = await free_slots(weeks)
    events = [
        e for t in sim_state()["tenants"] for u in t["users"] for c in u["calendars"]
        if c["name"] == "Borgerservice" for e in c["events"]
        if e["event_type"] == "singleInstance" and " - " not in e["subject"]
    ]
    by_time = {}
    for e in events:
        by_time.setdefault((instant(e["start"]), instant(e["end"])), []).append(e["id"])
    # A free slot at a time only one single event has is that event (a series occurrence
    # may share the time: it is counted among the others).
    single = sorted({by_time[k][0] for k in ((instant(a), instant(b)) for a, b in free) if len(by_time.get(k, [])) == 1})
    others = len(free) - len(single)
    random.Random(13).shuffle(single)
    for event_id in single[max(0, keep - others):]:
        req = urllib.request.Request(
            f"{SIM}/_sim/events/{event_id}", method="PATCH",
            data=json.dumps({"subject": "Borgersamtale - Booket"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=30).close()
    await asyncio.sleep(CACHE_TTL)
    # Before the doors open citizens are already looking at the weeks, on every instance.
    for i in range(1, len(INSTANCES)):
        await free_slots(weeks, i)
    return len(await free_slots(weeks))


async def main():
    add_series()
    weeks = mondays()
    # How many free slots there are before the doors open (read as one more citizen).
    if FREE == "all":
        free_before = len(await free_slots(mondays(4)))
    else:
        free_before = await leave_free(int(FREE))
    before = sim_state()["stats"]
    crowd = json.loads(subprocess.run(
        [os.environ["CROWD"], BASE, str(N), ",".join(w.isoformat() for w in weeks)],
        check=True, capture_output=True, text=True, timeout=DEADLINE + 30,
    ).stdout)
    opened_wall, results, sent = crowd["opened_wall"], crowd["results"], crowd["sent"]
    after = sim_state()
    stats = after["stats"]
    outcomes, waits = {}, []
    for outcome, took in results:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if outcome != "no_answer":
            waits.append(took)
    waits.sort()
    held = outcomes.get("held", 0)
    # One slot, one citizen: as many reserved events in the calendar as citizens told "held".
    reserved = sum(
        1
        for t in after["tenants"] for u in t["users"] for c in u["calendars"] for e in c["events"]
        if e["subject"].endswith(" - Reserveret")
    )
    last_write = stats.get("last_write_unix_ms")
    calls = {k: stats[k] - before[k] for k in ("calendar_view_requests", "event_gets", "event_patches", "graph_requests")}

    def q(p):
        return round(waits[min(len(waits) - 1, int(p * len(waits)))], 2) if waits else None

    print(json.dumps({
        "citizens": N,
        "free_slots": free_before,
        "last_hold_after_s": round(last_write / 1000 - opened_wall, 2) if last_write else None,
        "answer_p50_s": q(0.5),
        "answer_p95_s": q(0.95),
        "answer_max_s": round(waits[-1], 2) if waits else None,
        # The crowd's own pace: when the first reserve, and half of all reserves, were sent.
        "first_reserve_sent_s": round(min(sent), 2) if sent else None,
        "reserves_sent_p50_s": round(sorted(sent)[len(sent) // 2], 2) if sent else None,
        "outcomes": outcomes,
        "reserved_events": reserved,
        "graph_calls": calls,
        "graph_calls_per_hold": round(calls["graph_requests"] / held, 2) if held else None,
    }))


asyncio.run(main())
