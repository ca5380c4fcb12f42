#!/usr/bin/env python3
"""Issue 19's figure from a client that shares no code with wsedge or wsbench.

N /ws connections (Python websockets), each subscribed to personal.<n> and 2
of 100 shared channels (shared.<k>), every subscription acknowledged; then a
hold, and the server's RSS from /proc: (RSS held - RSS before) / N.

    python3 idle_ws.py ws://127.0.0.1:8080/ws SERVER_PID 19000 [HS256_SECRET_FILE]

With a secret file, each connection sends an HS256 token (PyJWT, sub user<n>)
in Authorization: Bearer. Loopback only; connections are made 200 at a time.
"""
import asyncio
import json
import random
import sys
import time
from urllib.parse import urlparse

import websockets


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def open_one(url, i, secret, conns):
    headers = {}
    if secret is not None:
        import jwt  # PyJWT

        tok = jwt.encode({"sub": f"user{i}", "exp": int(time.time()) + 3600}, secret, algorithm="HS256")
        headers["Authorization"] = "Bearer " + tok
    ws = await websockets.connect(url, extra_headers=headers, ping_interval=None, compression=None, max_size=1 << 16)
    conns.append(ws)
    chans = [f"personal.{i}"] + [f"shared.{k}" for k in random.Random(i).sample(range(100), 2)]
    for n, ch in enumerate(chans):
        await ws.send(json.dumps({"type": "subscribe", "id": str(n), "channel": ch}))
    want = {str(n) for n in range(len(chans))}
    while want:
        m = json.loads(await ws.recv())
        if m.get("type") != "ack":
            raise RuntimeError(f"connection {i}: {m}")
        want.discard(m.get("id"))


async def main():
    url, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if not (urlparse(url).hostname or "").startswith("127."):
        sys.exit("loopback targets only (127.0.0.0/8)")
    secret = open(sys.argv[4], "rb").read().strip() if len(sys.argv) > 4 else None
    before = rss(pid)
    conns = []
    t0 = time.time()
    for start in range(0, n, 200):
        await asyncio.gather(*(open_one(url, i, secret, conns) for i in range(start, min(n, start + 200))))
    ramp = time.time() - t0
    await asyncio.sleep(8)
    after = rss(pid)
    print(f"{len(conns)} connections, 3 acknowledged subscriptions each, ramp {ramp:.1f} s, "
          f"server RSS {before / 2**20:.2f} MiB -> {after / 2**20:.2f} MiB, {(after - before) / n:.0f} B per connection")
    for ws in conns:
        ws.transport.abort()


asyncio.run(main())
