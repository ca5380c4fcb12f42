"""Python websockets (an independent permessage-deflate implementation on
zlib) against a wsedge /echo, as the Autobahn fuzzingclient's compression
cases (12.x, 13.x) do it: for each case, offer the given permessage-deflate
parameters, let the library check the answer against RFC 7692 (it fails the
connection on any answer its offer does not allow), send messages of the
given sizes, text and binary, whole or auto-fragmented, and compare every
echo with what was sent.

stdin: JSON {"url": ..., "cases": [{"name", "offers": [{"snct", "cnct",
"smwb", "cmwb"}], "messages": [[size, binary, fragment, count]]}]}; cmwb is
null (not offered), true (offered without a value) or a number.
stdout: one JSON object per case: name, the answer header, the agreed
parameters, messages echoed, compressed frames received, and an error or
null.
"""

import asyncio
import json
import random
import sys
import time

import websockets
from websockets.extensions import permessage_deflate as pmd

# Count the compressed frames the server sends (RSV1 on a message's first
# frame) by watching the extension's decoder.
compressed_frames = 0
_decode = pmd.PerMessageDeflate.decode


def _counting_decode(self, frame, *, max_size=None):
    global compressed_frames
    if frame.rsv1:
        compressed_frames += 1
    return _decode(self, frame, max_size=max_size)


pmd.PerMessageDeflate.decode = _counting_decode

# Test data: German text with multi-byte characters (like Autobahn's Faust)
# and JSON for text messages; a bitmap-like mix of runs and noise for binary.
rng = random.Random(7)
WORDS = ["Faust", "Mephistopheles", "Gretchen", "Studierzimmer", "Walpurgisnacht",
         "Grün", "Äpfel", "über", "Straße", "schön", "Erdgeist", "Zueignung", "€uro"]
TEXT = " ".join(rng.choice(WORDS) for _ in range(60000))
TEXT += json.dumps([{"id": i, "user": rng.choice(WORDS), "ok": i % 3 == 0,
                     "score": rng.random()} for i in range(6000)], ensure_ascii=False)
BINARY = bytearray()
while len(BINARY) < 600000:
    if rng.random() < 0.5:
        BINARY += bytes([rng.randrange(256)]) * rng.randrange(1, 200)
    else:
        BINARY += rng.randbytes(rng.randrange(1, 64))
BINARY = bytes(BINARY)


class Source:
    """Consecutive slices of the test data, wrapping around, as Autobahn's
    cases take them (so a client keeping context finds earlier matches)."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            self.pos = 0
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out


def text_of(src, size):
    """size bytes of UTF-8 text (cut on a character boundary, padded)."""
    b = src.take(size * 2).encode()[:size]
    while True:
        try:
            s = b.decode()
            break
        except UnicodeDecodeError:
            b = b[:-1]
    return s + " " * (size - len(s.encode()))


def factory(o):
    return pmd.ClientPerMessageDeflateFactory(
        server_no_context_takeover=o["snct"],
        client_no_context_takeover=o["cnct"],
        server_max_window_bits=o["smwb"],
        client_max_window_bits=o["cmwb"])


async def run_case(url, case):
    global compressed_frames
    compressed_frames = 0
    res = {"name": case["name"], "answer": None, "agreed": None, "echoed": 0,
           "compressed": 0, "error": None}
    texts, bins = Source(TEXT), Source(BINARY)
    start = time.monotonic()
    try:
        async with websockets.connect(
                url, compression=None, extensions=[factory(o) for o in case["offers"]],
                max_size=None, ping_interval=None, open_timeout=10) as ws:
            res["answer"] = ws.response_headers.get("Sec-WebSocket-Extensions")
            for ext in ws.extensions:
                if isinstance(ext, pmd.PerMessageDeflate):
                    res["agreed"] = {
                        "remote_no_context_takeover": ext.remote_no_context_takeover,
                        "local_no_context_takeover": ext.local_no_context_takeover,
                        "remote_max_window_bits": ext.remote_max_window_bits,
                        "local_max_window_bits": ext.local_max_window_bits,
                    }
            for size, binary, frag, count in case["messages"]:
                for _ in range(count):
                    msg = bins.take(size) if binary else text_of(texts, size)
                    if frag:
                        if binary:
                            parts = [msg[i:i + frag] for i in range(0, len(msg), frag)]
                        else:  # fragments of text split on characters
                            parts = [msg[i:i + frag // 4] for i in range(0, len(msg), frag // 4)]
                        await ws.send(parts)
                    else:
                        await ws.send(msg)
                    echo = await asyncio.wait_for(ws.recv(), 30)
                    if type(echo) is not type(msg) or echo != msg:
                        raise AssertionError(
                            f"{'binary' if binary else 'text'} message of {size} bytes "
                            f"(fragments of {frag}): echo differs "
                            f"({type(echo).__name__} of {len(echo)})")
                    res["echoed"] += 1
            await ws.close()
            if ws.close_code != 1000:
                raise AssertionError(f"close code {ws.close_code}")
    except Exception as e:  # reported to the Go test, which fails on it
        res["error"] = f"{type(e).__name__}: {e}"
    res["compressed"] = compressed_frames
    res["seconds"] = time.monotonic() - start
    return res


async def main():
    req = json.load(sys.stdin)
    for case in req["cases"]:
        print(json.dumps(await run_case(req["url"], case)), flush=True)


asyncio.run(main())
