import type { PlainRequestHead } from './http-framing.ts';
import type { RequestSummary } from './middleware.ts';
import type { ResolvedPath } from './router.ts';
import type { OperationId } from './routes.ts';

/**
 * The {@link RequestSummary} of a request on the byte lane: its head's framing and its resolved route, with the
 * query parsed only if a test asks for it.
 *
 * @internal
 */
export class LaneRequest implements RequestSummary {
  readonly method: string;
  readonly operation: OperationId | undefined;
  readonly params: Readonly<Record<string, string>>;
  readonly apiVersion: string | undefined;
  /** The path without its version prefix and query (`/containers/{id}/json`, filled in), for the access log. */
  readonly path: string;
  readonly bodyLength: number;
  readonly contentType: string | undefined;
  /** The head as the lane read it. */
  readonly head: PlainRequestHead;
  /** The resolved path; its `params` are shared by every request with this request line and frozen. */
  readonly resolved: ResolvedPath;
  /** Set by the proxy when the pipeline must see the request (an `untouchedWhen` test said no). */
  toPipeline = false;
  readonly #search: string;
  #query: URLSearchParams | undefined;

  /**
   * @param head - the request head, as the lane read it
   * @param resolved - its route
   * @param search - the query string, without `?`
   */
  constructor(head: PlainRequestHead, resolved: ResolvedPath, search: string) {
    this.method = head.method;
    this.operation = resolved.operation;
    this.params = resolved.params;
    this.apiVersion = resolved.apiVersion;
    this.path = resolved.path;
    this.bodyLength = head.bodyLength;
    this.contentType = head.contentType;
    this.head = head;
    this.resolved = resolved;
    this.#search = search;
  }

  /** The query string, without `?`. */
  get search(): string {
    return this.#search;
  }

  /** The query string, parsed on first use. */
  get query(): URLSearchParams {
    this.#query ??= new URLSearchParams(this.#search);
    return this.#query;
  }
}
