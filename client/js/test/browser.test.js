import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../wsedge.js";
import { fakeEnv, record } from "./fake.js";

test("offline: no attempts while the browser is offline; online: reconnect at once", async () => {
  const f = fakeEnv();
  const c = connect({ url: "ws://node/ws", env: f.env });
  const log = record(c);
  await f.clock.advance(0);
  f.socket().open();
  f.nav.onLine = false;
  f.win.dispatch("offline");
  f.socket().fail(); // the network went and took the socket with it
  await f.clock.advance(600_000);
  assert.equal(f.sockets.length, 1, "no attempt in 10 minutes offline");
  assert.deepEqual(log.of("reconnecting"), []);
  f.nav.onLine = true;
  f.win.dispatch("online");
  await f.clock.advance(0);
  assert.equal(f.sockets.length, 2, "online: an attempt without waiting");
  f.socket().open();
  assert.equal(c.state, "connected");
  c.close();
  assert.equal(f.win.listeners("online") + f.win.listeners("offline") + f.doc.listeners("visibilitychange"), 0, "close removes its listeners");
});

test("offline while a retry is pending cancels it; starting offline waits for online", async () => {
  const f = fakeEnv();
  f.nav.onLine = false;
  const c = connect({ url: "ws://node/ws", env: f.env });
  await f.clock.advance(60_000);
  assert.equal(f.sockets.length, 0);
  f.nav.onLine = true;
  f.win.dispatch("online");
  await f.clock.advance(0);
  assert.equal(f.sockets.length, 1);
  f.socket().fail();
  f.win.dispatch("offline");
  await f.clock.advance(60_000);
  assert.equal(f.sockets.length, 1);
  c.close();
});

test("online after many failures resets the backoff", async () => {
  const f = fakeEnv();
  f.rnd.value = 0.99;
  const c = connect({ url: "ws://node/ws", env: f.env });
  const log = record(c);
  for (let i = 0; i < 5; i++) {
    await f.clock.advance(0);
    f.socket().fail();
    await f.clock.advance(log.of("reconnecting").at(-1).inMs);
  }
  f.socket().fail();
  assert.equal(log.of("reconnecting").at(-1).kind, "unavailable");
  f.win.dispatch("offline");
  f.win.dispatch("online");
  await f.clock.advance(0);
  f.socket().fail();
  assert.deepEqual(log.of("reconnecting").at(-1), { inMs: 990, attempt: 1, kind: "failed" });
  c.close();
});

test("visible page: a pending backoff is cut short, but not the wait on an unavailable node", async () => {
  const f = fakeEnv();
  f.rnd.value = 0.99;
  const c = connect({ url: "ws://node/ws", env: f.env });
  const log = record(c);
  await f.clock.advance(0);
  f.socket().fail(); // retry in 990 ms
  f.doc.visibilityState = "hidden";
  f.doc.dispatch("visibilitychange");
  assert.equal(f.sockets.length, 1);
  f.doc.visibilityState = "visible";
  f.doc.dispatch("visibilitychange");
  await f.clock.advance(0);
  assert.equal(f.sockets.length, 2, "reconnected on showing the page");
  f.socket().fail();
  await f.clock.advance(log.of("reconnecting").at(-1).inMs);
  f.socket().fail(); // third failure before open: unavailable
  assert.equal(log.of("reconnecting").at(-1).kind, "unavailable");
  f.doc.dispatch("visibilitychange");
  await f.clock.advance(0);
  assert.equal(f.sockets.length, 3, "the node said it is unavailable: keep waiting");
  c.close();
});

test("visible page or online while connected: a ping checks the socket; no answer drops it", async () => {
  const f = fakeEnv();
  const c = connect({ url: "ws://node/ws", env: f.env, checkTimeout: 5000 });
  const log = record(c);
  await f.clock.advance(0);
  const s = f.socket();
  s.open();
  f.doc.dispatch("visibilitychange");
  assert.equal(s.last().type, "ping");
  s.ackAll();
  f.doc.dispatch("visibilitychange"); // within 2 x checkTimeout of the last check: no new ping
  assert.equal(s.sent.length, 1);
  f.win.dispatch("online"); // the network changed: check whatever the time
  assert.equal(s.sent.length, 2);
  await f.clock.advance(5000);
  assert.notEqual(s.closedWith, null, "the silent socket is closed");
  assert.deepEqual(log.of("disconnected"), [{ code: 4000, reason: "no answer to a ping" }]);
  await f.clock.advance(log.of("reconnecting")[0].inMs);
  assert.equal(f.sockets.length, 2);
  c.close();
});
