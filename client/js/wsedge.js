// wsedge.js: the browser client of a wsedge node. One ES module, no
// dependencies, no build step; served by the node at /wsedge.js.
//
//   import { connect } from "/wsedge.js";
//   const client = connect({ url: "wss://example.com/ws", getToken });
//   const off = client.subscribe("chat:lobby", (data) => show(data));
//   await client.publish("chat:lobby", { text: "hi" });
//
// It reconnects with exponential backoff and full jitter, honours the
// server's close codes, resubscribes after a reconnect, refreshes the token
// before it expires and matches replies to requests by id. docs/client.md
// is the manual; wsedge.d.ts holds the types.

/** Defaults of every timing option, in milliseconds unless named otherwise. */
export const DEFAULTS = Object.freeze({
  timeout: 10000, // a request (publish, rpc, presence, ping...) without a reply
  connectTimeout: 10000, // from new WebSocket to open (and the connect reply)
  backoffBase: 1000, // first ceiling of the full-jitter backoff, doubled per failure
  backoffCap: 30000, // the ceiling never passes this
  backoffMin: 100, // no reconnect sooner than this (a random 0 would hammer)
  restartDelay: 2000, // after 1001/1012: a random delay in [backoffMin, restartDelay]
  unavailableAfter: 3, // failures before open in a row that mean "node unavailable"
  unavailableMin: 5000, // then: unavailableMin + full jitter up to unavailableCap
  unavailableCap: 60000,
  stableAfter: 5000, // a connection up this long resets the backoff
  refreshMargin: 30000, // refresh this long before exp (at most half the token's life)
  checkTimeout: 5000, // ping answering when the network comes back or the page shows
});

/** Error codes the library itself produces (the server's pass through). */
export const TIMEOUT = "TIMEOUT";
export const DISCONNECTED = "DISCONNECTED";
export const CLOSED = "CLOSED";
export const UNAUTHORIZED = "UNAUTHORIZED";

/** A failed request or connection step, with the server's or the library's code. */
export class WsedgeError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message || code);
    this.name = "WsedgeError";
    this.code = code;
  }
}

// Errors after which a subscribe is retried (while connected) rather than dropped.
const TRANSIENT = new Set([TIMEOUT, "UNAVAILABLE", "OVERLOADED", "RATE_LIMITED", "INTERNAL"]);
const MAX_TIMER = 2147483647; // setTimeout's limit (about 24.8 days)

/**
 * Full-jitter exponential backoff: a uniform delay in [0, min(cap, base*2^attempt)],
 * raised to at least min.
 * @param {number} attempt failures so far (0 for the first retry)
 * @param {{backoffBase:number, backoffCap:number, backoffMin:number}} o
 * @param {() => number} random uniform in [0, 1)
 */
export function backoffDelay(attempt, o, random) {
  const ceiling = Math.min(o.backoffCap, o.backoffBase * 2 ** Math.min(attempt, 30));
  return Math.max(o.backoffMin, Math.floor(random() * ceiling));
}

/**
 * What a close means for reconnecting, from its code and whether the socket
 * had opened: "restart" (1001, 1012: the node is going away or restarting,
 * come back soon), "token" (4001: only with a fresh token), "stop" (4003:
 * disconnected by the application; 1000 answering our own close), "slow"
 * (1008 policy, 1013 try again later: back off longer), "failed" (never
 * opened: refused, unreachable, 429, 503 all look alike to a browser) or
 * "backoff" (anything else).
 * @param {number} code @param {boolean} opened
 * @returns {"restart"|"token"|"stop"|"slow"|"failed"|"backoff"}
 */
export function closeKind(code, opened) {
  if (!opened) return "failed";
  switch (code) {
    case 1001: case 1012: return "restart";
    case 4001: return "token";
    case 4003: return "stop";
    case 1008: case 1013: return "slow";
    default: return "backoff";
  }
}

/**
 * The delay before the next attempt for a kind of close.
 * @param {string} kind closeKind's answer, or "unavailable"
 * @param {number} attempt failures in a row so far
 * @param {import("./wsedge").Timing} o @param {() => number} random
 */
export function reconnectDelay(kind, attempt, o, random) {
  if (kind === "restart") {
    return Math.max(o.backoffMin, Math.floor(random() * o.restartDelay));
  }
  if (kind === "unavailable" || kind === "slow") {
    const ceiling = Math.min(o.unavailableCap, o.backoffBase * 2 ** Math.min(attempt, 30));
    return o.unavailableMin + Math.floor(random() * Math.max(0, ceiling - o.unavailableMin));
  }
  return backoffDelay(attempt, o, random);
}

/**
 * The exp claim of a JWT in seconds, read from its payload without checking
 * the signature (the server does that); null when absent or unreadable.
 * @param {string} token
 */
export function jwtExp(token) {
  const part = typeof token === "string" ? token.split(".")[1] : undefined;
  if (!part) return null;
  try {
    let b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    b64 += "=".repeat((4 - (b64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return typeof claims.exp === "number" && Number.isFinite(claims.exp) ? claims.exp : null;
  } catch {
    return null;
  }
}

/**
 * Milliseconds from now until a token expiring at expSec should be refreshed:
 * margin before exp, but never more than half of what is left.
 * @param {number} expSec @param {number} nowMs @param {number} margin
 */
export function refreshDelay(expSec, nowMs, margin) {
  const left = expSec * 1000 - nowMs;
  return Math.max(0, left - Math.min(margin, left / 2));
}

/**
 * Connects to a wsedge node and keeps the connection up until close().
 * @param {import("./wsedge").ConnectOptions} options
 * @returns {Client}
 */
export function connect(options) {
  return new Client(options);
}

/** A connection to a wsedge node that keeps itself up. Create it with connect(). */
export class Client {
  #o; #env; #url; #listeners = new Map();
  #state = "disconnected";
  #ws = null; #opened = false; #connectedAt = 0; #info = {};
  #gen = 0; // attempt generation: a stale socket or token fetch sees it changed
  #attempt = 0; #failedBeforeOpen = 0;
  #stopped = false; #closed = false; #offline = false;
  #timer = null; #timerKind = ""; #connectTimer = null; #refreshTimer = null; #refreshTries = 0;
  #token = null; #rejectedToken = null; #lastCheck = -Infinity;
  #seq = 0; #pending = new Map(); #queue = [];
  #subs = new Map(); #unlisten = [];

  /** @param {import("./wsedge").ConnectOptions} options */
  constructor(options) {
    if (!options || typeof options.url !== "string") throw new TypeError("wsedge: connect needs {url}");
    this.#url = options.url;
    this.#o = { ...DEFAULTS, ...options };
    const g = globalThis;
    this.#env = {
      WebSocket: g.WebSocket, setTimeout: g.setTimeout.bind(g), clearTimeout: g.clearTimeout.bind(g),
      now: () => Date.now(), random: Math.random, window: g.window, document: g.document,
      navigator: g.navigator,
      // A listener's exception is reported like an uncaught one, without breaking the client.
      reportError: typeof g.reportError === "function" ? g.reportError.bind(g) : (e) => g.setTimeout(() => { throw e; }),
      ...(options.env || {}),
    };
    if (typeof this.#env.WebSocket !== "function") throw new TypeError("wsedge: no WebSocket in this runtime (pass env.WebSocket)");
    if (typeof options.token === "string" && options.token) this.#token = options.token;
    this.#watchBrowser();
    // Start on a microtask so listeners attached right after connect() see "connecting".
    Promise.resolve().then(() => this.#start());
  }

  /** "connecting" | "connected" | "disconnected" | "closed" */
  get state() { return this.#state; }
  /** What the server said in `connected` ({client, user}); {} for anonymous connections. */
  get info() { return this.#info; }

  /**
   * Listens to an event; returns a function that stops listening.
   * @param {string} event @param {(payload: any) => void} fn
   */
  on(event, fn) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(fn);
    return () => this.off(event, fn);
  }

  /** @param {string} event @param {(payload: any) => void} fn */
  off(event, fn) { this.#listeners.get(event)?.delete(fn); }

  /**
   * Subscribes to a channel (again after every reconnect) until the returned
   * function is called. Its `ready` is a promise of the server's ack of the
   * current subscription (renewed on every resubscribe).
   * @param {string} channel @param {(data: any, msg: object) => void} [onMessage]
   * @param {{token?: string, getToken?: (channel: string) => Promise<string>}} [opts]
   */
  subscribe(channel, onMessage, opts = {}) {
    if (typeof channel !== "string" || !channel) throw new TypeError("wsedge: subscribe needs a channel");
    let sub = this.#subs.get(channel);
    if (!sub) {
      sub = { channel, handlers: new Set(), opts, active: false, tries: 0, retry: null, ...deferred() };
      this.#subs.set(channel, sub);
      if (this.#state === "connected") this.#sendSubscribe(sub);
    }
    const handler = onMessage || (() => {});
    sub.handlers.add(handler);
    let done = false;
    const unsubscribe = () => {
      if (done) return;
      done = true;
      sub.handlers.delete(handler);
      if (sub.handlers.size > 0 || this.#subs.get(channel) !== sub) return;
      this.#dropSub(sub, new WsedgeError(CLOSED, "unsubscribed"));
      if (this.#state === "connected") {
        this.request({ type: "unsubscribe", channel }).catch((error) => this.#emit("error", { type: "unsubscribe", channel, error }));
      }
    };
    Object.defineProperty(unsubscribe, "ready", { get: () => sub.promise });
    Object.defineProperty(unsubscribe, "channel", { value: channel });
    return unsubscribe;
  }

  /** Channels this client subscribes to (and resubscribes after a reconnect). */
  channels() { return [...this.#subs.keys()]; }

  /** @param {string} channel @param {any} data @returns {Promise<void>} */
  publish(channel, data) { return this.request({ type: "publish", channel, data }).then(() => undefined); }

  /** @param {string} method @param {any} [data] @returns {Promise<any>} the backend's result */
  rpc(method, data) { return this.request({ type: "rpc", method, data }).then((r) => r.data); }

  /** @param {string} channel @returns {Promise<Array<{client: string, user: string, info?: any}>>} */
  presence(channel) { return this.request({ type: "presence", channel }).then((r) => r.clients || []); }

  /** Round trip of a protocol ping, in milliseconds. */
  async ping() {
    const t = this.#env.now();
    await this.request({ type: "ping" });
    return this.#env.now() - t;
  }

  /**
   * Sends any message with a fresh id and resolves with the reply carrying
   * that id (rejects with a WsedgeError on an error reply, a timeout, or a
   * disconnect after sending). While not connected it waits, within its
   * timeout, for the connection.
   * @param {object} msg @param {{timeout?: number}} [opts]
   */
  request(msg, opts = {}) {
    if (this.#closed) return Promise.reject(new WsedgeError(CLOSED, "client closed"));
    if (this.#stopped) return Promise.reject(new WsedgeError(DISCONNECTED, "not connected and not reconnecting"));
    const id = String(++this.#seq);
    const entry = { msg: { ...msg, id }, sent: false, timer: null, ...deferred() };
    const ms = opts.timeout ?? this.#o.timeout;
    entry.timer = this.#env.setTimeout(() => {
      this.#settle(id, new WsedgeError(TIMEOUT, `no reply to ${msg.type} within ${ms} ms`));
    }, Math.min(ms, MAX_TIMER));
    this.#pending.set(id, entry);
    if (this.#state === "connected") this.#send(entry); else this.#queue.push(id);
    return entry.promise;
  }

  /**
   * Replaces the token: sent with `refresh` while connected; a client stopped
   * by 4001 (or for want of a token) reconnects with it.
   * @param {string | null} token
   */
  setToken(token) {
    this.#token = token || null;
    this.#rejectedToken = null;
    if (this.#stopped && !this.#closed) return this.reconnect();
    if (this.#token && this.#state === "connected") {
      this.request({ type: "refresh", token: this.#token }).then(() => this.#scheduleRefresh(),
        (error) => error.code !== DISCONNECTED && this.#emit("error", { type: "refresh", error }));
    }
  }

  /** Connects now: after a stop, or to skip a pending backoff delay. */
  reconnect() {
    if (this.#closed) return;
    this.#stopped = false;
    this.#attempt = 0;
    this.#failedBeforeOpen = 0;
    if (this.#state === "connected" || this.#state === "connecting") return;
    this.#clearTimer();
    this.#start();
  }

  /** Closes for good (close code 1000); pending requests reject with CLOSED. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#gen++;
    this.#clearTimer();
    for (const id of [...this.#pending.keys()]) this.#settle(id, new WsedgeError(CLOSED, "client closed"));
    this.#clearConnection();
    const ws = this.#ws;
    this.#ws = null;
    if (ws) { detach(ws); try { ws.close(1000, "client closed"); } catch { /* already closing */ } }
    for (const f of this.#unlisten) f();
    this.#unlisten = [];
    for (const sub of [...this.#subs.values()]) this.#dropSub(sub, new WsedgeError(CLOSED, "client closed"));
    const was = this.#state;
    this.#state = "closed";
    if (was === "connected") this.#emit("disconnected", { code: 1000, reason: "client closed" });
  }

  // ---- connecting ----

  async #start() {
    if (this.#closed || this.#stopped || this.#state === "connecting" || this.#state === "connected") return;
    if (this.#offline) return; // "online" starts us
    const gen = ++this.#gen;
    this.#state = "connecting";
    this.#opened = false;
    this.#emit("connecting", { attempt: this.#attempt });
    let token = null;
    if (this.#o.getToken || this.#token) {
      try {
        token = await this.#freshToken();
      } catch (error) {
        if (gen !== this.#gen) return;
        this.#emit("error", { type: "token", error });
        this.#state = "disconnected";
        this.#emit("disconnected", { code: 0, reason: "getToken failed" });
        this.#schedule("backoff");
        return;
      }
      if (gen !== this.#gen) return;
      if (!token) {
        this.#state = "disconnected";
        this.#emit("disconnected", { code: 0, reason: "no token" });
        return this.#stop(new WsedgeError(UNAUTHORIZED, "no token: getToken gave none"));
      }
    }
    let ws;
    try {
      ws = new this.#env.WebSocket(this.#url);
    } catch (error) { // a malformed URL: retrying cannot help
      this.#state = "disconnected";
      this.#emit("disconnected", { code: 0, reason: "bad URL" });
      return this.#stop(error);
    }
    this.#ws = ws;
    this.#connectTimer = this.#env.setTimeout(() => this.#lost(ws, 4000, "connect timeout"), this.#o.connectTimeout);
    ws.onopen = () => {
      if (ws !== this.#ws) return;
      this.#opened = true;
      if (token) {
        this.#sendRaw({ type: "connect", id: "connect", token });
      } else {
        this.#connected({});
      }
    };
    ws.onmessage = (ev) => { if (ws === this.#ws) this.#receive(ev.data); };
    ws.onerror = () => {}; // a close event follows with the details there are
    ws.onclose = (ev) => this.#lost(ws, ev.code, ev.reason);
  }

  // A current token: the one we have unless it is due for refresh (or was
  // refused with 4001), else getToken's.
  async #freshToken() {
    const t = this.#token;
    const exp = t ? jwtExp(t) : null;
    const stale = !t || t === this.#rejectedToken ||
      (exp !== null && exp * 1000 - this.#env.now() < this.#o.refreshMargin);
    if (!stale || !this.#o.getToken) return t === this.#rejectedToken ? null : t;
    const fresh = await this.#o.getToken();
    this.#token = typeof fresh === "string" && fresh ? fresh : null;
    if (this.#token && this.#token === this.#rejectedToken) return null;
    return this.#token;
  }

  #connected(info) {
    this.#env.clearTimeout(this.#connectTimer);
    this.#state = "connected";
    this.#connectedAt = this.#env.now();
    this.#failedBeforeOpen = 0;
    this.#refreshTries = 0;
    this.#info = info;
    // Subscriptions first, then what waited, then the listeners: on one
    // connection the server answers in order, so anything sent from now on
    // is handled after the resubscriptions.
    for (const sub of this.#subs.values()) this.#sendSubscribe(sub);
    const queued = this.#queue;
    this.#queue = [];
    for (const id of queued) { const e = this.#pending.get(id); if (e) this.#send(e); }
    this.#scheduleRefresh();
    this.#emit("connected", info);
  }

  // The socket is gone (closed by the server, failed, or given up on).
  #lost(ws, code, reason) {
    if (ws !== this.#ws) return;
    detach(ws);
    if (ws.readyState !== 3) { try { ws.close(); } catch { /* closing */ } }
    this.#ws = null;
    const wasConnected = this.#state === "connected";
    const upFor = wasConnected ? this.#env.now() - this.#connectedAt : 0;
    this.#clearConnection();
    this.#state = "disconnected";
    this.#emit("disconnected", { code, reason: reason || "" });
    if (this.#closed) return;
    /** @type {string} */
    let kind = closeKind(code, this.#opened);
    if (upFor >= this.#o.stableAfter) this.#attempt = 0;
    if (kind === "failed" && ++this.#failedBeforeOpen >= this.#o.unavailableAfter) kind = "unavailable";
    if (kind === "stop") return this.#stop(new WsedgeError("DISCONNECTED_BY_SERVER", `closed ${code}: ${reason}`));
    if (kind === "token") {
      this.#rejectedToken = this.#token;
      if (!this.#o.getToken) return this.#stop(new WsedgeError(UNAUTHORIZED, "token refused (4001) and no getToken"));
    }
    this.#schedule(kind);
  }

  #schedule(kind) {
    const delay = reconnectDelay(kind, this.#attempt, this.#o, this.#env.random);
    this.#attempt = kind === "restart" ? 1 : this.#attempt + 1;
    if (this.#offline) return; // "online" reconnects at once
    this.#emit("reconnecting", { inMs: delay, attempt: this.#attempt, kind });
    this.#timerKind = kind;
    this.#timer = this.#env.setTimeout(() => { this.#timer = null; this.#start(); }, delay);
  }

  #stop(error) {
    this.#stopped = true;
    this.#state = "disconnected";
    this.#emit("error", { type: "stopped", error });
    for (const id of this.#queue) this.#settle(id, new WsedgeError(DISCONNECTED, "not reconnecting: " + error.message));
    this.#queue = [];
  }

  #clearTimer() { if (this.#timer) this.#env.clearTimeout(this.#timer); this.#timer = null; }

  // Everything tied to one connection: timers, requests sent on it, acks of subscriptions.
  #clearConnection() {
    this.#env.clearTimeout(this.#connectTimer);
    this.#env.clearTimeout(this.#refreshTimer);
    this.#refreshTimer = null;
    for (const [id, e] of this.#pending) {
      if (e.sent) this.#settle(id, new WsedgeError(DISCONNECTED, "connection lost before the reply"));
    }
    for (const sub of this.#subs.values()) {
      if (sub.retry) this.#env.clearTimeout(sub.retry);
      sub.retry = null;
      if (sub.active) Object.assign(sub, deferred(), { active: false }); // a new ready for the resubscribe
    }
  }

  // ---- messages ----

  #receive(data) {
    if (typeof data !== "string") return; // /ws speaks text only
    let m;
    try { m = JSON.parse(data); } catch { m = null; }
    if (!m || typeof m !== "object" || typeof m.type !== "string") {
      this.#emit("error", { type: "protocol", error: new WsedgeError("INVALID_JSON", "unreadable message from the server") });
      return;
    }
    if (m.id === "connect" && this.#state === "connecting") {
      if (m.type === "connected") return this.#connected({ client: m.client, user: m.user });
      const e = m.error || {};
      this.#emit("error", { type: "connect", error: new WsedgeError(e.code || "INVALID_MESSAGE", e.message || "connect refused") });
      try { this.#ws.close(1000, "connect refused"); } catch { /* closing */ }
      return;
    }
    if (typeof m.id === "string" && this.#pending.has(m.id)) {
      const e = m.error || {};
      return this.#settle(m.id, m.type === "error" ? new WsedgeError(e.code || "INTERNAL", e.message) : null, m);
    }
    switch (m.type) {
      case "message": {
        const sub = this.#subs.get(m.channel);
        if (sub) for (const h of [...sub.handlers]) this.#call(h, m.data, m);
        this.#emit("message", m);
        return;
      }
      case "unsubscribed": {
        const sub = this.#subs.get(m.channel); // the server dropped it: do not resubscribe
        if (sub) this.#dropSub(sub, new WsedgeError("UNSUBSCRIBED", "unsubscribed by the server"));
        this.#emit("unsubscribed", m);
        return;
      }
      case "subscribed": case "join": case "leave":
        return this.#emit(m.type, m);
      case "error":
        return this.#emit("error", { type: "server", error: new WsedgeError(m.error?.code || "INTERNAL", m.error?.message) });
      default: // a late reply to a timed-out request, or a type this version does not know
    }
  }

  #send(entry) { entry.sent = true; this.#sendRaw(entry.msg); }

  #sendRaw(msg) {
    try { this.#ws.send(JSON.stringify(msg)); } catch (error) { this.#emit("error", { type: "transport", error }); }
  }

  #settle(id, error, reply) {
    const e = this.#pending.get(id);
    if (!e) return;
    this.#pending.delete(id);
    this.#env.clearTimeout(e.timer);
    if (!e.sent) { const i = this.#queue.indexOf(id); if (i >= 0) this.#queue.splice(i, 1); }
    if (error) e.reject(error); else e.resolve(reply);
  }

  // Sends a subscribe synchronously unless a subscription token must be
  // fetched first, so resubscriptions precede whatever is sent after them.
  #sendSubscribe(sub) {
    const gen = this.#gen;
    const current = () => gen === this.#gen && this.#subs.get(sub.channel) === sub;
    const go = (token) => {
      if (!current()) return;
      const msg = { type: "subscribe", channel: sub.channel };
      if (token) msg.token = token;
      this.request(msg).then(() => {
        if (!current()) return;
        sub.active = true;
        sub.tries = 0;
        sub.resolve();
      }, (error) => current() && this.#subscribeFailed(sub, error, TRANSIENT.has(error.code)));
    };
    if (!sub.opts.getToken) return go(sub.opts.token);
    Promise.resolve().then(() => sub.opts.getToken(sub.channel))
      .then(go, (error) => current() && this.#subscribeFailed(sub, error, true));
  }

  #subscribeFailed(sub, error, transient) {
    if (error.code === DISCONNECTED) return; // resubscribed on the next connection
    this.#emit("error", { type: "subscribe", channel: sub.channel, error });
    if (!transient) return this.#dropSub(sub, error);
    sub.retry = this.#env.setTimeout(() => { sub.retry = null; this.#sendSubscribe(sub); },
      backoffDelay(sub.tries++, this.#o, this.#env.random));
  }

  #dropSub(sub, error) {
    if (sub.retry) this.#env.clearTimeout(sub.retry);
    this.#subs.delete(sub.channel);
    if (!sub.active) sub.reject(error);
  }

  // ---- token refresh ----

  #scheduleRefresh(delay) {
    this.#env.clearTimeout(this.#refreshTimer);
    const exp = this.#token ? jwtExp(this.#token) : null;
    if (exp === null || !this.#o.getToken || this.#state !== "connected") return;
    delay ??= refreshDelay(exp, this.#env.now(), this.#o.refreshMargin);
    this.#refreshTimer = this.#env.setTimeout(() => this.#refresh(), Math.min(delay, MAX_TIMER));
  }

  async #refresh() {
    const gen = this.#gen;
    const oldExp = jwtExp(this.#token);
    try {
      const fresh = await this.#o.getToken();
      if (gen !== this.#gen) return;
      if (!fresh) throw new WsedgeError(UNAUTHORIZED, "getToken gave no token to refresh with");
      const exp = jwtExp(fresh);
      // The same (cached) token again would only bring a refresh loop.
      if (exp !== null && oldExp !== null && exp <= oldExp) throw new WsedgeError(UNAUTHORIZED, "getToken gave a token that expires no later");
      await this.request({ type: "refresh", token: fresh });
      if (gen !== this.#gen) return;
      this.#token = fresh;
      this.#refreshTries = 0;
      this.#emit("refreshed", { exp });
      this.#scheduleRefresh();
    } catch (error) {
      if (gen !== this.#gen || error.code === DISCONNECTED) return; // the next connection sends its own token
      this.#emit("error", { type: "refresh", error });
      // Retried with backoff while the token lasts; past exp the server
      // closes with 4001 and reconnecting asks getToken again.
      const delay = backoffDelay(this.#refreshTries++, this.#o, this.#env.random);
      if (oldExp !== null && this.#env.now() + delay < oldExp * 1000) this.#scheduleRefresh(delay);
    }
  }

  // ---- the browser around us ----

  #watchBrowser() {
    const { window: win, document: doc, navigator: nav } = this.#env;
    this.#offline = nav?.onLine === false;
    const listen = (target, name, fn) => {
      if (!target?.addEventListener) return;
      target.addEventListener(name, fn);
      this.#unlisten.push(() => target.removeEventListener(name, fn));
    };
    listen(win, "offline", () => {
      this.#offline = true;
      this.#clearTimer(); // no attempts while offline: "online" starts one
    });
    listen(win, "online", () => {
      this.#offline = false;
      this.#wake(true);
    });
    listen(doc, "visibilitychange", () => {
      if (doc.visibilityState === "visible") this.#wake(false);
    });
  }

  // The network came back or the page is shown again: connect now if we were
  // waiting (except when the node said it is unavailable), and make sure an
  // open socket still answers (it may have died while the laptop slept).
  #wake(online) {
    if (this.#closed || this.#stopped) return;
    if (this.#state === "disconnected") {
      const waitingOnNode = this.#timer && (this.#timerKind === "unavailable" || this.#timerKind === "slow");
      if (online || !waitingOnNode) {
        if (online) { this.#attempt = 0; this.#failedBeforeOpen = 0; }
        this.#clearTimer();
        this.#start();
      }
      return;
    }
    if (this.#state !== "connected") return;
    const now = this.#env.now();
    if (!online && now - this.#lastCheck < this.#o.checkTimeout * 2) return;
    this.#lastCheck = now;
    const ws = this.#ws;
    this.request({ type: "ping" }, { timeout: this.#o.checkTimeout }).catch((e) => {
      if (e.code === TIMEOUT) this.#lost(ws, 4000, "no answer to a ping");
    });
  }

  #emit(event, payload) {
    const set = this.#listeners.get(event);
    if (set) for (const fn of [...set]) this.#call(fn, payload);
  }

  #call(fn, ...args) {
    try { fn(...args); } catch (e) { this.#env.reportError(e); }
  }
}

function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => {}); // nobody has to await ready: no unhandled rejection for it
  return { promise, resolve, reject };
}

function detach(ws) { ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null; }
