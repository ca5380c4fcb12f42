import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULTS, backoffDelay, closeKind, reconnectDelay, connect } from "../wsedge.js";
import { fakeEnv, record } from "./fake.js";

const below1 = 1 - Number.EPSILON;

test("backoff: full jitter between the floor and a doubling ceiling, capped", () => {
  const o = { backoffBase: 1000, backoffCap: 30000, backoffMin: 100 };
  const cases = [
    // attempt, ceiling
    [0, 1000], [1, 2000], [2, 4000], [3, 8000], [4, 16000], [5, 30000], [6, 30000], [50, 30000], [5000, 30000],
  ];
  for (const [attempt, ceiling] of cases) {
    assert.equal(backoffDelay(attempt, o, () => 0), 100, `attempt ${attempt}: random 0 gives the floor`);
    assert.equal(backoffDelay(attempt, o, () => below1), ceiling - 1, `attempt ${attempt}: top of the range`);
    assert.equal(backoffDelay(attempt, o, () => 0.5), Math.max(100, ceiling / 2), `attempt ${attempt}: middle`);
  }
});

test("backoff: with Math.random the delays spread over the whole range", () => {
  const o = DEFAULTS;
  const seen = Array.from({ length: 10 }, () => 0);
  for (let i = 0; i < 5000; i++) {
    const d = backoffDelay(3, o, Math.random); // ceiling 8000
    assert.ok(d >= o.backoffMin && d < 8000, `delay ${d} out of [100, 8000)`);
    seen[Math.floor(d / 800)]++;
  }
  // Full jitter: every tenth of the range is used, none takes a big share.
  for (const [i, n] of seen.entries()) assert.ok(n > 300 && n < 700, `decile ${i} got ${n} of 5000`);
});

test("close codes: what each one means for reconnecting", () => {
  const cases = [
    [1000, true, "backoff"], [1001, true, "restart"], [1012, true, "restart"], [1002, true, "backoff"],
    [1003, true, "backoff"], [1007, true, "backoff"], [1008, true, "slow"], [1009, true, "backoff"],
    [1011, true, "backoff"], [1013, true, "slow"], [4001, true, "token"], [4003, true, "stop"],
    [1006, true, "backoff"], [1006, false, "failed"], [1001, false, "failed"], [4001, false, "failed"],
  ];
  for (const [code, opened, kind] of cases) assert.equal(closeKind(code, opened), kind, `${code} opened=${opened}`);
});

test("reconnect delay per kind: short after a restart, long when the node is unavailable", () => {
  const o = DEFAULTS;
  for (const attempt of [0, 3, 10]) {
    assert.equal(reconnectDelay("restart", attempt, o, () => 0), o.backoffMin);
    assert.equal(reconnectDelay("restart", attempt, o, () => below1), o.restartDelay - 1);
  }
  for (const kind of ["unavailable", "slow"]) {
    assert.equal(reconnectDelay(kind, 3, o, () => 0), 5000, "floor 5 s");
    assert.equal(reconnectDelay(kind, 3, o, () => below1), 7999, "ceiling base*2^3 = 8 s");
    assert.equal(reconnectDelay(kind, 0, o, () => below1), 5000, "ceiling under the floor: the floor");
    assert.equal(reconnectDelay(kind, 20, o, () => below1), 59999, "capped at 60 s");
  }
  assert.equal(reconnectDelay("backoff", 2, o, () => below1), 3999);
  assert.equal(reconnectDelay("failed", 2, o, () => below1), 3999);
  assert.equal(reconnectDelay("token", 2, o, () => below1), 3999);
});

// Drives a client through closes and returns the delays it announced.
async function schedule(f, log, steps) {
  const out = [];
  for (const step of steps) {
    await f.clock.advance(0);
    const s = f.socket();
    if (step === "fail") s.fail();
    else { s.open(); if (step.upFor) await f.clock.advance(step.upFor); s.serverClose(step.code, "bye"); }
    const r = log.of("reconnecting");
    out.push(r.length ? r[r.length - 1].inMs : null);
    const n = f.sockets.length;
    await f.clock.advance(out[out.length - 1] ?? 0);
    if (out[out.length - 1] !== null) assert.equal(f.sockets.length, n + 1, "a new attempt after the delay");
  }
  return out;
}

test("client: failures before open back off, then switch to the unavailable schedule", async () => {
  const f = fakeEnv();
  f.rnd.value = below1;
  const c = connect({ url: "ws://node/ws", env: f.env });
  const log = record(c);
  const delays = await schedule(f, log, ["fail", "fail", "fail", "fail", "fail", "fail", "fail", "fail"]);
  // 1 s, 2 s, then "node unavailable" (3 failures in a row): 5 s, plus jitter up to 8, 16, 32, 60, 60 s.
  assert.deepEqual(delays, [999, 1999, 5000, 7999, 15999, 31999, 59999, 59999]);
  assert.deepEqual(log.of("reconnecting").map((r) => r.kind), ["failed", "failed", ...Array(6).fill("unavailable")]);
  // A connection that opens ends the streak.
  f.socket().open();
  assert.equal(c.state, "connected");
  c.close();
});

test("client: 1001 and 1012 come back within restartDelay; a stable connection resets the backoff", async () => {
  const f = fakeEnv();
  f.rnd.value = below1;
  const c = connect({ url: "ws://node/ws", env: f.env });
  const log = record(c);
  const delays = await schedule(f, log, [
    { code: 1012 }, "fail", "fail", { code: 1001 },
    { code: 1011 }, { code: 1011 }, { code: 1011, upFor: 5000 }, { code: 1008 },
  ]);
  assert.deepEqual(delays, [
    1999, // restart: up to restartDelay
    1999, 3999, // then failures climb from attempt 1: 2 s, 4 s (two in a row: not yet "unavailable")
    1999, // restart again (the open in between ended the streak of failures)
    1999, 3999, // flapping connections (up < stableAfter) climb as well
    999, // up 5 s: stable, back to the first step
    5000, // 1008 policy: the long schedule, its 5 s floor
  ]);
  c.close();
});

test("client: 4003 and a malformed URL stop; nothing reconnects", async () => {
  const f = fakeEnv();
  const c = connect({ url: "ws://node/ws", env: f.env });
  const log = record(c);
  await f.clock.advance(0);
  f.socket().open();
  f.socket().serverClose(4003, "banned");
  await f.clock.advance(600_000);
  assert.equal(f.sockets.length, 1);
  assert.equal(log.of("reconnecting").length, 0);
  assert.deepEqual(log.of("disconnected"), [{ code: 4003, reason: "banned" }]);
  assert.equal(log.of("error").at(-1).type, "stopped");
  await assert.rejects(c.publish("a", 1), { code: "DISCONNECTED" });
  c.reconnect(); // the application decides to come back
  await f.clock.advance(0);
  assert.equal(f.sockets.length, 2);
  c.close();

  const g = fakeEnv();
  g.env.WebSocket = class { constructor() { throw new SyntaxError("bad URL"); } };
  const d = connect({ url: "http://not a url", env: g.env });
  const dlog = record(d);
  await g.clock.advance(600_000);
  assert.equal(dlog.of("reconnecting").length, 0);
  assert.equal(dlog.of("error")[0].error.name, "SyntaxError");
});

test("client: a connect that never opens is given up after connectTimeout", async () => {
  const f = fakeEnv();
  const c = connect({ url: "ws://node/ws", env: f.env, connectTimeout: 3000 });
  const log = record(c);
  await f.clock.advance(2999);
  assert.equal(f.socket().closedWith, null);
  await f.clock.advance(1);
  assert.notEqual(f.socket().closedWith, null, "the hanging socket is closed");
  assert.deepEqual(log.of("disconnected"), [{ code: 4000, reason: "connect timeout" }]);
  assert.equal(log.of("reconnecting")[0].kind, "failed");
  c.close();
});
