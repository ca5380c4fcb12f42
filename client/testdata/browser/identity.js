// Browser test of identity with the client library: a page that cannot set
// headers on a WebSocket connects with the first message connect, lives
// through token refreshes, is refused a bad token (4001) and comes back
// with a fresh one, and is closed at exp when it does not refresh. Tokens
// come from the Go test's /token (the application backend's role); every
// check is POSTed to /result and judged there.
import { connect } from "/wsedge.js";

const checks = [];
const check = (name, ok, detail = "") => checks.push({ name, ok: !!ok, detail: String(detail), ms: Math.round(performance.now()) });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, ms = 15000) {
  const end = performance.now() + ms;
  for (;;) {
    let v;
    try { v = await fn(); } catch { v = undefined; }
    if (v) return v;
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

async function step(name, fn) {
  try { check(name, await fn()); } catch (e) { check(name, false, e.message); }
}

// token asks the backend for a token: user, lifetime in seconds, and
// whether it should be a bad one.
const token = async (user, life, bad = false) => {
  const r = await fetch(`/token?user=${encodeURIComponent(user)}&life=${life}&bad=${bad ? 1 : 0}`);
  return r.text();
};

function events(client) {
  const seen = [];
  for (const e of ["connected", "disconnected", "refreshed", "error", "reconnecting"]) {
    client.on(e, (p) => seen.push({ e, p }));
  }
  return seen;
}

async function run(cfg) {
  // --- connect, subscribe, receive, refresh ---
  let fetched = 0;
  const a = connect({ url: cfg.ws, getToken: () => { fetched++; return token("ann", 6); }, refreshMargin: 3000 });
  const seenA = events(a);
  await step("connect: connected with the token's user", () =>
    until("connected", () => a.state === "connected" && a.info.user === "ann" && typeof a.info.client === "string" && a.info.client.length > 10));
  const got = [];
  const off = a.subscribe("news", (data) => got.push(data));
  await step("connect: subscribe on the identified connection", () => off.ready.then(() => true));
  await step("connect: a message on the channel arrives", async () => {
    await fetch(`/publish?channel=news&data=${encodeURIComponent(JSON.stringify({ n: 1 }))}`);
    return until("the message", () => got.some((d) => d && d.n === 1));
  });
  await step("refresh: the library refreshes before exp", () =>
    until("refreshed", () => seenA.some((x) => x.e === "refreshed"), 10000));
  await step("refresh: still connected past the first token's exp", async () => {
    await sleep(4000); // the first token (6 s) has ended by now
    const c = seenA.filter((x) => x.e === "connected").length;
    const d = seenA.filter((x) => x.e === "disconnected").length;
    if (c !== 1 || d !== 0 || a.state !== "connected") throw new Error(`connected ${c}, disconnected ${d}, state ${a.state}`);
    await a.ping();
    return fetched >= 2;
  });
  a.close();

  // --- a bad token: 4001, then a fresh one ---
  let n = 0;
  const b = connect({ url: cfg.ws, getToken: () => token("bob", 600, n++ === 0), backoffMin: 50, backoffBase: 100 });
  const seenB = events(b);
  await step("4001: a bad token is closed with 4001", () =>
    until("close 4001", () => seenB.some((x) => x.e === "disconnected" && x.p.code === 4001)));
  await step("4001: the library gets a fresh token and connects", () =>
    until("connected", () => b.state === "connected" && b.info.user === "bob" && n >= 2));
  b.close();

  // --- no refresh: closed at exp; the library stops until it gets a token ---
  const c = connect({ url: cfg.ws, token: await token("cy", 3), backoffMin: 50, backoffBase: 100 });
  const seenC = events(c);
  await step("expiry: connected with a 3 s token and no getToken", () =>
    until("connected", () => c.state === "connected" && c.info.user === "cy"));
  await step("expiry: closed with 4001 at exp", () =>
    until("close 4001", () => seenC.some((x) => x.e === "disconnected" && x.p.code === 4001), 10000));
  await step("expiry: a new token brings it back", async () => {
    await sleep(300);
    if (c.state === "connected") throw new Error("reconnected with the expired token");
    c.setToken(await token("cy", 600));
    return until("connected again", () => c.state === "connected" && seenC.filter((x) => x.e === "connected").length === 2);
  });
  c.close();
}

const cfg = await (await fetch("/config")).json();
const deadline = setTimeout(() => report(), cfg.deadlineMs);
async function report() {
  clearTimeout(deadline);
  document.getElementById("status").textContent = "done";
  await fetch("/result", { method: "POST", body: JSON.stringify({ userAgent: navigator.userAgent, checks }) });
}
run(cfg).catch((e) => check("harness", false, e.stack || e.message)).finally(report);
