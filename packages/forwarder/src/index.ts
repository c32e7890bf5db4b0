export {
  type ContainerInspect,
  type EndpointSettings,
  type EngineEvent,
  type PortBinding,
  parseDockerHost,
} from './engine.ts';
export { ForwarderError, ForwarderErrorCode } from './errors.ts';
export { createForwarder, type ForwardedPort, type Forwarder, type ForwarderOptions } from './forwarder.ts';
export { createPortRules, type PortRules, type PortRulesOptions, type PortSpec } from './port-rules.ts';
export { type ServeStatusOptions, type StatusServer, serveStatus } from './status-server.ts';
export { type PublishedPort, publishedPorts, type Target, type TargetMode } from './target.ts';
