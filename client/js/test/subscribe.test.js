import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../wsedge.js";
import { fakeEnv, record } from "./fake.js";

function subscribes(s) {
  return s.sent.filter((m) => m.type === "subscribe" || m.type === "unsubscribe").map((m) => `${m.type} ${m.channel}`);
}

test("resubscribe: after a reconnect exactly the channels still wanted are subscribed again", async () => {
  const f = fakeEnv();
  const c = connect({ url: "ws://node/ws", env: f.env });
  const got = [];
  c.subscribe("news", (d) => got.push(["news", d]));
  const offSport = c.subscribe("sport", (d) => got.push(["sport", d]));
  await f.clock.advance(0);
  const s1 = f.socket();
  s1.open();
  assert.deepEqual(subscribes(s1), ["subscribe news", "subscribe sport"], "sent on connect, before anything else");
  s1.ackAll();
  const offWeather = c.subscribe("weather", (d) => got.push(["weather", d]));
  s1.ackAll();
  await offWeather.ready;
  offSport();
  assert.deepEqual(subscribes(s1), ["subscribe news", "subscribe sport", "subscribe weather", "unsubscribe sport"]);
  s1.ackAll();
  s1.receive({ type: "message", channel: "news", data: 1 });
  s1.receive({ type: "message", channel: "sport", data: 2 }); // in flight when we unsubscribed: not ours any more
  assert.deepEqual(c.channels(), ["news", "weather"]);

  s1.serverClose(1012, "restart");
  const offTv = c.subscribe("tv"); // while disconnected: nothing is sent, it joins the set
  await f.clock.advance(2000);
  const s2 = f.socket();
  assert.notEqual(s2, s1);
  const first = c.publish("news", "after"); // queued: must follow the resubscriptions
  s2.open();
  assert.deepEqual(s2.sent.map((m) => `${m.type} ${m.channel}`), ["subscribe news", "subscribe weather", "subscribe tv", "publish news"]);
  s2.ackAll();
  await first;
  await offTv.ready;
  s2.receive({ type: "message", channel: "weather", data: 3 });
  assert.deepEqual(got, [["news", 1], ["weather", 3]]);
  c.close();
});

test("ready is renewed per connection and settles with the ack of the current subscription", async () => {
  const f = fakeEnv();
  const c = connect({ url: "ws://node/ws", env: f.env });
  const off = c.subscribe("news");
  await f.clock.advance(0);
  f.socket().open();
  const first = off.ready;
  f.socket().ackAll();
  await first;
  f.socket().fail(); // after open: 1006
  const second = off.ready;
  assert.notEqual(second, first, "a new promise for the resubscription");
  let done = false;
  second.then(() => (done = true));
  await f.clock.advance(1000);
  f.socket().open();
  await f.clock.advance(0);
  assert.equal(done, false, "not before the server's ack");
  f.socket().ackAll();
  await second;
  c.close();
});

test("several handlers on one channel share one server subscription", async () => {
  const f = fakeEnv();
  const c = connect({ url: "ws://node/ws", env: f.env });
  await f.clock.advance(0);
  const s = f.socket();
  s.open();
  const a = [], b = [];
  const offA = c.subscribe("x", (d) => a.push(d));
  const offB = c.subscribe("x", (d) => b.push(d));
  s.ackAll();
  s.receive({ type: "message", channel: "x", data: 1 });
  offA();
  offA(); // twice is harmless
  s.receive({ type: "message", channel: "x", data: 2 });
  assert.deepEqual(subscribes(s), ["subscribe x"], "no unsubscribe while a handler is left");
  offB();
  assert.deepEqual(subscribes(s), ["subscribe x", "unsubscribe x"]);
  assert.deepEqual([a, b], [[1], [1, 2]]);
  c.close();
});

test("a refused subscription is dropped; a transient failure is retried with backoff", async () => {
  const f = fakeEnv();
  f.rnd.value = 0.5;
  const c = connect({ url: "ws://node/ws", env: f.env });
  const log = record(c);
  await f.clock.advance(0);
  const s = f.socket();
  s.open();
  const denied = c.subscribe("secret");
  const busy = c.subscribe("busy");
  const [d, b] = s.sent;
  s.receive({ type: "error", id: d.id, error: { code: "PERMISSION_DENIED", message: "no" } });
  s.receive({ type: "error", id: b.id, error: { code: "UNAVAILABLE", message: "broker down" } });
  await assert.rejects(denied.ready, { code: "PERMISSION_DENIED" });
  assert.deepEqual(c.channels(), ["busy"]);
  assert.deepEqual(log.of("error").map((e) => [e.type, e.channel, e.error.code]),
    [["subscribe", "secret", "PERMISSION_DENIED"], ["subscribe", "busy", "UNAVAILABLE"]]);
  await f.clock.advance(499);
  assert.equal(subscribes(s).length, 2);
  await f.clock.advance(1); // backoff(0) with random 0.5: 500 ms
  assert.deepEqual(subscribes(s), ["subscribe secret", "subscribe busy", "subscribe busy"]);
  s.ackAll();
  await busy.ready;
  c.close();
});

test("server pushes: unsubscribed drops the channel for good, subscribed and messages are events", async () => {
  const f = fakeEnv();
  const c = connect({ url: "ws://node/ws", env: f.env });
  const log = record(c);
  c.subscribe("a");
  c.subscribe("b");
  await f.clock.advance(0);
  f.socket().open();
  f.socket().ackAll();
  f.socket().receive({ type: "unsubscribed", channel: "a" });
  f.socket().receive({ type: "subscribed", channel: "server-side" });
  f.socket().receive({ type: "message", channel: "server-side", data: { v: 1 } });
  assert.deepEqual(log.of("unsubscribed"), [{ type: "unsubscribed", channel: "a" }]);
  assert.deepEqual(log.of("subscribed"), [{ type: "subscribed", channel: "server-side" }]);
  assert.deepEqual(log.of("message"), [{ type: "message", channel: "server-side", data: { v: 1 } }]);
  f.socket().fail();
  await f.clock.advance(1000);
  f.socket().open();
  assert.deepEqual(subscribes(f.socket()), ["subscribe b"]);
  c.close();
});

test("subscription tokens: asked for at every (re)subscribe", async () => {
  const f = fakeEnv();
  const c = connect({ url: "ws://node/ws", env: f.env });
  let n = 0;
  c.subscribe("private:1", null, { getToken: async (ch) => `sub-${ch}-${++n}` });
  c.subscribe("public", null, { token: "static" });
  await f.clock.advance(0);
  f.socket().open();
  await f.clock.advance(0);
  const tokens = () => f.socket().sent.filter((m) => m.type === "subscribe").map((m) => [m.channel, m.token]);
  assert.deepEqual(tokens(), [["public", "static"], ["private:1", "sub-private:1-1"]]);
  f.socket().fail();
  await f.clock.advance(1000);
  f.socket().open();
  await f.clock.advance(0);
  assert.deepEqual(tokens(), [["public", "static"], ["private:1", "sub-private:1-2"]]);
  c.close();
});
