#!/usr/bin/env python3
"""Booking cost: wall time per booking (p50/p99) and round trips to Exchange per booking
(Graph requests and upload chunks, or EWS requests), read from the simulator's counters.
Usage: bookings.py BASE SIM FORM N FILE_BYTES"""
import json
import statistics
import sys
import time
import urllib.parse
import urllib.request
import uuid
from datetime import date, timedelta

BASE, SIM, FORM, N, FILE_BYTES = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])


def post(path, data, content_type="application/x-www-form-urlencoded"):
    req = urllib.request.Request(BASE + path, data=data, headers={"Content-Type": content_type, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def form(**fields):
    return urllib.parse.urlencode(fields).encode()


def multipart(fields, file_bytes):
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.pdf"\r\n'
        f"Content-Type: application/pdf\r\n\r\n".encode() + b"%PDF" + b"x" * (file_bytes - 4) + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def stats():
    with urllib.request.urlopen(SIM + "/_sim/state", timeout=30) as r:
        return json.loads(r.read())["stats"]


def trips(s):
    return s["graph_requests"] + s["upload_chunks"] + s["ews_requests"]


slots = []
monday = date.today() - timedelta(days=date.today().weekday())
for w in range(4):
    status, week = post("/api/week", form(form=FORM, element="tid", week=(monday + timedelta(weeks=w)).isoformat()))
    slots += [s["id"] for s in week.get("slots", []) if s["state"] == "free"]
# Leave the slots other runs use alone: take from the end for this form's turn.
slots = slots[-N:] if len(slots) >= N else slots
if len(slots) < N:
    print(json.dumps({"error": f"only {len(slots)} free slots"}))
    sys.exit(1)

times = []
before = stats()
for slot in slots:
    fields = {"form": FORM, "element": "tid", "slot_id": slot, "idempotency_key": uuid.uuid4().hex}
    t0 = time.perf_counter()
    if FILE_BYTES == 0:
        status, body = post("/api/book", form(**fields))
    else:
        data, ct = multipart(fields, FILE_BYTES)
        status, body = post("/api/book_form", data, ct)
    times.append((time.perf_counter() - t0) * 1000)
    if status != 200:
        print(json.dumps({"error": f"booking answered {status}: {body}"}))
        sys.exit(1)
after = stats()
times.sort()
p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
print(json.dumps({
    "n": len(times),
    "p50_ms": round(statistics.median(times), 1),
    "p99_ms": round(p99, 1),
    "round_trips_per_booking": round((trips(after) - trips(before)) / len(times), 2),
    "ews_share": round((after["ews_requests"] - before["ews_requests"]) / max(1, trips(after) - trips(before)), 2),
}))
