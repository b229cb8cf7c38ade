#!/usr/bin/env node
// text_stats: a tool in Node.js on the tool contract that also runs
// resident, serving toolhost's Tool service (protocol/resident/residentpb/
// resident.proto) over hashicorp/go-plugin's gRPC protocol. Started by a
// host that asks for resident mode (the cookie below in its environment)
// it serves calls until the host ends it; started any other way it runs
// one call: arguments on stdin, result on stdout. See docs/resident.md.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate } from 'node:timers/promises';

// The tool itself: arguments in, result out; throw a ToolError to fail
// with a code of the tool's own. signal aborts when the host cancels the
// call (its timeout passed, or its caller went away): pass it on to what
// the tool awaits, or check it between steps, as here.
class ToolError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

async function run(args, signal) {
  if (typeof args.text !== 'string') throw new ToolError('NO_TEXT', 'text is required');
  const text = args.text;
  let lines = text === '' ? 0 : 1;
  let words = 0;
  let chars = 0;
  let inWord = false;
  for (const ch of text) {
    if (++chars % 65536 === 0) {
      // A step: a long text's call may be cancelled here.
      await setImmediate();
      signal.throwIfAborted();
    }
    if (ch === '\n') lines++;
    const space = /\s/.test(ch);
    if (!space && !inWord) words++;
    inWord = !space;
  }
  return { lines, words, chars };
}

// What a one-shot run of args would leave: exit status, stdout, stderr
// (the failure envelope as its last line).
async function answer(raw, signal) {
  let args;
  try {
    args = JSON.parse(raw);
  } catch (e) {
    return fail('BAD_INPUT', `arguments are not JSON: ${e.message}`);
  }
  try {
    return { status: 0, stdout: Buffer.from(JSON.stringify(await run(args, signal)) + '\n'), stderr: Buffer.alloc(0) };
  } catch (e) {
    if (signal.aborted) return fail('CANCELLED', 'the call was cancelled');
    return fail(e instanceof ToolError ? e.code : 'TOOL_FAILED', e.message);
  }
}

function fail(code, message) {
  return { status: 1, stdout: Buffer.alloc(0), stderr: Buffer.from(JSON.stringify({ error: message, code }) + '\n') };
}

// go-plugin's handshake: the host's cookie, the protocol version it takes.
const COOKIE_KEY = 'TOOLHOST_RESIDENT_TOOL';
const COOKIE_VALUE = '7c1f0e5a9b2d4c38a6e1f0b9d2c7a4e5';
const VERSION = 1;

if (process.env[COOKIE_KEY] !== COOKIE_VALUE) {
  // One-shot: one call on stdin and stdout.
  const r = await answer(readFileSync(0, 'utf8'), new AbortController().signal);
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  process.exitCode = r.status;
} else {
  await serve();
}

async function serve() {
  // Loaded here: a one-shot run does not pay for gRPC.
  const { default: grpc } = await import('@grpc/grpc-js');
  const { default: protoLoader } = await import('@grpc/proto-loader');
  const versions = (process.env.PLUGIN_PROTOCOL_VERSIONS ?? '').split(',');
  if (!versions.includes(String(VERSION))) {
    console.error(`the host takes protocol versions ${versions}, this tool speaks ${VERSION}`);
    process.exit(1);
  }
  // The service definition; a tool of your own would carry a copy.
  const proto = new URL('../../protocol/resident/residentpb/resident.proto', import.meta.url).pathname;
  // defaults: a field at its zero value (id 0, empty args) is sent as
  // nothing, and must read as its zero value.
  const def = protoLoader.loadSync(proto, { longs: String, defaults: true });
  const { Tool } = grpc.loadPackageDefinition(def).toolhost.resident.v1;

  // The calls running, by id, and Cancels that came before their call.
  const running = new Map();
  const early = new Set();
  // Arguments may be larger than gRPC's default limit of 4 MiB: the host,
  // the only client, bounds them (maxArgsBytes, then re-encoded).
  const server = new grpc.Server({ 'grpc.max_receive_message_length': -1 });
  server.addService(Tool.service, {
    Call({ request }, reply) {
      const ac = new AbortController();
      if (early.delete(request.id)) ac.abort();
      running.set(request.id, ac);
      answer(request.args.toString('utf8'), ac.signal)
        .then((r) => reply(null, r), (e) => reply({ code: grpc.status.INTERNAL, details: String(e) }))
        .finally(() => running.delete(request.id));
    },
    Cancel({ request }, reply) {
      const ac = running.get(request.id);
      if (ac) ac.abort();
      else if (request.id !== '0') {
        early.add(request.id);
        // A Cancel that came after its call ended is kept too: keep few.
        if (early.size > 1024) early.delete(early.values().next().value);
      }
      reply(null, {});
    },
  });
  // The socket goes in the folder the host made for it.
  const socket = join(process.env.PLUGIN_UNIX_SOCKET_DIR, 'plugin.sock');
  server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) {
      console.error(`listen on ${socket}: ${err.message}`);
      process.exit(1);
    }
    // core version | protocol version | network | address | protocol
    process.stdout.write(`1|${VERSION}|unix|${socket}|grpc\n`);
  });
  // The host ends a resident tool with SIGTERM (SIGKILL after its grace).
  process.on('SIGTERM', () => {
    server.forceShutdown();
    process.exit(0);
  });
}
