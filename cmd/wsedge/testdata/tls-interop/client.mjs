// wss:// echo client for the interop test (interop_test.go): Node's TLS
// under the ws package (npm ci in this directory; .ci/run does it).
//
// usage: node client.mjs URL CAFILE IDLE_MS
//
// Echoes text and binary messages of several sizes, goes quiet for IDLE_MS
// (longer than the server's -tls-cipher-idle), echoes again, closes with
// 1000 and prints "ok <TLS version>"; any mismatch exits 1.
import fs from 'node:fs';
import WebSocket from 'ws';

const [url, caFile, idleMs] = process.argv.slice(2);
const sizes = [0, 1, 125, 126, 16384, 16385, 100000, 300000];

function payload(n, seed) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8) + seed) & 0xff;
  return b;
}

const ws = new WebSocket(url, { ca: fs.readFileSync(caFile), minVersion: 'TLSv1.3', maxPayload: 4 << 20, perMessageDeflate: false });
const inbox = [];
const waiting = [];
ws.on('message', (data, isBinary) => {
  const m = { data, isBinary };
  const w = waiting.shift();
  if (w) w(m); else inbox.push(m);
});
let closed = null;
ws.on('close', (code, reason) => {
  closed = new Error(`closed ${code} ${reason} while waiting for a reply`);
  for (const w of waiting.splice(0)) w(null);
});
const next = () => new Promise((resolve, reject) => {
  if (inbox.length) return resolve(inbox.shift());
  if (closed) return reject(closed);
  const t = setTimeout(() => reject(new Error('no reply within 20 s')), 20000);
  waiting.push((m) => { clearTimeout(t); if (m) resolve(m); else reject(closed); });
});

async function echo(msg, binary) {
  ws.send(msg, { binary });
  const got = await next();
  const want = binary ? msg : Buffer.from(msg, 'utf8');
  if (got.isBinary !== binary || !Buffer.from(got.data).equals(want)) {
    throw new Error(`echo of ${want.length} bytes (binary ${binary}): got ${got.data.length} bytes, binary ${got.isBinary}`);
  }
}

try {
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  for (const [seed, n] of sizes.entries()) {
    await echo(payload(n, seed), true);
    await echo('κόσμε🙂'.repeat(Math.floor(n / 12)), false);
  }
  await new Promise((r) => setTimeout(r, Number(idleMs)));
  await echo(payload(300000, 99), true);
  await echo('after the quiet period', false);
  const version = ws._socket.getProtocol();
  const code = await new Promise((resolve) => { ws.once('close', (c) => resolve(c)); ws.close(1000); });
  if (code !== 1000) throw new Error(`close code ${code}, want 1000`);
  console.log('ok', version);
} catch (e) {
  console.error(e && e.stack || e);
  process.exit(1);
}
