import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { Duplex, PassThrough } from 'node:stream';
import { type Middleware, on } from '@dockhand/core';
import type { Logger } from 'pino';

/** Options of {@link buildkitGuard}. */
export interface BuildKitGuardOptions {
  /** Labels every image built through BuildKit gets (a `label:<key>` frontend attribute each). */
  readonly labels: Readonly<Record<string, string>>;
  /** BuildKit entitlements a build may ask for (default none: no `network.host`, no `security.insecure`). */
  readonly entitlements?: readonly string[];
}

/** Control methods a tenant may not call: they act on every tenant's builds. */
const DENIED_METHODS = new Set([
  '/moby.buildkit.v1.Control/Prune',
  '/moby.buildkit.v1.Control/ListenBuildHistory',
  '/moby.buildkit.v1.Control/UpdateBuildHistory',
]);
/**
 * The two solve calls and where their frontend options are: `Control/Solve` (field 7 `FrontendAttrs`, field 9
 * `Entitlements`), and `LLBBridge/Solve`, what buildx's client-side build sends to run the Dockerfile frontend
 * (field 2 `Frontend`, field 3 `FrontendOpt`).
 */
const SOLVES: ReadonlyMap<string, { options: number; frontend?: number; entitlements?: number }> = new Map([
  ['/moby.buildkit.v1.Control/Solve', { options: 7, entitlements: 9 }],
  ['/moby.buildkit.v1.frontend.LLBBridge/Solve', { options: 3, frontend: 2 }],
]);
const PERMISSION_DENIED = '7';

/**
 * Reads BuildKit's gRPC on a hijacked `/grpc` connection (what `docker build` and `docker buildx` use with the
 * engine's BuildKit), so that builds obey the tenant rules too: every `Solve` gets the tenant's labels as
 * `label:` frontend attributes (the image a Dockerfile build produces carries them), a `Solve` asking for an
 * entitlement that is not allowed (`network.host`, `security.insecure`) is refused, and the control calls that
 * act on every tenant's builds (cache prune, build history) are refused. The proxy terminates HTTP/2 on both
 * sides; every other call is passed through as it is.
 *
 * @param options - the labels and the allowed entitlements
 * @returns the middleware
 * @example
 * ```ts
 * buildkitGuard({ labels: { 'dockhand.tenant': 'alice' } });
 * ```
 */
export function buildkitGuard(options: BuildKitGuardOptions): Middleware {
  const allowed = new Set(options.entitlements ?? []);
  const labels = Object.entries(options.labels);
  return on('Grpc', async (ctx, next) => {
    const log = ctx.log;
    ctx.onHijack((client, engine, early) => intercept(client, engine, early, { labels, allowed, log }));
    await next();
  });
}

interface Rules {
  labels: [string, string][];
  allowed: Set<string>;
  log: Logger;
}

function intercept(client: Duplex, engine: Duplex, early: Buffer, rules: Rules): void {
  let inbound: Duplex = client;
  if (early.length > 0) {
    const readable = new PassThrough();
    readable.write(early);
    client.pipe(readable);
    inbound = Duplex.from({ readable, writable: client });
  }
  const upstream: ClientHttp2Session = http2.connect('http://docker', { createConnection: () => engine });
  const server = http2.createServer();
  const closeAll = () => {
    upstream.destroy();
    client.destroy();
    engine.destroy();
  };
  upstream.on('error', closeAll);
  upstream.on('close', closeAll);
  server.on('sessionError', closeAll);
  server.on('session', (session) => session.on('close', closeAll));
  server.on('stream', (stream, headers) => forwardStream(stream, headers, upstream, rules));
  server.emit('connection', inbound);
}

function forwardStream(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  upstream: ClientHttp2Session,
  rules: Rules,
): void {
  const path = String(headers[':path'] ?? '');
  stream.on('error', () => {});
  if (DENIED_METHODS.has(path)) {
    rules.log.warn({ code: 'DOCKHAND_ROUTE_DENIED', path }, 'BuildKit call refused');
    grpcError(stream, `${path.split('/').pop()} acts on every tenant's builds and is not allowed here`);
    return;
  }
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || (k.startsWith(':') && k !== ':path' && k !== ':method')) continue;
    if (k === 'connection' || k === 'host') continue;
    out[k] = v as string | string[];
  }
  const request = upstream.request(out, { endStream: false });
  request.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
  stream.on('close', () => {
    if (!request.closed) request.close(http2.constants.NGHTTP2_CANCEL);
  });
  let trailers: IncomingHttpHeaders | undefined;
  request.on('response', (h) => {
    const response: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(h))
      if (v !== undefined && (!k.startsWith(':') || k === ':status')) response[k] = v as string | string[];
    stream.respond(response, { waitForTrailers: true });
    stream.on('wantTrailers', () => {
      const t: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(trailers ?? { 'grpc-status': '0' }))
        if (v !== undefined && !k.startsWith(':')) t[k] = v as string | string[];
      stream.sendTrailers(t);
    });
    request.pipe(stream);
  });
  request.on('trailers', (t) => {
    trailers = t;
  });
  const solve = SOLVES.get(path);
  if (!solve) {
    stream.pipe(request);
    return;
  }
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    let body: Buffer;
    try {
      body = rewriteSolve(Buffer.concat(chunks), rules, solve);
    } catch (err) {
      rules.log.warn({ code: 'DOCKHAND_HOST_ESCAPE' }, (err as Error).message);
      request.close(http2.constants.NGHTTP2_CANCEL);
      grpcError(stream, (err as Error).message);
      return;
    }
    request.end(body);
  });
}

function grpcError(stream: ServerHttp2Stream, message: string): void {
  if (stream.headersSent) {
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': PERMISSION_DENIED,
      'grpc-message': encodeURIComponent(message),
    },
    { endStream: true },
  );
}

/**
 * Checks and rewrites one gRPC-framed `SolveRequest`: refuses entitlements that are not allowed and appends the
 * tenant's labels as `FrontendAttrs` entries (a later map entry wins, so a client's own `label:` is overridden).
 *
 * @param frame - the gRPC message: a flag byte, a 4-byte length, the protobuf bytes
 * @param rules - the labels and allowed entitlements
 * @param fields - the field numbers of the frontend options, the frontend name and the entitlements
 * @returns the rewritten frame
 * @throws Error with the refusal's message
 * @internal
 */
export function rewriteSolve(
  frame: Buffer,
  rules: Pick<Rules, 'labels' | 'allowed'>,
  fields: { options: number; frontend?: number; entitlements?: number } = { options: 7, entitlements: 9 },
): Buffer {
  if (frame.length < 5 || frame[0] !== 0)
    throw new Error('a compressed or malformed BuildKit request cannot be checked here');
  const length = frame.readUInt32BE(1);
  if (frame.length !== 5 + length)
    throw new Error('a BuildKit request of more than one message cannot be checked here');
  const message = frame.subarray(5);
  if (fields.entitlements !== undefined) {
    for (const entitlement of stringsOf(message, fields.entitlements)) {
      if (!rules.allowed.has(entitlement))
        throw new Error(`the build entitlement ${entitlement} is not allowed here`);
    }
  }
  // a solve of a bare definition runs no frontend: there is nothing to give labels to
  if (fields.frontend !== undefined && stringsOf(message, fields.frontend).every((f) => f === ''))
    return frame;
  const extra: Buffer[] = [];
  for (const [k, v] of rules.labels) {
    const entry = Buffer.concat([
      lengthDelimited(1, Buffer.from(`label:${k}`)),
      lengthDelimited(2, Buffer.from(v)),
    ]);
    extra.push(lengthDelimited(fields.options, entry));
  }
  const body = Buffer.concat([message, ...extra]);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

function lengthDelimited(field: number, value: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(value.length), value]);
}

function readVarint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  let i = pos;
  for (;;) {
    if (i >= buf.length) throw new Error('a malformed BuildKit request cannot be checked here');
    const b = buf[i++]!;
    result += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [result, i];
    mul *= 128;
  }
}

/** The string values of a repeated string field at the top level of a protobuf message. */
function stringsOf(msg: Buffer, wanted: number): string[] {
  const out: string[] = [];
  let pos = 0;
  while (pos < msg.length) {
    const [key, p1] = readVarint(msg, pos);
    const field = Math.floor(key / 8);
    const type = key & 7;
    if (type === 0) [, pos] = readVarint(msg, p1);
    else if (type === 1) pos = p1 + 8;
    else if (type === 5) pos = p1 + 4;
    else if (type === 2) {
      const [len, p2] = readVarint(msg, p1);
      if (field === wanted) out.push(msg.toString('utf8', p2, p2 + len));
      pos = p2 + len;
    } else throw new Error('a malformed BuildKit request cannot be checked here');
    if (pos > msg.length) throw new Error('a malformed BuildKit request cannot be checked here');
  }
  return out;
}
