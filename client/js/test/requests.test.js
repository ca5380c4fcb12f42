import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, WsedgeError } from "../wsedge.js";
import { fakeEnv, record } from "./fake.js";

async function connected(opts = {}) {
  const f = fakeEnv();
  const c = connect({ url: "ws://node/ws", env: f.env, ...opts });
  const log = record(c);
  await f.clock.advance(0);
  f.socket().open();
  assert.equal(c.state, "connected");
  return { f, c, log, s: f.socket() };
}

test("replies are matched by id, whatever order they come in", async () => {
  const { c, s } = await connected();
  const p1 = c.publish("a", { n: 1 });
  const p2 = c.rpc("sum", [1, 2]);
  const p3 = c.presence("room");
  const p4 = c.request({ type: "echo", data: "x" });
  const ids = s.sent.map((m) => m.id);
  assert.equal(new Set(ids).size, 4, "every request has its own id");
  assert.deepEqual(s.sent.map((m) => m.type), ["publish", "rpc", "presence", "echo"]);
  assert.deepEqual(s.sent[1], { type: "rpc", method: "sum", data: [1, 2], id: ids[1] });
  s.receive({ type: "echo", id: ids[3], data: "x" });
  s.receive({ type: "presence", id: ids[2], clients: [{ client: "c1", user: "u1" }] });
  s.receive({ type: "rpc", id: ids[1], data: 3 });
  s.receive({ type: "ack", id: ids[0] });
  assert.equal(await p1, undefined);
  assert.equal(await p2, 3);
  assert.deepEqual(await p3, [{ client: "c1", user: "u1" }]);
  assert.deepEqual(await p4, { type: "echo", id: ids[3], data: "x" });
  c.close();
});

test("an error reply rejects with the server's code and message", async () => {
  const { c, s } = await connected();
  const p = c.rpc("nope", {});
  s.receive({ type: "error", id: s.last().id, error: { code: "METHOD_NOT_FOUND", message: "no such method" } });
  await assert.rejects(p, (e) => e instanceof WsedgeError && e.code === "METHOD_NOT_FOUND" && e.message === "no such method");
  c.close();
});

test("a request times out after exactly its timeout; a late reply is ignored", async () => {
  const { f, c, s, log } = await connected({ timeout: 2000 });
  let settled = null;
  const p = c.publish("a", 1).then(() => (settled = "ok"), (e) => (settled = e));
  let q = "pending";
  c.request({ type: "ping" }, { timeout: 500 }).then(() => (q = "resolved"), (e) => (q = e.code));
  await f.clock.advance(499);
  assert.equal(q, "pending");
  await f.clock.advance(1);
  assert.equal(q, "TIMEOUT");
  await f.clock.advance(1499);
  assert.equal(settled, null, "publish still waiting at 1999 ms");
  await f.clock.advance(1);
  assert.equal(settled.code, "TIMEOUT");
  s.receive({ type: "ack", id: s.sent[0].id }); // too late: nothing happens
  await p;
  assert.equal(log.of("error").length, 0);
  c.close();
});

test("requests made before the connection wait for it, within their timeout", async () => {
  const f = fakeEnv();
  const c = connect({ url: "ws://node/ws", env: f.env, timeout: 3000 });
  const early = c.publish("a", 1);
  const doomed = c.request({ type: "ping" }, { timeout: 100 });
  await f.clock.advance(100);
  await assert.rejects(doomed, { code: "TIMEOUT" });
  f.socket().open();
  const s = f.socket();
  assert.deepEqual(s.sent.map((m) => m.type), ["publish"], "the timed-out one is not sent");
  s.ackAll();
  await early;
  c.close();
});

test("a disconnect rejects what was sent and keeps what was not", async () => {
  const { f, c, s } = await connected();
  const sent = c.rpc("slow", 1);
  s.fail();
  await assert.rejects(sent, { code: "DISCONNECTED" });
  const later = c.publish("a", 2); // while reconnecting
  await f.clock.advance(1000);
  f.socket().open();
  assert.deepEqual(f.socket().sent.map((m) => m.type), ["publish"]);
  f.socket().ackAll();
  await later;
  c.close();
});

test("close rejects everything pending with CLOSED and never reconnects", async () => {
  const { f, c, s, log } = await connected();
  const p = c.publish("a", 1);
  c.close();
  await assert.rejects(p, { code: "CLOSED" });
  await assert.rejects(c.ping(), { code: "CLOSED" });
  assert.deepEqual(s.closedWith, { code: 1000, reason: "client closed" });
  assert.equal(c.state, "closed");
  await f.clock.advance(600_000);
  assert.equal(f.sockets.length, 1);
  assert.deepEqual(log.of("disconnected"), [{ code: 1000, reason: "client closed" }]);
});

test("pushes: server errors without id, malformed frames and unknown types do not break the client", async () => {
  const { c, s, log } = await connected();
  s.receive("not json");
  s.receive({ type: "error", error: { code: "RATE_LIMITED", message: "slow down" } });
  s.receive({ type: "from-the-future" });
  s.receive({ type: "join", channel: "room", user: "u2" });
  const p = c.ping();
  s.ackAll();
  assert.equal(typeof (await p), "number");
  assert.deepEqual(log.of("error").map((e) => [e.type, e.error.code]), [["protocol", "INVALID_JSON"], ["server", "RATE_LIMITED"]]);
  assert.deepEqual(log.of("join"), [{ type: "join", channel: "room", user: "u2" }]);
  c.close();
});

test("a listener that throws does not stop the others or the client; the error is reported", async () => {
  const f = fakeEnv();
  const reported = [];
  f.env.reportError = (e) => reported.push(e.message);
  const c = connect({ url: "ws://node/ws", env: f.env });
  c.on("connected", () => { throw new Error("listener bug"); });
  let second = false;
  c.on("connected", () => { second = true; });
  const unsub = c.subscribe("a", () => { throw new Error("handler bug"); });
  await f.clock.advance(0);
  f.socket().open();
  assert.ok(second);
  assert.equal(c.state, "connected");
  f.socket().ackAll();
  await unsub.ready;
  f.socket().receive({ type: "message", channel: "a", data: 1 });
  assert.deepEqual(reported, ["listener bug", "handler bug"]);
  c.close();
});
