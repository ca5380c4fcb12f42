// A fake browser for the unit tests: a clock whose timers run only when the
// test advances it, a WebSocket the test opens, feeds and closes by hand, and
// window/document event targets for online/offline and visibility.

/** Lets pending promise callbacks run (the library awaits between steps). */
export async function flush() {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

export class FakeClock {
  now = 1_700_000_000_000;
  #timers = new Map();
  #seq = 0;

  setTimeout = (fn, ms) => {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.now + Math.max(0, ms || 0), ms, fn });
    return id;
  };

  clearTimeout = (id) => { this.#timers.delete(id); };

  /** Delays (as asked) of the timers still pending, soonest first. */
  pending() {
    return [...this.#timers.values()].sort((a, b) => a.at - b.at).map((t) => t.ms);
  }

  /** Runs every timer due within ms, in time order, letting promises settle between them. */
  async advance(ms) {
    const end = this.now + ms;
    for (;;) {
      await flush();
      let next = null;
      for (const [id, t] of this.#timers) {
        if (t.at <= end && (!next || t.at < next.t.at)) next = { id, t };
      }
      if (!next) break;
      this.#timers.delete(next.id);
      this.now = next.t.at;
      next.t.fn();
    }
    this.now = end;
    await flush();
  }
}

class Target {
  #fns = new Map();
  addEventListener(name, fn) { (this.#fns.get(name) || this.#fns.set(name, new Set()).get(name)).add(fn); }
  removeEventListener(name, fn) { this.#fns.get(name)?.delete(fn); }
  dispatch(name) { for (const fn of [...(this.#fns.get(name) || [])]) fn({ type: name }); }
  listeners(name) { return this.#fns.get(name)?.size || 0; }
}

/** A fresh fake browser: env for connect(), plus handles on everything in it. */
export function fakeEnv() {
  const clock = new FakeClock();
  const sockets = [];
  const rnd = { value: 0.5 };
  class FakeSocket {
    readyState = 0;
    sent = [];
    closedWith = null;
    onopen = null; onmessage = null; onerror = null; onclose = null;
    constructor(url) { this.url = url; sockets.push(this); }
    send(text) {
      if (this.readyState !== 1) throw new Error("send on a socket that is not open");
      this.sent.push(JSON.parse(text));
    }
    close(code, reason) { this.closedWith = { code, reason }; this.readyState = 2; }
    // The server's side, driven by the test:
    open() { this.readyState = 1; this.onopen?.({}); }
    receive(msg) { this.onmessage?.({ data: typeof msg === "string" ? msg : JSON.stringify(msg) }); }
    serverClose(code, reason = "") { this.readyState = 3; this.onclose?.({ code, reason }); }
    fail() { this.readyState = 3; this.onerror?.({}); this.onclose?.({ code: 1006, reason: "" }); }
    /** Answers every request sent so far that has no answer yet with an ack (or pong). */
    ackAll() {
      for (const m of this.sent) {
        if (m.answered || !m.id) continue;
        m.answered = true;
        this.receive({ type: m.type === "ping" ? "pong" : "ack", id: m.id });
      }
    }
    last() { return this.sent[this.sent.length - 1]; }
  }
  const win = new Target();
  const doc = new Target();
  doc.visibilityState = "visible";
  const nav = { onLine: true };
  const env = {
    WebSocket: FakeSocket, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout,
    now: () => clock.now, random: () => rnd.value, window: win, document: doc, navigator: nav,
  };
  return { env, clock, sockets, rnd, win, doc, nav, socket: () => sockets[sockets.length - 1] };
}

/** Records every event a client emits, in order, as [name, payload]. */
export function record(client, names = ["connecting", "connected", "disconnected", "reconnecting", "error",
  "message", "subscribed", "unsubscribed", "join", "leave", "refreshed"]) {
  const log = [];
  for (const n of names) client.on(n, (p) => log.push([n, p]));
  log.of = (name) => log.filter(([n]) => n === name).map(([, p]) => p);
  return log;
}

/** An unsigned JWT whose payload is claims (the library never checks signatures). */
export function jwt(claims) {
  const b64url = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(claims)}.c2lnbmF0dXJl`;
}
