"""wss:// echo client for the interop test (interop_test.go): Python's ssl
module (OpenSSL) under python3-websockets. Run with Debian's /usr/bin/python3.

usage: client.py URL CAFILE IDLE_SECONDS

Echoes text and binary messages of several sizes, goes quiet for
IDLE_SECONDS (longer than the server's -tls-cipher-idle), echoes again,
closes with 1000 and prints "ok <TLS version>"; any mismatch exits 1.
"""
import asyncio
import ssl
import sys

import websockets

SIZES = [0, 1, 125, 126, 16384, 16385, 100000, 300000]


def payload(n, seed):
    return bytes((i * 7 + (i >> 8) + seed) & 0xFF for i in range(n))


async def echo(ws, msg):
    await ws.send(msg)
    got = await asyncio.wait_for(ws.recv(), 20)
    if got != msg:
        raise SystemExit(f"echo of {len(msg)} {'bytes' if isinstance(msg, bytes) else 'chars'}: got {len(got)} back, different")


async def main(url, cafile, idle):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    async with websockets.connect(url, ssl=ctx, max_size=4 << 20, ping_interval=None,
                                  compression=None) as ws:
        for seed, n in enumerate(SIZES):
            await echo(ws, payload(n, seed))
            await echo(ws, "κόσμε🙂" * (n // 12))
        await asyncio.sleep(idle)
        await echo(ws, payload(300000, 99))
        await echo(ws, "after the quiet period")
        version = ws.transport.get_extra_info("ssl_object").version()
        await ws.close(1000)
        if ws.close_code != 1000:
            raise SystemExit(f"close code {ws.close_code}, want 1000")
    print("ok", version)


asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
