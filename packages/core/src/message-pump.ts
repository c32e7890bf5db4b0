import type { FlowControl, ProxyResponse } from './response.ts';

/**
 * Produces the messages of a stream of the pipeline's own, as the client takes them: the `signal` is aborted when
 * the client goes away, so a producer that waits (a poll's timer, a call to the engine) stops at once.
 */
export type MessageProducer = (signal: AbortSignal) => AsyncIterable<unknown>;

/**
 * Writes a producer's messages into a response, one JSON value a line, as fast as the client takes them: it
 * asks for the next message only while the response is not paused, and stops the producer (its iterator's
 * `return()` and the signal) once the client has gone away.
 * @internal
 */
export class MessagePump implements FlowControl {
  #controller = new AbortController();
  #iterator: AsyncIterator<unknown> | undefined;
  #produce: MessageProducer;
  #response: ProxyResponse | undefined;
  #paused = false;
  #running = false;
  #over = false;

  /** @param produce - the producer, started once the response exists */
  constructor(produce: MessageProducer) {
    this.#produce = produce;
  }

  /** The response it writes into, once started. */
  get response(): ProxyResponse | undefined {
    return this.#response;
  }

  /**
   * Starts writing into the response it is the flow control of.
   *
   * @param response - the response, created with this pump as its `flow`
   */
  start(response: ProxyResponse): void {
    this.#response = response;
    try {
      this.#iterator = this.#produce(this.#controller.signal)[Symbol.asyncIterator]();
    } catch (err) {
      this.#fail(err);
      return;
    }
    void this.#run();
  }

  /** The response has as much waiting for the client as it keeps. */
  pause(): void {
    this.#paused = true;
  }

  /** The client took what was waiting. */
  resume(): void {
    this.#paused = false;
    void this.#run();
  }

  /**
   * The client went away: the producer stops.
   *
   * @param reason - why
   */
  abort(reason: Error): void {
    if (this.#over) return;
    this.#over = true;
    this.#controller.abort(reason);
    // (a producer in the middle of a step gets its return() once that step yields)
    this.#iterator?.return?.().catch(() => {});
  }

  async #run(): Promise<void> {
    if (this.#running || this.#over || this.#iterator === undefined) return;
    this.#running = true;
    try {
      while (!this.#paused && !this.#over) {
        const step = await this.#iterator.next();
        if (this.#over) return;
        if (step.done) {
          this.#over = true;
          this.#response!.end();
          return;
        }
        this.#response!.push(Buffer.from(`${JSON.stringify(step.value)}\n`));
      }
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#running = false;
    }
  }

  #fail(err: unknown): void {
    if (this.#over) return;
    this.#over = true;
    this.#controller.abort(err);
    this.#response!.fail(err instanceof Error ? err : new Error(String(err)));
  }
}
