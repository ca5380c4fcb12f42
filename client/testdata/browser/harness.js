// Browser test of the client library and the pages against a real wsedge
// process. Two demo pages (iframes of the demo page the node serves, through
// the test server's proxy so they share this page's origin) exchange
// messages; the admin page (the node's admin listener, proxied the same way)
// counts them; two library clients, connected straight to the node, live
// through two server restarts. Every check is
// POSTed to /result; the Go test judges, and restarts the server on /step.
import { connect } from "/wsedge.js";

const checks = [];
const check = (name, ok, detail = "") => checks.push({ name, ok: !!ok, detail: String(detail), ms: Math.round(performance.now()) });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, ms = 10000) {
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

function frame(src) {
  const f = document.createElement("iframe");
  f.src = src;
  document.getElementById("frames").append(f);
  return new Promise((resolve) => { f.onload = () => resolve(f); });
}

const post = (path, body) => fetch(path, { method: "POST", body: JSON.stringify(body ?? {}) });

async function run(cfg) {
  // --- the admin page, through the real admin handler ---
  const admin = await frame("/admin/");
  const adoc = admin.contentDocument;
  const conns = () => {
    const v = adoc.getElementById("v-connections").dataset.value;
    return v === undefined ? NaN : Number(v);
  };
  await step("admin: page shows a connection count", () => until("admin figures", () => !Number.isNaN(conns())).then(() => true));
  const before = conns();

  // --- two demo pages exchange messages ---
  // The node's own demo page, connecting to /ws on the host it came from.
  const demoURL = `/?channel=${encodeURIComponent(cfg.channel)}`;
  const [fa, fb] = await Promise.all([frame(demoURL), frame(demoURL)]);
  const da = fa.contentDocument, db = fb.contentDocument;
  const ready = (d) => d.getElementById("state").dataset.state === "connected" &&
    d.querySelector(`#channels li[data-channel="${cfg.channel}"]`)?.dataset.ready === "true";
  await step("demo: both pages connect and subscribe", () => until("demo pages ready", () => ready(da) && ready(db)).then(() => true));
  const meA = da.getElementById("me").textContent, meB = db.getElementById("me").textContent;
  const send = (d, text) => {
    d.getElementById("pub-text").value = text;
    d.getElementById("publish").click();
  };
  const received = (d, text) => [...d.querySelectorAll("#messages li")].find((li) => li.dataset.text === text);
  for (const [name, from, to, fromMe] of [["A to B", da, db, meA], ["B to A", db, da, meB]]) {
    await step(`demo: a message from ${name} arrives with its latency`, async () => {
      const text = `hello ${name} ${Math.random()}`;
      send(from, text);
      const li = await until(`${name} message`, () => received(to, text));
      const own = await until("the sender's own copy", () => received(from, text));
      const lat = Number(li.dataset.latency);
      if (li.dataset.from !== fromMe || li.dataset.channel !== cfg.channel) throw new Error(`from ${li.dataset.from}, channel ${li.dataset.channel}`);
      if (!(lat >= 0 && lat < 5000)) throw new Error(`latency ${li.dataset.latency}`);
      if (!/\d+ ms$/.test(li.textContent)) throw new Error(`latency not shown: ${li.textContent}`);
      return own.textContent.includes("(you)");
    });
  }
  await step("admin: connection count rises when the demo pages connect",
    () => until("admin count +2", () => conns() >= before + 2, 6000).then(() => true).catch((e) => { throw new Error(`${e.message}; before ${before}, now ${conns()}`); }));
  fa.remove();
  fb.remove();
  await step("admin: connection count falls when they leave",
    () => until("admin count back", () => conns() <= before, 6000).then(() => true).catch((e) => { throw new Error(`${e.message}; before ${before}, now ${conns()}`); }));

  // --- the library across server restarts ---
  const log = [];
  const sub = connect({ url: cfg.ws });
  const pub = connect({ url: cfg.ws });
  for (const [who, c] of [["sub", sub], ["pub", pub]]) {
    for (const ev of ["connected", "disconnected", "reconnecting"]) c.on(ev, (p) => log.push({ who, ev, ...p }));
  }
  const got = [];
  const off = sub.subscribe(cfg.restartChannel, (d) => got.push(d));
  const roundTrip = async (label) => {
    await until(`${label}: both connected`, () => sub.state === "connected" && pub.state === "connected", 20000);
    await off.ready; // the (re)subscription acked
    const text = `${label} ${Math.random()}`;
    await pub.publish(cfg.restartChannel, { text });
    await until(`${label}: delivery`, () => got.some((d) => d.text === text), 5000);
    return true;
  };
  await step("library: subscribe and receive", () => roundTrip("first"));
  await step("library: rpc resolves with the backend's result", async () => {
    const r = await sub.rpc("echo.back", { n: 7 });
    if (r?.method !== "echo.back" || r?.data?.n !== 7) throw new Error(`result ${JSON.stringify(r)}`);
    return true;
  });
  await step("library: rpc past the client's timeout rejects with TIMEOUT; the late answer is ignored", async () => {
    const quick = connect({ url: cfg.ws, timeout: 500 });
    try {
      await until("quick client connected", () => quick.state === "connected", 10000);
      let code;
      try { await quick.rpc("slow", {}); } catch (e) { code = e.code; }
      if (code !== "TIMEOUT") throw new Error(`rpc ended with ${code}, want TIMEOUT`);
      await sleep(1500); // the backend's answer arrives and must be dropped
      const r = (await quick.request({ type: "rpc", method: "after", data: { ok: true } }, { timeout: 5000 })).data;
      if (r?.method !== "after") throw new Error(`after the late answer: ${JSON.stringify(r)}`);
      return true;
    } finally { quick.close(); }
  });
  await step("library: presence resolves with the channel's subscriber", async () => {
    const p = await sub.presence(cfg.restartChannel);
    if (p.length !== 1 || typeof p[0].client !== "string" || !p[0].client) throw new Error(`presence ${JSON.stringify(p)}`);
    return true;
  });
  await step("library: presence of a channel without presence is refused", async () => {
    let code;
    try { await sub.presence("demo"); } catch (e) { code = e.code; }
    if (code !== "PERMISSION_DENIED") throw new Error(`presence of demo ended with ${code}`);
    return true;
  });
  await step("library: a request to a hung node times out; its late reply is ignored", async () => {
    const errors = [];
    const offErr = sub.on("error", (e) => errors.push(`${e.type}: ${e.error?.code} ${e.error?.message}`));
    let r = await post("/step", { name: "pause" }); // SIGSTOP: the socket stays open, nothing answers
    if (!r.ok) throw new Error(`pause: ${r.status}`);
    let code;
    try { await sub.request({ type: "echo", data: "late" }, { timeout: 1000 }); } catch (e) { code = e.code; }
    r = await post("/step", { name: "resume" });
    if (!r.ok) throw new Error(`resume: ${r.status}`);
    if (code !== "TIMEOUT") throw new Error(`the request ended with ${code}, want TIMEOUT`);
    const back = await sub.request({ type: "echo", data: "after" }, { timeout: 5000 }); // behind the late reply
    await sleep(100);
    offErr();
    if (back.data !== "after") throw new Error(`echo after the pause: ${JSON.stringify(back)}`);
    if (errors.length) throw new Error(`errors: ${errors.join("; ")}`);
    return sub.state === "connected";
  });
  for (const [mode, code, kind] of [["graceful", 1012, "restart"], ["kill", 1006, null]]) {
    const mark = log.length;
    await step(`library: server restart (${mode}): both clients reconnect`, async () => {
      const r = await post("/step", { name: `restart-${mode}` });
      if (!r.ok) throw new Error(`step: ${r.status} ${await r.text()}`);
      await until("reconnected", () => ["sub", "pub"].every((who) => log.slice(mark).some((e) => e.who === who && e.ev === "connected")), 20000);
      const d = log.slice(mark).find((e) => e.who === "sub" && e.ev === "disconnected");
      const first = log.slice(mark).find((e) => e.who === "sub" && e.ev === "reconnecting");
      if (d?.code !== code) throw new Error(`disconnected with ${d?.code}, want ${code}`);
      if (kind && (first?.kind !== kind || first.inMs > 2000)) throw new Error(`first retry ${JSON.stringify(first)}, want ${kind} within 2 s`);
      return true;
    });
    await step(`library: after the ${mode} restart the subscription is back and messages arrive`, () => roundTrip(mode));
  }
  await step("library: resubscribed exactly the wanted channels", () => sub.channels().join() === cfg.restartChannel);
  sub.close();
  pub.close();
  check("library: close is final", sub.state === "closed" && pub.state === "closed");
}

(async () => {
  const started = Math.round(performance.now());
  const cfg = await (await fetch("/config")).json();
  const deadline = sleep(cfg.deadlineMs).then(() => { throw new Error(`page deadline ${cfg.deadlineMs} ms`); });
  try { await Promise.race([run(cfg), deadline]); } catch (e) { check("harness finished", false, e.stack || e.message); }
  document.getElementById("status").textContent = "done";
  await post("/result", { userAgent: navigator.userAgent, started, checks });
})();
