// Node's ws (an independent permessage-deflate implementation on Node's
// zlib) against a wsedge node: for each case, connect with the given
// perMessageDeflate options, send messages (text and binary, large, small,
// empty, fragmented) to /echo or as {"type":"echo"} on /ws, and compare what
// comes back. Server frames with RSV1 are counted on the raw socket.
//
// stdin: JSON {"cases": [{"name", "url", "json": bool, "perMessageDeflate": {...}}]}
// stdout: one JSON line per case: name, extensions (the server's answer), echoed,
// compressed (server frames with RSV1), error.
import { WebSocket } from 'ws';

const input = JSON.parse(await new Promise((resolve) => {
  let s = '';
  process.stdin.on('data', (d) => { s += d; });
  process.stdin.on('end', () => resolve(s));
}));

function jsonText(n, seed) {
  const words = ['alpha', 'bravo', 'charlie', 'grün', 'straße', 'é', 'ω', '€'];
  const items = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const item = { user: words[(i * 7 + seed) % words.length], n: (i * 31 + seed) % 1000, ok: i % 3 === 0 };
    items.push(item);
    len += Buffer.byteLength(JSON.stringify(item)) + 1;
  }
  return items;
}

function binary(n, seed) {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = (i % 64 < 48) ? (i >> 6) & 0xff : x & 0xff; // runs and noise
  }
  return b;
}

// countRSV1 parses the server's frames off the raw socket (after the
// upgrade response, which ws has consumed before 'open').
function countRSV1(socket, counter) {
  let buf = Buffer.alloc(0);
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) return;
      let n = buf[1] & 0x7f;
      let h = 2;
      if (n === 126) { if (buf.length < 4) return; n = buf.readUInt16BE(2); h = 4; }
      if (n === 127) { if (buf.length < 10) return; n = Number(buf.readBigUInt64BE(2)); h = 10; }
      if (buf.length < h + n) return;
      if (buf[0] & 0x40) counter.n++;
      buf = buf.subarray(h + n);
    }
  });
}

async function runCase(c) {
  const res = { name: c.name, extensions: null, echoed: 0, compressed: 0, error: null };
  const counter = { n: 0 };
  let ws;
  try {
    ws = new WebSocket(c.url, { perMessageDeflate: c.perMessageDeflate, maxPayload: 4 << 20 });
    ws.once('upgrade', (r) => { res.extensions = r.headers['sec-websocket-extensions'] ?? ''; });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    if (ws.extensions !== 'permessage-deflate') throw new Error(`ws agreed to ${JSON.stringify(ws.extensions)}`);
    countRSV1(ws._socket, counter);
    const replies = [];
    let waiting = null;
    ws.on('message', (data, isBinary) => {
      replies.push({ data, isBinary });
      if (waiting) { const w = waiting; waiting = null; w(); }
    });
    const next = () => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no reply within 10 s')), 10000);
      const take = () => { clearTimeout(t); resolve(replies.shift()); };
      if (replies.length) take(); else waiting = take;
    });
    const msgs = [
      { text: JSON.stringify(jsonText(1024, 1)) },
      { text: JSON.stringify(jsonText(100 << 10, 2)) },
      { text: '{"small":1}' },
      { text: '' },
      { bin: binary(8192, 3) },
      { bin: binary(200 << 10, 4) },
      { text: JSON.stringify(jsonText(3000, 5)), fragments: 3 },
      { bin: binary(5000, 6), fragments: 4 },
    ];
    for (const m of msgs) {
      if (c.json && m.bin) continue; // /ws speaks text only
      let payload = m.bin ?? m.text;
      if (c.json) payload = JSON.stringify({ type: 'echo', id: 'x', data: m.text });
      if (m.fragments) {
        const b = Buffer.from(payload);
        const step = Math.ceil(b.length / m.fragments);
        for (let i = 0; i < m.fragments; i++) {
          const part = b.subarray(i * step, Math.min((i + 1) * step, b.length));
          await new Promise((resolve, reject) => ws.send(part, { binary: !!m.bin, fin: i === m.fragments - 1, compress: true }, (e) => (e ? reject(e) : resolve())));
        }
      } else {
        await new Promise((resolve, reject) => ws.send(payload, { binary: !!m.bin, compress: true }, (e) => (e ? reject(e) : resolve())));
      }
      const r = await next();
      if (c.json) {
        const got = JSON.parse(r.data.toString());
        if (r.isBinary || got.type !== 'echo' || got.data !== m.text) throw new Error(`/ws echo of ${m.text.length} chars differs`);
      } else {
        const want = m.bin ?? Buffer.from(m.text);
        if (r.isBinary !== !!m.bin || !Buffer.from(r.data).equals(want)) throw new Error(`echo of ${want.length} bytes differs (binary ${r.isBinary})`);
      }
      res.echoed++;
    }
    await new Promise((resolve) => { ws.once('close', resolve); ws.close(1000); });
  } catch (e) {
    res.error = String(e && e.message || e);
    if (ws) ws.terminate();
  }
  res.compressed = counter.n;
  return res;
}

for (const c of input.cases) {
  process.stdout.write(JSON.stringify(await runCase(c)) + '\n');
}
