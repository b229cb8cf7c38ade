// stdio-bridge.mjs: exposes `agentcli mcp` (stdio) as a streamable HTTP endpoint
// so the conformance suite, which only speaks HTTP to servers, can drive the
// stdio transport. One agentcli child process per HTTP session (as a desktop
// client would start one per connection). JSON-RPC messages are passed through
// unchanged, one line each way; only the HTTP framing is the SDK's.
//
// usage: node stdio-bridge.mjs PORT -- AGENTCLI [ARGS...]
import http from 'node:http';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import readline from 'node:readline';

const sdk = process.env.SDK_DIR || new URL('./node_modules/@modelcontextprotocol/sdk', import.meta.url).pathname;
const { StreamableHTTPServerTransport } = await import(`${sdk}/dist/esm/server/streamableHttp.js`);

const port = Number(process.argv[2]);
const sep = process.argv.indexOf('--');
const [cmd, ...args] = process.argv.slice(sep + 1);
const sessions = new Map();

function newSession() {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const inflight = new Map(); // request id (JSON) -> method
  const tokens = new Map(); // progress token (JSON) -> request id
  let lastCall; // id of the newest tools/call in flight
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    onsessioninitialized: (id) => sessions.set(id, transport),
  });
  transport.onmessage = (msg) => {
    if (msg.method !== undefined && msg.id !== undefined) {
      inflight.set(JSON.stringify(msg.id), msg.method);
      if (msg.method === 'tools/call') lastCall = msg.id;
      const tok = msg.params?._meta?.progressToken;
      if (tok !== undefined) tokens.set(JSON.stringify(tok), msg.id);
    }
    child.stdin.write(JSON.stringify(msg) + '\n');
  };
  transport.onclose = () => { child.stdin.end(); if (transport.sessionId) sessions.delete(transport.sessionId); };
  readline.createInterface({ input: child.stdout }).on('line', async (line) => {
    let msg;
    try { msg = JSON.parse(line); } catch { console.error('bridge: non-JSON line from agentcli:', line); return; }
    let rel;
    if (msg.method === undefined) { // a response
      inflight.delete(JSON.stringify(msg.id));
    } else if (msg.method === 'notifications/progress') {
      rel = tokens.get(JSON.stringify(msg.params?.progressToken));
    } else if (lastCall !== undefined && inflight.has(JSON.stringify(lastCall))) {
      rel = lastCall; // a server request or notification during a call: on that call's stream
    }
    try { await transport.send(msg, rel !== undefined ? { relatedRequestId: rel } : undefined); }
    catch (e) { console.error('bridge: send failed:', e.message, line.slice(0, 200)); }
  });
  child.stderr.on('data', (d) => process.stderr.write(d));
  child.on('exit', (code, sig) => { console.error(`bridge: agentcli exited code=${code} sig=${sig}`); transport.close().catch(() => {}); });
  transport.start();
  return transport;
}

http.createServer(async (req, res) => {
  if (!req.url.startsWith('/mcp')) { res.writeHead(404).end(); return; }
  const sid = req.headers['mcp-session-id'];
  let body;
  if (req.method === 'POST') {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    try { body = JSON.parse(Buffer.concat(chunks).toString()); } catch { body = undefined; }
  }
  let transport = sid ? sessions.get(sid) : undefined;
  if (!transport) {
    if (sid) { res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null })); return; }
    if (req.method === 'POST' && body?.method === 'initialize') transport = newSession();
    else { res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: no session (bridge needs initialize first)' }, id: null })); return; }
  }
  await transport.handleRequest(req, res, body);
}).listen(port, '127.0.0.1', () => console.error(`bridge: http://127.0.0.1:${port}/mcp -> stdio ${cmd} ${args.join(' ')}`));
