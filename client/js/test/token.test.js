import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, jwtExp, refreshDelay } from "../wsedge.js";
import { fakeEnv, record, jwt } from "./fake.js";

test("jwtExp reads exp from the payload (base64url, any UTF-8) and nothing else", () => {
  assert.equal(jwtExp(jwt({ sub: "u", exp: 1700000123 })), 1700000123);
  // '-' and '_' in base64url, non-ASCII claims, no padding.
  assert.equal(jwtExp(jwt({ sub: "ünïcødé ✓ ~~~???>>>", exp: 42 })), 42);
  for (const bad of ["", "abc", "a.b.c", "a..c", jwt({ sub: "u" }), jwt({ exp: "soon" }), null, undefined, 7]) {
    assert.equal(jwtExp(bad), null, String(bad));
  }
});

test("refreshDelay: margin before exp, never more than half of what is left", () => {
  const now = 1_000_000_000_000;
  const exp = (inS) => (now + inS * 1000) / 1000;
  assert.equal(refreshDelay(exp(3600), now, 30000), 3570_000);
  assert.equal(refreshDelay(exp(60), now, 30000), 30_000);
  assert.equal(refreshDelay(exp(40), now, 30000), 20_000, "half of the remaining 40 s");
  assert.equal(refreshDelay(exp(2), now, 30000), 1_000);
  assert.equal(refreshDelay(exp(-5), now, 30000), 0, "expired: at once");
});

test("connect: the token goes in the first message; connected carries client and user", async () => {
  const f = fakeEnv();
  const token = jwt({ sub: "u1", exp: f.clock.now / 1000 + 3600 });
  const c = connect({ url: "ws://node/ws", token, env: f.env });
  const log = record(c);
  c.subscribe("room");
  const early = c.publish("room", 1);
  await f.clock.advance(0);
  const s = f.socket();
  s.open();
  assert.equal(c.state, "connecting", "not connected before the server accepts the token");
  assert.deepEqual(s.sent, [{ type: "connect", id: "connect", token }]);
  s.receive({ type: "connected", id: "connect", client: "c9", user: "u1" });
  assert.equal(c.state, "connected");
  assert.deepEqual(c.info, { client: "c9", user: "u1" });
  assert.deepEqual(log.of("connected"), [{ client: "c9", user: "u1" }]);
  assert.deepEqual(s.sent.slice(1).map((m) => m.type), ["subscribe", "publish"]);
  s.ackAll();
  await early;
  c.close();
});

test("refresh: getToken before exp, refresh sent, the next one scheduled from the new exp", async () => {
  const f = fakeEnv();
  const nowS = () => f.clock.now / 1000;
  const issued = [];
  const getToken = async () => { const t = jwt({ sub: "u1", exp: nowS() + 120 }); issued.push(t); return t; };
  const c = connect({ url: "ws://node/ws", getToken, env: f.env });
  const log = record(c);
  await f.clock.advance(0);
  assert.equal(issued.length, 1, "no token given: asked before connecting");
  const s = f.socket();
  s.open();
  s.receive({ type: "connected", id: "connect", client: "c1", user: "u1" });
  await f.clock.advance(89_999);
  assert.equal(issued.length, 1, "not yet: 120 s token, 30 s margin");
  await f.clock.advance(1);
  assert.equal(issued.length, 2);
  const r = s.last();
  assert.deepEqual([r.type, r.token], ["refresh", issued[1]]);
  s.receive({ type: "ack", id: r.id });
  await f.clock.advance(0);
  assert.deepEqual(log.of("refreshed"), [{ exp: jwtExp(issued[1]) }]);
  await f.clock.advance(90_000);
  assert.equal(issued.length, 3, "the next refresh 90 s after the last");
  c.close();
});

test("refresh: a failure is retried with backoff until exp, a same-exp token is refused", async () => {
  const f = fakeEnv();
  f.rnd.value = 0.5;
  const exp = f.clock.now / 1000 + 60;
  let calls = 0;
  const first = jwt({ sub: "u1", exp });
  const getToken = async () => (++calls === 1 ? first : calls === 2 ? Promise.reject(new Error("backend down")) : first);
  const c = connect({ url: "ws://node/ws", getToken, env: f.env });
  const log = record(c);
  await f.clock.advance(0);
  f.socket().open();
  f.socket().receive({ type: "connected", id: "connect" });
  await f.clock.advance(30_000); // refresh due: getToken rejects
  assert.equal(calls, 2);
  await f.clock.advance(500); // backoff(0) at random 0.5; getToken now gives the same token
  assert.equal(calls, 3);
  assert.deepEqual(log.of("error").map((e) => [e.type, e.error.message]), [
    ["refresh", "backend down"], ["refresh", "getToken gave a token that expires no later"],
  ]);
  assert.equal(f.socket().sent.filter((m) => m.type === "refresh").length, 0, "nothing useless sent");
  await f.clock.advance(30_000);
  assert.ok(calls < 20, `bounded retries before exp: ${calls}`);
  c.close();
});

test("4001: reconnect only with a fresh token from getToken; without one, stop", async () => {
  const f = fakeEnv();
  let n = 0;
  let fresh = true;
  const getToken = async () => (fresh ? `t${++n}` : `t${n}`);
  const c = connect({ url: "ws://node/ws", getToken, env: f.env });
  const log = record(c);
  await f.clock.advance(0);
  f.socket().open();
  assert.equal(f.socket().sent[0].token, "t1");
  f.socket().serverClose(4001, "token expired");
  await f.clock.advance(log.of("reconnecting")[0].inMs);
  f.socket().open();
  assert.equal(f.socket().sent[0].token, "t2", "a fresh token for the new connection");
  assert.equal(n, 2);
  fresh = false; // the backend keeps handing out the refused token
  f.socket().serverClose(4001, "token expired");
  await f.clock.advance(600_000);
  assert.equal(f.sockets.length, 2, "no connection with the refused token");
  assert.equal(log.of("error").at(-1).error.code, "UNAUTHORIZED");
  c.setToken("t-new"); // e.g. after the user logged in again
  await f.clock.advance(0);
  assert.equal(f.sockets.length, 3);
  f.socket().open();
  assert.equal(f.socket().sent[0].token, "t-new");
  c.close();
});

test("4001 with a static token and no getToken: stop", async () => {
  const f = fakeEnv();
  const c = connect({ url: "ws://node/ws", token: "static", env: f.env });
  const log = record(c);
  await f.clock.advance(0);
  f.socket().open();
  f.socket().serverClose(4001, "unauthorized");
  await f.clock.advance(600_000);
  assert.equal(f.sockets.length, 1);
  assert.equal(log.of("reconnecting").length, 0);
  assert.equal(log.of("error").at(-1).error.code, "UNAUTHORIZED");
  c.close();
});

test("getToken giving no token stops; a rejection is retried with backoff", async () => {
  const f = fakeEnv();
  let answer = Promise.reject(new Error("offline backend"));
  answer.catch(() => {});
  const c = connect({ url: "ws://node/ws", getToken: () => answer, env: f.env });
  const log = record(c);
  await f.clock.advance(0);
  assert.equal(f.sockets.length, 0);
  assert.deepEqual(log.of("disconnected"), [{ code: 0, reason: "getToken failed" }]);
  assert.equal(log.of("reconnecting").length, 1);
  answer = Promise.resolve(null); // logged out
  await f.clock.advance(60_000);
  assert.equal(f.sockets.length, 0);
  assert.equal(c.state, "disconnected");
  assert.equal(log.of("error").at(-1).error.code, "UNAUTHORIZED");
  assert.equal(log.of("reconnecting").length, 1);
  c.close();
});

test("a connect refused with an error reply is an error and a retry", async () => {
  const f = fakeEnv();
  const c = connect({ url: "ws://node/ws", token: "t", env: f.env });
  const log = record(c);
  await f.clock.advance(0);
  f.socket().open();
  f.socket().receive({ type: "error", id: "connect", error: { code: "UNKNOWN_TYPE", message: "unknown type connect" } });
  assert.deepEqual(f.socket().closedWith, { code: 1000, reason: "connect refused" });
  f.socket().serverClose(1000, "");
  assert.deepEqual(log.of("error").map((e) => [e.type, e.error.code]), [["connect", "UNKNOWN_TYPE"]]);
  assert.equal(log.of("reconnecting").length, 1);
  c.close();
});

test("reconnecting reuses the token unless it expires within refreshMargin", async () => {
  const f = fakeEnv();
  const nowS = () => f.clock.now / 1000;
  let calls = 0;
  const getToken = async () => { calls++; return jwt({ sub: "u", exp: nowS() + 120, n: calls }); };
  // Never "connected" (no reply to connect), so no refresh runs: only reconnects ask for tokens.
  const c = connect({ url: "ws://node/ws", getToken, env: f.env, refreshMargin: 30000, connectTimeout: 1e9 });
  const log = record(c);
  await f.clock.advance(0);
  f.socket().open();
  const first = f.socket().sent[0].token;
  await f.clock.advance(10_000);
  f.socket().fail(); // 110 s left: reused
  await f.clock.advance(log.of("reconnecting").at(-1).inMs);
  f.socket().open();
  assert.equal(f.socket().sent[0].token, first);
  assert.equal(calls, 1);
  await f.clock.advance(90_000 - (f.clock.now - 1_700_000_000_000) + 1); // just past 90 s: under 30 s left
  f.socket().fail();
  await f.clock.advance(log.of("reconnecting").at(-1).inMs);
  f.socket().open();
  assert.notEqual(f.socket().sent[0].token, first);
  assert.equal(calls, 2);
  assert.equal(f.sockets.length, 3);
  c.close();
});

test("setToken while connected sends it with refresh", async () => {
  const f = fakeEnv();
  const c = connect({ url: "ws://node/ws", token: "old", env: f.env });
  const log = record(c);
  await f.clock.advance(0);
  f.socket().open();
  f.socket().receive({ type: "connected", id: "connect", user: "u" });
  c.setToken("new");
  const r = f.socket().last();
  assert.deepEqual([r.type, r.token], ["refresh", "new"]);
  f.socket().receive({ type: "error", id: r.id, error: { code: "PERMISSION_DENIED", message: "another user" } });
  await f.clock.advance(0);
  assert.deepEqual(log.of("error").map((e) => [e.type, e.error.code]), [["refresh", "PERMISSION_DENIED"]]);
  c.close();
});
