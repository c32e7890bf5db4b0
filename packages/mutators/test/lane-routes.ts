// Which Engine API routes a pipeline leaves to the core proxy's byte lane: the unit test of the preset and the
// engine test of its instance-volume check ask the same question.
import {
  type Middleware,
  type OperationId,
  type RequestSummary,
  routes,
  untouchedTest,
} from '@dockhand/core';

/**
 * The routes whose plain requests the pipeline would pass to the engine as bytes, past every middleware: each
 * route naming an object by a full id the ownership cache does not know, with no query and no body. A pipeline
 * that declares nothing untouched leaves every route to the lane.
 *
 * @param middleware - the pipeline
 * @returns the operation ids, sorted
 */
export function laneRoutes(middleware: Middleware): string[] {
  const test = untouchedTest(middleware);
  if (test === undefined) return Object.keys(routes).sort();
  return Object.entries(routes)
    .filter(([operation, route]) => {
      const params: Record<string, string> = {};
      for (const m of route.path.matchAll(/\{(\w+)\}/g)) params[m[1]!] = 'a'.repeat(64);
      const request: RequestSummary = {
        method: route.method,
        operation: operation as OperationId,
        params,
        apiVersion: undefined,
        query: new URLSearchParams(),
        bodyLength: 0,
        contentType: undefined,
      };
      return test(request);
    })
    .map(([operation]) => operation)
    .sort();
}
