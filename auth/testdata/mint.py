"""Mints JWTs with PyJWT for the Go tests: an implementation independent of
the verifier. Reads {"items":[{"alg","secret"|"key_file","payload","headers"}]}
on stdin, writes a JSON list of tokens on stdout."""
import json
import sys

import jwt

req = json.load(sys.stdin)
out = []
for it in req["items"]:
    if "secret" in it:
        key = it["secret"].encode()
    else:
        with open(it["key_file"], "rb") as f:
            key = f.read()
    out.append(jwt.encode(it["payload"], key, algorithm=it["alg"], headers=it.get("headers")))
json.dump(out, sys.stdout)
