/** Where the bytes read go: a socket or any stream whose `writableLength` counts the bytes it still holds. */
export interface ByteSink {
  /** Bytes written to the sink that it has not finished with yet. */
  readonly writableLength: number;
}

/** Sizes for {@link ReadBuffers}. */
export interface ReadBuffersOptions {
  /** The size reads start with, in bytes. Default 16 KiB. */
  readonly first?: number;
  /** The size reads grow to while they fill their buffers, in bytes. Default 256 KiB. */
  readonly max?: number;
  /**
   * Buffers of the `first` size shared between connections: taken from at the first read and given back by
   * {@link ReadBuffers.dispose}, so that many short connections allocate next to nothing.
   */
  readonly spares?: SpareBuffers;
}

/** A bounded stack of first-size read buffers shared by the {@link ReadBuffers} of many connections. */
export class SpareBuffers {
  readonly #buffers: Buffer[] = [];
  readonly #limit: number;

  /** @param limit - the most buffers kept */
  constructor(limit = 256) {
    this.#limit = limit;
  }

  /** @returns a spare buffer of `size` bytes, or `undefined` when there is none */
  take(size: number): Buffer | undefined {
    const buf = this.#buffers.pop();
    return buf?.length === size ? buf : undefined;
  }

  /** @param buf - a buffer nothing reads or writes any more */
  give(buf: Buffer): void {
    if (this.#buffers.length < this.#limit) this.#buffers.push(buf);
  }
}

interface Handed {
  readonly buf: Buffer;
  /** The count of bytes handed to the sink once this buffer's bytes were. */
  readonly end: number;
}

/**
 * Read buffers for a socket's `onread` option that forwards what it reads to one sink: a buffer is read into
 * again only once the sink has finished with every byte it held, learned from the sink's `writableLength`, so
 * a byte stream is copied with no allocation once its buffers exist — no garbage, no fresh pages to fault in.
 * Reads start small and grow (×4, up to `max`) only while they fill their buffers: a long download costs few
 * reads and writes, a short exchange stays small.
 *
 * @example
 * ```ts
 * const buffers = new ReadBuffers(client);
 * const upstream = net.connect({
 *   path: '/var/run/docker.sock',
 *   onread: {
 *     buffer: () => buffers.next(),
 *     callback: (n, buf) => { client.write(buffers.filled(n, buf)); return true; },
 *   },
 * });
 * ```
 */
export class ReadBuffers {
  readonly #sink: ByteSink;
  readonly #first: number;
  readonly #max: number;
  readonly #spares: SpareBuffers | undefined;
  #size: number;
  readonly #free: Buffer[] = [];
  readonly #handed: Handed[] = [];
  /** The buffer the socket reads into next. */
  #lent: Buffer | undefined;
  #total = 0;

  /**
   * @param sink - where every filled buffer's bytes are written
   * @param options - sizes, and a pool shared between connections
   */
  constructor(sink: ByteSink, options: ReadBuffersOptions = {}) {
    this.#sink = sink;
    this.#first = options.first ?? 16 * 1024;
    this.#max = Math.max(options.max ?? 256 * 1024, this.#first);
    this.#spares = options.spares;
    this.#size = this.#first;
  }

  /** @returns the buffer to read into next: one the sink is done with, or a new one */
  next(): Buffer {
    const done = this.#total - this.#sink.writableLength;
    const handed = this.#handed;
    while (handed.length > 0 && handed[0]!.end <= done) this.#free.push(handed.shift()!.buf);
    let buf = this.#free.pop();
    // a buffer from before the reads grew is dropped rather than read into: the next read would fill it
    while (buf !== undefined && buf.length !== this.#size) buf = this.#free.pop();
    if (buf === undefined && this.#size === this.#first) buf = this.#spares?.take(this.#size);
    this.#lent = buf ?? Buffer.allocUnsafeSlow(this.#size);
    return this.#lent;
  }

  /**
   * Records that `n` bytes were read into `buf` and are about to be written to the sink.
   *
   * @param n - the bytes read
   * @param buf - the buffer they were read into (from {@link ReadBuffers.next})
   * @returns the bytes read, for the sink
   */
  filled(n: number, buf: Uint8Array): Buffer {
    const b = buf as Buffer;
    if (b === this.#lent) this.#lent = undefined;
    if (n === b.length && this.#size < this.#max) this.#size = Math.min(this.#size * 4, this.#max);
    this.#total += n;
    this.#handed.push({ buf: b, end: this.#total });
    return b.subarray(0, n);
  }

  /**
   * Records that `n` bytes were read into `buf` and copied out at once instead of being written to the sink:
   * the buffer is free to be read into again, and the sink's count is left as it is.
   *
   * @param n - the bytes read
   * @param buf - the buffer they were read into (from {@link ReadBuffers.next})
   * @returns the bytes read, valid only until the next read
   */
  copied(n: number, buf: Uint8Array): Buffer {
    const b = buf as Buffer;
    if (b === this.#lent) this.#lent = undefined;
    if (n === b.length && this.#size < this.#max) this.#size = Math.min(this.#size * 4, this.#max);
    this.#free.push(b);
    return b.subarray(0, n);
  }

  /** Gives the first-size buffers to the shared spares; call it once both sockets are closed. */
  dispose(): void {
    const spares = this.#spares;
    if (spares === undefined) return;
    for (const buf of this.#free) if (buf.length === this.#first) spares.give(buf);
    for (const { buf } of this.#handed) if (buf.length === this.#first) spares.give(buf);
    if (this.#lent?.length === this.#first) spares.give(this.#lent);
    this.#lent = undefined;
    this.#free.length = 0;
    this.#handed.length = 0;
  }
}
