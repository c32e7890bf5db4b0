export { Context, type HijackHandler } from './context.ts';
export { EngineIdentity } from './engine-identity.ts';
export { type CoreErrorCode, coreError, coreErrorCodes, DockhandError, toErrorResponse } from './errors.ts';
export { HeaderList } from './headers.ts';
export { assertUnambiguousJson, jsonAmbiguity } from './json-ambiguity.ts';
export type { JsonLineFlush, JsonLineTransform } from './json-lines.ts';
export { logRequests } from './log-requests.ts';
export type { MessageProducer } from './message-pump.ts';
export {
  compose,
  type Middleware,
  on,
  type RequestSummary,
  type RouteSelector,
  routesOf,
  type UntouchedTest,
  untouchedTest,
  untouchedWhen,
  when,
} from './middleware.ts';
export { createProxy, type DockerProxy, type ListenTarget, type ProxyOptions } from './proxy.ts';
export { type ByteSink, ReadBuffers, type ReadBuffersOptions, SpareBuffers } from './read-buffers.ts';
export { ProxyRequest } from './request.ts';
export { ProxyResponse } from './response.ts';
export { buildPath, type ResolvedPath, resolvePath } from './router.ts';
export {
  type OperationId,
  operationIds,
  type ParamNames,
  type RouteParams,
  type RouteSpec,
  routes,
} from './routes.ts';
export {
  createUpstreamPool,
  parseDockerHost,
  Upstream,
  type UpstreamAddress,
  type UpstreamReply,
  type UpstreamRequest,
} from './upstream.ts';
