// A BuildKit client that speaks the gRPC calls itself, as a client library (buildctl, the Go client) would, over
// the engine's `/grpc` endpoint: what the docker CLI cannot be made to send. Requests are written with
// @bufbuild/protobuf's writer; LLB ops are digested as BuildKit digests them (sha256 of the marshalled op).
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import { connect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { bytesFields, frame, message, num, type Part, raw, str, sub } from '../protobuf.ts';

export { entry, message, num, type Part, raw, str, sub } from '../protobuf.ts';

/** An LLB op's digest, as BuildKit names it in an input. */
export const digest = (op: Buffer): string => `sha256:${createHash('sha256').update(op).digest('hex')}`;

/**
 * A `pb.Definition` of a `RUN` on busybox: a source op, an exec op on it (with the given extra `Meta` and `ExecOp`
 * parts), and the terminal op BuildKit's marshaller appends, each with its metadata entry.
 */
export function runDefinition(command: string, metaParts: Part[] = [], execParts: Part[] = []): Buffer {
  const platform = sub(10, str(1, 'amd64'), str(2, 'linux'));
  const source = message(sub(3, str(1, 'docker-image://docker.io/library/busybox:latest')), platform);
  const exec = message(
    sub(1, str(1, digest(source)), num(2, 0)),
    sub(
      2,
      sub(
        1,
        str(1, '/bin/sh'),
        str(1, '-c'),
        str(1, command),
        str(2, 'PATH=/bin:/usr/bin'),
        str(3, '/'),
        ...metaParts,
      ),
      sub(2, num(1, 0), str(3, '/'), num(4, 0)),
      ...execParts,
    ),
    platform,
  );
  const terminal = message(sub(1, str(1, digest(exec)), num(2, 0)));
  // each op with an (empty) metadata entry, as the Go client marshals it: a frontend input needs them
  const ops = [source, exec, terminal];
  return message(
    ...ops.map((op) => raw(1, op)),
    ...ops.map((op) => sub(2, str(1, digest(op)), raw(2, Buffer.alloc(0)))),
  );
}

/** A `Control/Solve` request of a definition, with a fresh build ref and any further parts. */
export const solveRequest = (definition: Buffer, ...parts: Part[]): Buffer =>
  message(str(1, randomBytes(12).toString('hex')), raw(2, definition), ...parts);

/** What a gRPC call answered. */
export interface GrpcAnswer {
  /** `grpc-status` (`'0'` OK, `'7'` permission denied, ...). */
  status: string;
  /** `grpc-message`, decoded. */
  message: string;
  /** The answer's messages. */
  messages: Buffer[];
}

/** One `/grpc` connection of a Docker API socket, on which several calls may run at once (as one Go client's do). */
export interface GrpcSession {
  /** Makes one unary call: the request message, more request metadata. */
  call(path: string, request: Buffer, headers?: Record<string, string>): Promise<GrpcAnswer>;
  /** Starts a streaming call: its request is written, and its answer read, by the caller. */
  stream(path: string, headers?: Record<string, string | string[]>): http2.ClientHttp2Stream;
  close(): void;
}

/**
 * Sends an `Upgrade: h2c` request on a new connection of a Docker API socket, and reads the answer's head: on a
 * `101`, the connection is the upgraded protocol's, paused, with what followed the head put back.
 *
 * @param socket - the Docker API socket (the engine's or a proxy's)
 * @param path - the route (`/grpc`, `/session`)
 * @param headers - more request header lines
 * @returns the connection, and the answer's head and body when it was no `101` (the connection then closed)
 */
async function upgrade(
  socket: string,
  path: string,
  headers: string[] = [],
): Promise<{ conn: Socket; refused?: string }> {
  const conn = connect(socket);
  await once(conn, 'connect');
  conn.write(
    [`POST ${path} HTTP/1.1`, 'Host: docker', 'Connection: Upgrade', 'Upgrade: h2c', ...headers, '', ''].join(
      '\r\n',
    ),
  );
  let head = Buffer.alloc(0);
  while (head.indexOf('\r\n\r\n') === -1) {
    const [chunk] = (await once(conn, 'data')) as [Buffer];
    head = Buffer.concat([head, chunk]);
  }
  conn.pause();
  const end = head.indexOf('\r\n\r\n') + 4;
  if (!head.subarray(0, end).toString('latin1').startsWith('HTTP/1.1 101')) {
    conn.destroy();
    return { conn, refused: head.toString('utf8') };
  }
  if (end < head.length) conn.unshift(head.subarray(end));
  return { conn };
}

/**
 * Opens a `/grpc` connection of a Docker API socket (an `Upgrade: h2c` request), for {@link GrpcSession.call}s.
 *
 * @param socket - the Docker API socket (the engine's or a proxy's)
 * @returns the session, or the HTTP answer when the upgrade was refused
 */
export async function grpcSession(socket: string): Promise<GrpcSession | GrpcAnswer> {
  const { conn, refused } = await upgrade(socket, '/grpc');
  if (refused !== undefined) return { status: 'http', message: refused, messages: [] };
  const session = http2.connect('http://docker', { createConnection: () => conn });
  session.on('error', () => {});
  const start = (path: string, headers: Record<string, string | string[]> = {}) =>
    session.request(
      { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers },
      { endStream: false },
    );
  return {
    stream: start,
    async call(path, request, headers = {}) {
      const stream = start(path, headers);
      stream.end(frame(request));
      let meta: http2.IncomingHttpHeaders = {};
      stream.on('response', (h) => {
        meta = { ...meta, ...h };
      });
      stream.on('trailers', (t) => {
        meta = { ...meta, ...t };
      });
      stream.on('error', () => {});
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      await once(stream, 'close');
      const body = Buffer.concat(chunks);
      const messages: Buffer[] = [];
      for (let p = 0; p + 5 <= body.length; ) {
        const n = body.readUInt32BE(p + 1);
        messages.push(body.subarray(p + 5, p + 5 + n));
        p += 5 + n;
      }
      return {
        status: String(meta['grpc-status'] ?? ''),
        message: decodeURIComponent(String(meta['grpc-message'] ?? '')),
        messages,
      };
    },
    close() {
      session.destroy();
      conn.destroy();
    },
  };
}

/**
 * Makes one unary gRPC call over a fresh `/grpc` connection of a Docker API socket.
 *
 * @param socket - the Docker API socket (the engine's or a proxy's)
 * @param path - the method, e.g. `/moby.buildkit.v1.Control/Solve`
 * @param request - the request message
 * @param headers - more request metadata
 */
export async function grpcCall(
  socket: string,
  path: string,
  request: Buffer,
  headers: Record<string, string> = {},
): Promise<GrpcAnswer> {
  const session = await grpcSession(socket);
  if (!('call' in session)) return session;
  try {
    return await session.call(path, request, headers);
  } finally {
    session.close();
  }
}

/** A BuildKit session a test client opened: the engine calls into it, and it records what the engine called. */
export interface OpenSession {
  /** The methods the engine called, other than health checks (each refused as unimplemented). */
  readonly calls: string[];
  close(): void;
}

/**
 * Serves `FileSync/DiffCopy` as fsutil's sender does (`Packet`: type 1, stat 2, id 3, data 4; `Stat`: path 1,
 * mode 2, size 5, modTime 6): every file's stat in path order and an empty stat, then each file the engine asks for
 * (`REQ`) as one `DATA` packet and an empty one, until the engine's `FIN`, answered with a `FIN`. The files' modes
 * and times are fixed, so two sessions that serve the same names and sizes describe the same files.
 */
function serveFiles(stream: http2.ServerHttp2Stream, files: Readonly<Record<string, string>>): void {
  const [STAT, REQ, DATA, FIN] = [0, 1, 2, 3];
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  const names = Object.keys(files).sort();
  for (const name of names) {
    const stat = message(str(1, name), num(2, 0o644), num(5, Buffer.byteLength(files[name]!)), num(6, 1e9));
    stream.write(frame(message(num(1, STAT), raw(2, stat))));
  }
  stream.write(frame(Buffer.alloc(0)));
  let pending = Buffer.alloc(0);
  stream.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
      const packet = pending.subarray(5, 5 + pending.readUInt32BE(1));
      pending = pending.subarray(5 + packet.length);
      const r = new BinaryReader(packet);
      let type = STAT;
      let file = 0;
      while (r.pos < r.len) {
        const [no, wire] = r.tag();
        if (no === 1 && wire === WireType.Varint) type = r.int32();
        else if (no === 3 && wire === WireType.Varint) file = r.uint32();
        else r.skip(wire, no);
      }
      if (type === REQ) {
        stream.write(
          frame(message(num(1, DATA), num(3, file), raw(4, Buffer.from(files[names[file]!] ?? '')))),
        );
        stream.write(frame(message(num(1, DATA), num(3, file))));
      } else if (type === FIN) stream.end(frame(message(num(1, FIN))));
    }
  });
}

/** The methods a session says it serves: the engine calls a session's file sync only when it says so. */
const FILE_SYNC = ['/moby.filesync.v1.FileSync/DiffCopy', '/moby.filesync.v1.FileSync/TarStream'];

/**
 * Opens a BuildKit session on a Docker API socket, as a build client does before its build: over `/session` (an
 * `Upgrade: h2c` request, what the classic `docker build` opened) or over `/grpc`'s `Control/Session` (what
 * buildx opens), with the given id. The engine is the session's gRPC client: it is served here, and every call
 * but the health check is recorded and answered `UNIMPLEMENTED`, unless `files` are given: then the session
 * serves them as the build's local directory (`FileSync/DiffCopy`).
 *
 * @param socket - the Docker API socket (the engine's or a proxy's)
 * @param id - the session id (`X-Docker-Expose-Session-Uuid`)
 * @param via - the endpoint
 * @param files - the files the session serves, by name, if any
 * @returns the session, once the engine has it
 */
export async function openSession(
  socket: string,
  id: string,
  via: 'http' | 'grpc',
  files?: Readonly<Record<string, string>>,
): Promise<OpenSession> {
  const calls: string[] = [];
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    stream.on('error', () => {});
    if (path === '/moby.filesync.v1.FileSync/DiffCopy' && files !== undefined) {
      calls.push(path);
      serveFiles(stream, files);
      return;
    }
    stream.resume();
    if (path === '/grpc.health.v1.Health/Check') {
      // HealthCheckResponse { status: SERVING }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]));
      return;
    }
    calls.push(path);
    stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': '12',
        'grpc-message': 'not served',
      },
      { endStream: true },
    );
  });
  let closeTransport: () => void;
  if (via === 'http') {
    const { conn, refused } = await upgrade(socket, '/session', [
      `X-Docker-Expose-Session-Uuid: ${id}`,
      'X-Docker-Expose-Session-Name: dockhand-test',
      ...FILE_SYNC.map((m) => `X-Docker-Expose-Session-Grpc-Method: ${m}`),
    ]);
    if (refused !== undefined) throw new Error(refused);
    server.emit('connection', conn);
    closeTransport = () => conn.destroy();
  } else {
    const session = await grpcSession(socket);
    if (!('call' in session)) throw new Error(session.message);
    const stream = session.stream('/moby.buildkit.v1.Control/Session', {
      'x-docker-expose-session-uuid': id,
      'x-docker-expose-session-name': 'dockhand-test',
      'x-docker-expose-session-grpc-method': FILE_SYNC,
    });
    // the session's bytes, each chunk a BytesMessage (data 1) each way
    const conn = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, done) {
        stream.write(frame(message(raw(1, chunk))), done);
      },
    });
    let pending = Buffer.alloc(0);
    stream.on('data', (c: Buffer) => {
      pending = Buffer.concat([pending, c]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
        const msg = pending.subarray(5, 5 + pending.readUInt32BE(1));
        pending = pending.subarray(5 + msg.length);
        for (const data of bytesFields(msg, 1)) conn.push(Buffer.from(data));
      }
    });
    stream.on('close', () => conn.destroy());
    server.emit('connection', conn);
    closeTransport = () => session.close();
  }
  // the engine has the session once it has connected to it
  await Promise.race([once(server, 'session'), new Promise((r) => setTimeout(r, 10_000))]);
  await new Promise((r) => setTimeout(r, 200));
  return {
    calls,
    close() {
      closeTransport();
      server.close();
    },
  };
}

/** An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1). */
function hpackInteger(value: number, prefixBits: number): number[] {
  const limit = 2 ** prefixBits - 1;
  if (value < limit) return [value];
  const bytes = [limit];
  for (let rest = value - limit; ; rest = Math.floor(rest / 128)) {
    if (rest < 128) return [...bytes, rest];
    bytes.push((rest % 128) | 0x80);
  }
}

/** An HTTP/2 frame (RFC 9113 §4.1). */
function h2Frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

/**
 * Sends one unary gRPC request on a `/grpc` connection whose HTTP/2 frames are written here, header by header (each
 * an HPACK literal without indexing): what Node's own client refuses to send, such as a single-value header sent
 * twice or `te: Trailers`. The answer is not read; the connection is closed after `ms`.
 *
 * @param socket - the Docker API socket
 * @param path - the method
 * @param headers - the request's headers after the pseudo-headers and `content-type`, in order
 * @param request - the request message
 * @param ms - how long to leave the connection open
 */
export async function handWrittenCall(
  socket: string,
  path: string,
  headers: [string, string][],
  request: Buffer,
  ms = 1000,
): Promise<void> {
  const { conn, refused } = await upgrade(socket, '/grpc');
  if (refused !== undefined) throw new Error(refused);
  conn.on('error', () => {});
  conn.resume();
  const literal = (name: string, value: string) =>
    Buffer.concat([
      Buffer.from([0, ...hpackInteger(name.length, 7)]),
      Buffer.from(name, 'latin1'),
      Buffer.from(hpackInteger(value.length, 7)),
      Buffer.from(value, 'latin1'),
    ]);
  const fields: [string, string][] = [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', 'docker'],
    ['content-type', 'application/grpc'],
    ...headers,
  ];
  const message = Buffer.alloc(5);
  message.writeUInt32BE(request.length, 1);
  conn.write(
    Buffer.concat([
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
      h2Frame(0x4, 0, 0, Buffer.alloc(0)), // SETTINGS
      h2Frame(0x1, 0x4, 1, Buffer.concat(fields.map(([k, v]) => literal(k, v)))), // HEADERS, END_HEADERS
      h2Frame(0x0, 0x1, 1, Buffer.concat([message, request])), // DATA, END_STREAM
    ]),
  );
  await new Promise((r) => setTimeout(r, ms));
  conn.destroy();
}
