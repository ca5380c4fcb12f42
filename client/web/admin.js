// The admin page: polls api/stats every second (relative URLs, so it also
// works behind a path prefix), charts the last 10 minutes, and calls the
// server API (api/channels, api/presence, api/publish, api/info) for the
// parts that need it; a node without the API says so.
const $ = (id) => document.getElementById(id);
const SPAN = 10 * 60 * 1000;
let history = [];
let lastT = 0;

const num = (v, digits = 0) => (v == null ? "–" : Number(v).toLocaleString("en-US", { maximumFractionDigits: digits }));
const rate = (v) => num(v, v < 10 ? 1 : 0);
function bytes(v) {
  if (v == null) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 && i ? 1 : 0)} ${u[i]}`;
}
function duration(s) {
  if (s == null) return "–";
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

function set(id, text, value) {
  const el = $(id);
  el.textContent = text;
  if (value !== undefined) el.dataset.value = value;
}

function table(id, map, empty) {
  const body = $(id).tBodies[0];
  const rows = Object.entries(map || {}).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
  body.replaceChildren(...(rows.length ? rows : [[empty, ""]]).map(([k, v]) => {
    const tr = document.createElement("tr");
    for (const x of [k, v === "" ? "" : num(v)]) { const td = document.createElement("td"); td.textContent = x; tr.append(td); }
    return tr;
  }));
}

function render(s) {
  $("status").textContent = s.status;
  $("status").dataset.status = s.status;
  set("uptime", duration(s.uptime_seconds));
  set("broker", s.broker || "none");
  set("updated", `updated ${new Date(s.time).toLocaleTimeString([], { hour12: false })}`);
  set("v-connections", num(s.connections), s.connections);
  set("v-sockets", num(s.sockets), s.sockets);
  set("v-msgs-in", rate(s.rates.messages_in), s.rates.messages_in);
  set("v-msgs-out", rate(s.rates.messages_out), s.rates.messages_out);
  set("v-bytes-in", `${bytes(s.rates.bytes_in)}/s`);
  set("v-bytes-out", `${bytes(s.rates.bytes_out)}/s`);
  set("v-connects", rate(s.rates.connects));
  set("v-refusals", rate(s.rates.refusals));
  set("v-slow", num(s.totals.slow_consumers), s.totals.slow_consumers);
  set("v-rtt", s.ping_rtt_p99_ms == null ? "no pongs" : `${num(s.ping_rtt_p99_ms, 2)} ms`);
  $("v-rtt").title = `over the last ${s.ping_rtt_window_seconds} s`;
  set("v-queued", num(s.queued));
  set("v-goroutines", num(s.process.goroutines));
  set("v-rss", bytes(s.process.rss_bytes));
  set("v-fds", num(s.process.open_fds));
  table("refusals", s.refusals, "none");
  table("closes", s.closes, "none");
  table("timeouts", s.timeouts, "none");
  history = history.concat(s.history).filter((p) => p.t >= s.time - SPAN);
  lastT = s.time;
  chart(s.time);
}

// Inline SVG: connections and messages/s, each from 0 to its maximum over
// the window; gaps where nobody watched. The window is the history there is,
// from one minute up to ten.
function chart(now) {
  const svg = $("chart");
  const oldest = history.length ? history[0].t : now;
  const span = Math.min(SPAN, Math.max(60000, now - oldest));
  const W = 800, H = 200, from = now - span;
  const x = (t) => ((t - from) / span) * W;
  const maxC = Math.max(1, ...history.map((p) => p.connections));
  const maxM = Math.max(1, ...history.map((p) => p.in + p.out));
  const path = (val, max) => {
    let d = "", prev = null;
    for (const p of history) {
      const cmd = prev !== null && p.t - prev < 5000 ? "L" : "M";
      d += `${cmd}${x(p.t).toFixed(1)},${(H - 4 - (val(p) / max) * (H - 12)).toFixed(1)}`;
      prev = p.t;
    }
    return d;
  };
  const grid = [0.25, 0.5, 0.75].map((f) => `<path class="grid" d="M0,${H * f}H${W}"/>`).join("");
  svg.innerHTML = `${grid}<path class="msgs" d="${path((p) => p.in + p.out, maxM)}"/><path class="conns" d="${path((p) => p.connections, maxC)}"/>`;
  set("chart-from", `−${Math.round(span / 60000)} min`);
  set("chart-max", `max ${num(maxC)} connections · ${rate(maxM)} msg/s`);
}

async function poll() {
  try {
    const res = await fetch(`api/stats${lastT ? `?since=${lastT}` : ""}`, { cache: "no-store" });
    if (!res.ok) throw new Error(`api/stats: HTTP ${res.status}`);
    render(await res.json());
  } catch (e) {
    $("status").textContent = "unreachable";
    $("status").dataset.status = "unreachable";
    set("updated", e.message);
  }
}

// The server API: {"result": ...} or {"error": {code, message}}; 501/404
// mean this node does not serve it.
async function api(call, body) {
  let res;
  try {
    res = await fetch(`api/${call}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body ?? {}) });
  } catch (e) {
    return { error: e.message };
  }
  if (res.status === 501 || res.status === 404) return { na: true };
  const j = await res.json().catch(() => ({}));
  if (!res.ok || j.error) return { error: j.error ? `${j.error.code}: ${j.error.message}` : `HTTP ${res.status}` };
  return { result: j.result ?? {} };
}

function show(id, r, fill) {
  const el = $(id);
  if (r.na) { el.className = "api na"; el.textContent = "not available on this node"; return; }
  if (r.error) { el.className = "api err"; el.textContent = r.error; return; }
  el.className = "api";
  fill(el, r.result);
}

function rows(el, header, list) {
  if (!list.length) { el.textContent = "none"; return; }
  const t = document.createElement("table");
  const tr = t.insertRow();
  for (const h of header) { const th = document.createElement("td"); th.innerHTML = `<b></b>`; th.firstChild.textContent = h; tr.append(th); }
  for (const r of list) { const row = t.insertRow(); for (const v of r) row.insertCell().textContent = v; }
  el.replaceChildren(t);
}

async function slowPoll() {
  show("channels", await api("channels", {}), (el, r) => rows(el, ["channel", "subscribers"],
    Object.entries(r.channels || {}).sort((a, b) => b[1].num_clients - a[1].num_clients).slice(0, 10).map(([k, v]) => [k, num(v.num_clients)])));
  show("nodes", await api("info", {}), (el, r) => rows(el, ["node", "clients", "subscriptions", "uptime"],
    (r.nodes || []).map((n) => [n.name, num(n.num_clients), num(n.num_subscriptions), duration(n.uptime)])));
}

$("presence-form").onsubmit = async (e) => {
  e.preventDefault();
  const channel = $("presence-channel").value.trim();
  if (!channel) return;
  show("presence", await api("presence", { channel }), (el, r) => rows(el, ["client", "user", "info"],
    (r.clients || []).map((c) => [c.client, c.user, c.info === undefined ? "" : JSON.stringify(c.info)])));
};

$("publish-form").onsubmit = async (e) => {
  e.preventDefault();
  const channel = $("publish-channel").value.trim();
  let data;
  try { data = JSON.parse($("publish-data").value); } catch (err) {
    show("publish", { error: `data is not JSON: ${err.message}` });
    return;
  }
  show("publish", await api("publish", { channel, data }), (el) => { el.textContent = `published to ${channel}`; });
};

poll();
setInterval(poll, 1000);
slowPoll();
setInterval(slowPoll, 5000);
