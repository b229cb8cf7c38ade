#!/usr/bin/env node
// End-to-end check of "agentcli mcp" over stdio with the official MCP
// TypeScript SDK client. cmd/agentcli/mcp_ts_test.go runs it; by hand:
//
//   npm ci --prefix e2e/mcp-ts
//   E2E_READ_FILE=hello.txt E2E_READ_CONTENT='hello' \
//     node e2e/mcp-ts/client.mjs ./bin/agentcli mcp -tools tools.json -workspace .
//
// The first argument is the agentcli program and the rest its arguments;
// without arguments, $AGENTCLI and the JSON array $AGENTCLI_ARGS are used.
// The manifest must hold the toolbelt and a slow tool ($E2E_SLOW_TOOL,
// default "sleeper") whose process has $E2E_SLOW_MARKER (default "1234.5")
// in its command line, e.g. ["/bin/sleep","1234.5"]. $E2E_READ_FILE names a
// workspace file holding exactly $E2E_READ_CONTENT (UTF-8 text).
//
// With $E2E_TRANSPORT=http the script starts the server itself, adding
// "-http 127.0.0.1:0" to its arguments, and speaks streamable HTTP to the
// address its banner names, with the bearer token in $E2E_TOKEN (the
// server reads it from $AGENTCLI_MCP_TOKEN); every step is the same.
//
// One line per passed step goes to stdout; the first failure is reported on
// stderr with the server's stderr, and the exit status is 1 (2 for usage).

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';

import { spawn } from 'node:child_process';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, ErrorCode, LATEST_PROTOCOL_VERSION, McpError, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';

const TOOLBELT = ['get_time', 'fs_read_file', 'fs_list_dir', 'fs_search', 'fs_write_file'];
// Bounds on waiting; they only keep a broken server from hanging the run.
const WAIT_MS = 30_000;

function usage(msg) {
    process.stderr.write(`client.mjs: ${msg}\nusage: node client.mjs AGENTCLI mcp -tools TOOLS.json -workspace DIR (see the comment at the top)\n`);
    process.exit(2);
}

let [command, ...args] = process.argv.slice(2);
if (!command) {
    command = process.env.AGENTCLI;
    try {
        args = JSON.parse(process.env.AGENTCLI_ARGS ?? '["mcp"]');
    } catch (e) {
        usage(`$AGENTCLI_ARGS is not a JSON array: ${e.message}`);
    }
}
if (!command) usage('no agentcli program given');
const readFile = process.env.E2E_READ_FILE;
const readContent = process.env.E2E_READ_CONTENT;
if (!readFile || readContent === undefined) usage('$E2E_READ_FILE and $E2E_READ_CONTENT must be set');
const slowTool = process.env.E2E_SLOW_TOOL || 'sleeper';
const slowMarker = process.env.E2E_SLOW_MARKER || '1234.5';

// The SDK passes the server only a few variables (HOME, PATH, ...) unless
// told otherwise; XDG_STATE_HOME places the audit log, so it goes too.
const env = getDefaultEnvironment();
for (const k of ['XDG_STATE_HOME']) {
    if (process.env[k] !== undefined) env[k] = process.env[k];
}

const overHTTP = process.env.E2E_TRANSPORT === 'http';
let serverStderr = '';
let negotiatedVersion;
let transport;
let serverPid;
let httpChild; // over HTTP: the server this script started
if (overHTTP) {
    const token = process.env.E2E_TOKEN;
    if (!token) usage('$E2E_TOKEN must be set with E2E_TRANSPORT=http');
    httpChild = spawn(command, [...args, '-http', '127.0.0.1:0'], { env: { ...env, AGENTCLI_MCP_TOKEN: token }, stdio: ['ignore', 'ignore', 'pipe'] });
    httpChild.stderr.on('data', chunk => {
        serverStderr += chunk;
    });
    const url = await waitUntil(() => serverStderr.match(/over MCP (http:\/\/127\.0\.0\.1:\d+\/mcp) /)?.[1], 'the server\'s banner with its address');
    transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
    serverPid = httpChild.pid;
    const set = transport.setProtocolVersion.bind(transport);
    transport.setProtocolVersion = v => {
        negotiatedVersion = v;
        set(v);
    };
} else {
    transport = new StdioClientTransport({ command, args, env, stderr: 'pipe' });
    transport.stderr.on('data', chunk => {
        serverStderr += chunk;
    });
    // The client tells a transport the version it negotiated (the optional
    // Transport.setProtocolVersion); the stdio transport has no use for it.
    transport.setProtocolVersion = v => {
        negotiatedVersion = v;
    };
}
// The client lets its "user" answer the server's elicitations: a call of
// the write tool on a path named approve-me is approved, anything else
// declined.
const client = new Client({ name: 'toolhost-e2e-ts', version: '1.0.0' }, { capabilities: { elicitation: {} } });
const elicitations = [];
client.setRequestHandler(ElicitRequestSchema, async req => {
    elicitations.push(req.params);
    if (req.params.message.includes('approve-me')) {
        return { action: 'accept', content: { approve: true } };
    }
    return { action: 'decline' };
});
const clientErrors = [];
// closing: the client is closing, and aborts its own event stream, which
// it reports as an error that is not the server's.
let closing = false;
client.onerror = err => {
    if (closing && /SSE stream disconnected: AbortError/.test(err.message)) return;
    clientErrors.push(err);
};

let stepNo = 0;
let current = '(setup)';
async function step(name, fn) {
    current = name;
    const detail = await fn();
    stepNo++;
    process.stdout.write(`ok ${stepNo} - ${name}${detail ? `: ${detail}` : ''}\n`);
}

// withTimeout bounds a promise that should settle, naming what hung.
function withTimeout(p, what) {
    let timer;
    return Promise.race([
        p.finally(() => clearTimeout(timer)),
        new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`${what}: nothing after ${WAIT_MS / 1000}s`)), WAIT_MS);
        }),
    ]);
}

async function waitUntil(cond, what) {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
        const v = cond();
        if (v) return v;
        if (Date.now() > deadline) throw new Error(`${what}: not so after ${WAIT_MS / 1000}s`);
        await sleep(20);
    }
}

// proc reads /proc/PID: its command line, state and parent, or null when
// the process is gone.
function proc(pid) {
    try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return { cmdline, state: rest[0], ppid: Number(rest[1]) };
    } catch {
        return null;
    }
}

// slowProcess is the PID of a live (not zombie) process below the server
// whose command line has the marker, or 0.
function slowProcess(serverPid) {
    for (const name of readdirSync('/proc')) {
        if (!/^\d+$/.test(name)) continue;
        const p = proc(name);
        if (!p || p.state === 'Z' || !p.cmdline.includes(slowMarker)) continue;
        for (let q = p, hops = 0; q && q.ppid > 1 && hops < 64; q = proc(q.ppid), hops++) {
            if (q.ppid === serverPid) return Number(name);
        }
    }
    return 0;
}

function alive(pid) {
    const p = proc(pid);
    return p !== null && p.state !== 'Z' && p.cmdline.includes(slowMarker);
}

function envelope(res, what) {
    assert.equal(res.isError, true, `${what}: isError is ${res.isError}, want true; result ${JSON.stringify(res)}`);
    assert.equal(res.structuredContent, undefined, `${what}: a failed call has structuredContent ${JSON.stringify(res.structuredContent)}`);
    const texts = res.content.filter(c => c.type === 'text');
    assert.equal(texts.length, 1, `${what}: want one text content with the envelope, got ${JSON.stringify(res.content)}`);
    let env;
    try {
        env = JSON.parse(texts[0].text);
    } catch {
        assert.fail(`${what}: the text content is not a JSON envelope: ${texts[0].text}`);
    }
    assert.equal(typeof env.error, 'string', `${what}: envelope without an error message: ${texts[0].text}`);
    return env;
}

let child; // the server process, for its exit status
let exited; // resolves to { code, signal } when the server exits
const signalsSent = [];

async function main() {
    await step('initialize', async () => {
        await withTimeout(client.connect(transport), 'initialize');
        if (overHTTP) {
            child = httpChild;
        } else {
            // The exit status is not part of the SDK's API: the transport's
            // child process is.
            child = transport._process;
            assert.ok(child && typeof child.once === 'function' && child.pid === transport.pid,
                'cannot reach the server process through StdioClientTransport._process (did the SDK change?)');
            serverPid = transport.pid;
        }
        exited = new Promise(resolve => {
            if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
            child.once('exit', (code, signal) => resolve({ code, signal }));
        });
        const kill = child.kill.bind(child);
        child.kill = sig => {
            signalsSent.push(sig ?? 'SIGTERM');
            return kill(sig);
        };
        const info = client.getServerVersion();
        assert.equal(info?.name, 'toolhost', `server name ${JSON.stringify(info)}`);
        assert.ok(typeof info.version === 'string' && info.version !== '', `server version ${JSON.stringify(info)}`);
        assert.ok(SUPPORTED_PROTOCOL_VERSIONS.includes(negotiatedVersion), `negotiated protocol version ${negotiatedVersion} is not one the SDK supports`);
        assert.equal(negotiatedVersion, LATEST_PROTOCOL_VERSION,
            `the server answered protocol version ${negotiatedVersion} to the SDK's ${LATEST_PROTOCOL_VERSION}, which it supports`);
        const caps = client.getServerCapabilities();
        assert.ok(caps?.tools, `no tools capability: ${JSON.stringify(caps)}`);
        assert.equal(caps.tools.listChanged, true, `tools.listChanged: ${JSON.stringify(caps)}`);
        assert.match(client.getInstructions() ?? '', /audited/, 'instructions');
        return `server ${info.name} ${info.version}, protocol ${negotiatedVersion}, ${overHTTP ? 'streamable HTTP' : 'stdio'}, pid ${serverPid}`;
    });

    await step('tools/list', async () => {
        const { tools, nextCursor } = await withTimeout(client.listTools(), 'tools/list');
        assert.equal(nextCursor, undefined, 'one page of tools expected');
        const byName = new Map(tools.map(t => [t.name, t]));
        for (const name of [...TOOLBELT, slowTool]) {
            assert.ok(byName.has(name), `tool ${name} not listed; got ${[...byName.keys()].join(', ')}`);
        }
        assert.equal(tools.length, TOOLBELT.length + 1, `tools listed: ${[...byName.keys()].join(', ')}`);
        for (const t of tools) {
            assert.equal(t.inputSchema?.type, 'object', `${t.name}: inputSchema ${JSON.stringify(t.inputSchema)}`);
        }
        const rf = byName.get('fs_read_file');
        assert.ok(rf.description, 'fs_read_file has no description');
        assert.equal(rf.inputSchema.properties?.path?.type, 'string', `fs_read_file inputSchema ${JSON.stringify(rf.inputSchema)}`);
        assert.deepEqual(rf.inputSchema.required, ['path'], 'fs_read_file inputSchema.required');
        assert.equal(rf.outputSchema?.type, 'object', `fs_read_file outputSchema ${JSON.stringify(rf.outputSchema)}`);
        for (const p of ['path', 'size', 'offset', 'content', 'encoding', 'truncated']) {
            assert.ok(rf.outputSchema.properties?.[p], `fs_read_file outputSchema lacks ${p}`);
        }
        assert.equal(rf.title, 'Read file', 'fs_read_file title');
        assert.deepEqual(rf.annotations, {
            title: 'Read file', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false,
        }, 'fs_read_file annotations');
        assert.equal(byName.get('fs_write_file').annotations?.destructiveHint, true, 'fs_write_file destructiveHint');
        // A tool without an output schema in the manifest offers none.
        assert.equal(byName.get(slowTool).outputSchema, undefined, `${slowTool} outputSchema`);
        return `${tools.length} tools: ${[...byName.keys()].join(', ')}`;
    });

    await step('tools/call fs_read_file', async () => {
        // listTools cached the output schemas: the SDK itself checks the
        // structured content against fs_read_file's and rejects a mismatch.
        const res = await withTimeout(client.callTool({ name: 'fs_read_file', arguments: { path: readFile } }), 'fs_read_file');
        assert.notEqual(res.isError, true, `fs_read_file failed: ${JSON.stringify(res)}`);
        assert.deepEqual(res.structuredContent, {
            path: readFile,
            size: Buffer.byteLength(readContent),
            offset: 0,
            content: readContent,
            encoding: 'utf-8',
            truncated: false,
        }, 'structuredContent');
        const texts = res.content.filter(c => c.type === 'text');
        assert.equal(texts.length, 1, `want one text content, got ${JSON.stringify(res.content)}`);
        assert.deepEqual(JSON.parse(texts[0].text), res.structuredContent, 'the text content is the structured content as JSON');
        return `${res.structuredContent.size} bytes, text and structured content agree`;
    });

    await step('tool failure is a result with isError', async () => {
        const res = await withTimeout(client.callTool({ name: 'fs_read_file', arguments: { path: 'missing.txt' } }), 'fs_read_file missing.txt');
        const env = envelope(res, 'fs_read_file missing.txt');
        assert.equal(env.code, 'NOT_FOUND', `envelope ${JSON.stringify(env)}`);
        assert.match(env.error, /missing\.txt/, 'the error names the path');
        return JSON.stringify(env);
    });

    await step('a path the floor protects is denied', async () => {
        const res = await withTimeout(client.callTool({ name: 'fs_read_file', arguments: { path: '/etc/passwd' } }), 'fs_read_file /etc/passwd');
        const env = envelope(res, 'fs_read_file /etc/passwd');
        assert.equal(env.code, 'DENIED', `envelope ${JSON.stringify(env)}`);
        assert.match(env.error, /floor:path-etc/, 'the error names the floor entry');
        return JSON.stringify(env);
    });

    await step('a call the policy asks about runs once approved by elicitation', async () => {
        const res = await withTimeout(client.callTool({ name: 'fs_write_file', arguments: { path: 'approve-me.txt', content: 'approved' } }), 'fs_write_file approve-me.txt');
        assert.notEqual(res.isError, true, `fs_write_file failed: ${JSON.stringify(res)}`);
        assert.equal(elicitations.length, 1, `want one elicitation, got ${JSON.stringify(elicitations)}`);
        assert.match(elicitations[0].message, /fs_write_file/, 'the elicitation names the tool');
        assert.match(elicitations[0].message, /rule writes/, 'the elicitation names the rule that asks');
        assert.equal(elicitations[0].requestedSchema.properties.approve.type, 'boolean');
        const read = await withTimeout(client.callTool({ name: 'fs_read_file', arguments: { path: 'approve-me.txt' } }), 'fs_read_file approve-me.txt');
        assert.equal(read.structuredContent.content, 'approved', `the file holds ${JSON.stringify(read.structuredContent)}`);
        return elicitations[0].message;
    });

    await step('a declined call is denied and nothing runs', async () => {
        const res = await withTimeout(client.callTool({ name: 'fs_write_file', arguments: { path: 'declined.txt', content: 'no' } }), 'fs_write_file declined.txt');
        const env = envelope(res, 'fs_write_file declined.txt');
        assert.equal(env.code, 'DENIED', `envelope ${JSON.stringify(env)}`);
        assert.match(env.error, /declined/, 'the error says it was declined');
        assert.equal(elicitations.length, 2);
        return JSON.stringify(env);
    });

    await step('invalid arguments are a result with isError', async () => {
        const res = await withTimeout(client.callTool({ name: 'fs_read_file', arguments: { path: 5 } }), 'fs_read_file {"path":5}');
        const env = envelope(res, 'fs_read_file {"path":5}');
        assert.equal(env.code, 'INVALID_ARGS', `envelope ${JSON.stringify(env)}`);
        assert.match(env.error, /\/path\b/, `the error names /path: ${env.error}`);
        return JSON.stringify(env);
    });

    await step('unknown tool is a JSON-RPC error', async () => {
        let err;
        try {
            const res = await withTimeout(client.callTool({ name: 'no_such_tool', arguments: {} }), 'no_such_tool');
            assert.fail(`calling an unknown tool resolved: ${JSON.stringify(res)}`);
        } catch (e) {
            err = e;
        }
        assert.ok(err instanceof McpError, `want an McpError, got ${err?.stack ?? err}`);
        assert.equal(err.code, ErrorCode.InvalidParams, `JSON-RPC error code ${err.code} (${err.message}), want ${ErrorCode.InvalidParams} (invalid params), as the MCP spec has it`);
        assert.match(err.message, /no_such_tool/, 'the error names the tool');
        return `McpError ${err.code}: ${err.message}`;
    });

    await step(`cancelling a call kills its tool (${slowTool})`, async () => {
        const ac = new AbortController();
        let settled = false;
        const call = client.callTool({ name: slowTool, arguments: {} }, undefined, { signal: ac.signal });
        call.then(() => {}, () => {}).finally(() => {
            settled = true;
        });
        const pid = await waitUntil(() => {
            if (settled) throw new Error(`the ${slowTool} call ended before its process was seen running`);
            return slowProcess(serverPid);
        }, `a process with ${slowMarker} in its command line below the server (pid ${serverPid})`);
        ac.abort();
        let err;
        try {
            const res = await withTimeout(call, `the aborted ${slowTool} call`);
            assert.fail(`the aborted call resolved: ${JSON.stringify(res)}`);
        } catch (e) {
            err = e;
        }
        assert.ok(err instanceof Error, `the aborted call rejected with ${err}`);
        await waitUntil(() => !alive(pid), `tool process ${pid} gone after the cancellation`);
        return `tool pid ${pid} gone; the call rejected with ${err.name}: ${err.message}`;
    });

    await step('ping', async () => {
        const res = await withTimeout(client.ping(), 'ping');
        assert.deepEqual(res, {}, 'ping result');
    });

    await step('close: the server exits cleanly', async () => {
        if (overHTTP) {
            // The session ends (DELETE); the server, serving others,
            // exits on SIGTERM.
            closing = true;
            await withTimeout(transport.terminateSession(), 'terminating the session');
            await withTimeout(client.close(), 'client.close');
            httpChild.kill('SIGTERM');
            signalsSent.length = 0;
        } else {
            await withTimeout(client.close(), 'client.close');
        }
        const { code, signal } = await withTimeout(exited, 'server exit');
        assert.deepEqual(signalsSent, [], `the server did not exit within the SDK's 2s after its stdin closed, so the SDK sent ${signalsSent.join(', ')}`);
        assert.equal(signal, null, `the server died of ${signal}`);
        assert.equal(code, 0, `the server exited with status ${code}`);
        assert.match(serverStderr, overHTTP ? /serving \d+ tools from .* over MCP http:/ : /serving \d+ tools from .* over MCP stdio/, 'the server did not print its banner');
        return 'exit status 0';
    });
}

try {
    await main();
    // Anything the SDK found wrong with the server's messages (such as a
    // response to a cancelled request, which the spec forbids) fails.
    current = 'no protocol errors reported by the client';
    assert.deepEqual(clientErrors.map(e => e.message), [], 'the client reported protocol errors');
    process.stdout.write(`PASS: ${stepNo} steps\n`);
} catch (err) {
    process.stderr.write(`FAIL - ${current}: ${err?.stack ?? err}\n`);
    if (clientErrors.length > 0) process.stderr.write(`client errors: ${clientErrors.map(e => e.message).join('; ')}\n`);
    try {
        await client.close(); // ends the server and with it any tool
    } catch {
        // already closed
    }
    httpChild?.kill('SIGTERM');
    process.stderr.write(`--- server stderr ---\n${serverStderr}--- end of server stderr ---\n`);
    process.exit(1);
}
