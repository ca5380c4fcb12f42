// The demo page: connect, subscribe, publish and watch messages with their
// latency, using only the client library. Works on any host and over wss:
// the URL comes from the page's own location unless ?url= says otherwise.
import { connect } from "./wsedge.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const me = Math.random().toString(16).slice(2, 6);
$("me").textContent = me;
// defaultValue: the fields' initial values, also shown in the page's markup.
$("url").defaultValue = params.get("url") || `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
const firstChannel = params.get("channel") || "demo";
$("sub-channel").defaultValue = $("pub-channel").defaultValue = firstChannel;

let client = null;
const subs = new Map(); // channel -> unsubscribe

const time = () => new Date().toLocaleTimeString([], { hour12: false });

function line(list, parts, cls) {
  const li = document.createElement("li");
  if (cls) li.className = cls;
  for (const [text, c] of parts) {
    const s = document.createElement("span");
    s.textContent = text;
    if (c) s.className = c;
    li.append(s);
  }
  list.prepend(li);
  while (list.children.length > 200) list.lastChild.remove();
  return li;
}

const event = (text, cls) => line($("events"), [[time(), "t"], [text]], cls);

function setState(state) {
  $("state").textContent = state;
  $("state").dataset.state = state;
}

function onMessage(channel) {
  return (data) => {
    const text = typeof data?.text === "string" ? data.text : JSON.stringify(data);
    const latency = typeof data?.sent === "number" ? Date.now() - data.sent : null;
    const li = line($("messages"), [[time(), "t"], [channel, "ch"], [text],
      [data?.from === me ? "(you)" : data?.from ? `from ${data.from}` : "", "mine"],
      [latency === null ? "" : `${latency} ms`, "lat"]]);
    Object.assign(li.dataset, { channel, text, from: data?.from ?? "", latency: latency ?? "" });
  };
}

function renderChannels() {
  const ul = $("channels");
  ul.replaceChildren();
  for (const [channel, off] of subs) {
    const li = document.createElement("li");
    li.dataset.channel = channel;
    li.dataset.ready = "false";
    off.ready.then(() => { if (subs.get(channel) === off) li.dataset.ready = "true"; }, () => {});
    const x = document.createElement("button");
    x.type = "button";
    x.textContent = "×";
    x.title = "unsubscribe";
    x.onclick = () => { off(); subs.delete(channel); renderChannels(); };
    li.append(channel, x);
    ul.append(li);
  }
}

function subscribe(channel) {
  if (!client || subs.has(channel)) return;
  const off = client.subscribe(channel, onMessage(channel));
  subs.set(channel, off);
  off.ready.catch((e) => { event(`subscribe ${channel}: ${e.code} ${e.message}`, "err"); subs.delete(channel); renderChannels(); });
  renderChannels();
}

function start() {
  client?.close();
  subs.clear();
  const token = $("token").value.trim();
  const url = $("url").value.trim();
  client = connect({ url, ...(token ? { token } : {}) });
  window.wsedgeDemo = { client, me }; // for the console (and the browser tests)
  client.on("connecting", ({ attempt }) => { setState("connecting"); event(`connecting (attempt ${attempt + 1})`); });
  client.on("connected", (info) => {
    setState("connected");
    event(`connected${info.user ? ` as ${info.user}` : ""}${info.client ? ` (client ${info.client})` : ""}`);
    renderChannels(); // resubscribed: ready again once acked
  });
  client.on("disconnected", ({ code, reason }) => { setState("disconnected"); event(`disconnected: ${code}${reason ? ` ${reason}` : ""}`); renderChannels(); });
  let opened = false, hinted = false;
  client.on("connected", () => { opened = true; });
  client.on("reconnecting", ({ inMs, kind }) => {
    event(`reconnecting in ${inMs} ms (${kind})`);
    // A browser cannot see why an upgrade was refused: say what it may be.
    if (kind === "unavailable" && !opened && !hinted) {
      hinted = true;
      event(`cannot open ${url}: the node is down or full, or refuses this page's origin ` +
        `(${location.origin}): with -allowed-origins set, list it there`, "err");
    }
  });
  client.on("error", ({ type, error }) => event(`error (${type}): ${error.code ?? error.name} ${error.message}`, "err"));
  client.on("subscribed", ({ channel }) => event(`subscribed by the server to ${channel}`));
  client.on("unsubscribed", ({ channel }) => { subs.delete(channel); renderChannels(); event(`unsubscribed by the server from ${channel}`); });
  subscribe(firstChannel);
}

$("conn-form").onsubmit = (e) => { e.preventDefault(); start(); };
$("disconnect").onclick = () => { client?.close(); setState("closed"); event("closed by you"); subs.clear(); renderChannels(); };
$("sub-form").onsubmit = (e) => { e.preventDefault(); const ch = $("sub-channel").value.trim(); if (ch) subscribe(ch); };
$("pub-form").onsubmit = async (e) => {
  e.preventDefault();
  const channel = $("pub-channel").value.trim();
  const text = $("pub-text").value;
  if (!client || !channel) return;
  $("pub-status").textContent = "sending…";
  try {
    await client.publish(channel, { text, from: me, sent: Date.now() });
    $("pub-status").textContent = "sent";
    $("pub-text").value = "";
  } catch (err) {
    $("pub-status").textContent = `${err.code}: ${err.message}`;
  }
};

setInterval(async () => {
  if (client?.state !== "connected") return;
  try { $("rtt").textContent = `ping ${Math.round(await client.ping())} ms`; } catch { /* shown as an error event */ }
}, 5000);

start();
