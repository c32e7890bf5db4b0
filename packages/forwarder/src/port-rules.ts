import { ForwarderError, ForwarderErrorCode } from './errors.ts';

/** A port (`8080`) or an inclusive range (`'8000-8999'`). */
export type PortSpec = number | string;

/** Which published ports to forward, and where. */
export interface PortRulesOptions {
  /** Only forward published host ports in these ports/ranges (default, or empty: all). */
  allow?: readonly PortSpec[];
  /** Never forward published host ports in these ports/ranges; wins over `allow`. */
  deny?: readonly PortSpec[];
  /** Listen on `HostPort + portOffset` instead of `HostPort` (default 0). */
  portOffset?: number;
}

/**
 * Decides which published host ports are forwarded and maps each to the local port to listen on.
 *
 * @internal
 */
export interface PortRules {
  /** The local port to listen on for a published host port, or `undefined` when it is not forwarded. */
  localPort(hostPort: number): number | undefined;
}

function parseSpec(spec: PortSpec): [number, number] {
  const text = String(spec).trim();
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const lo = m ? Number(m[1]) : Number.NaN;
  const hi = m?.[2] ? Number(m[2]) : lo;
  if (!(lo >= 1 && hi <= 65535 && lo <= hi)) {
    throw new ForwarderError(
      ForwarderErrorCode.InvalidOption,
      `"${text}" is not a port (1-65535) or a range like 8000-8999`,
    );
  }
  return [lo, hi];
}

/**
 * Builds the port rules from the allowlist, denylist and offset.
 *
 * @param options - allow, deny and portOffset
 * @returns the rules
 * @example
 * ```ts
 * const rules = createPortRules({ allow: ['8000-8999'], deny: [8080], portOffset: 10000 });
 * rules.localPort(8081); // 18081
 * rules.localPort(8080); // undefined
 * ```
 */
export function createPortRules(options: PortRulesOptions = {}): PortRules {
  const allow = options.allow?.length ? options.allow.map(parseSpec) : undefined;
  const deny = (options.deny ?? []).map(parseSpec);
  const offset = options.portOffset ?? 0;
  if (!Number.isInteger(offset) || Math.abs(offset) > 65534) {
    throw new ForwarderError(
      ForwarderErrorCode.InvalidOption,
      `portOffset must be an integer, not ${offset}`,
    );
  }
  const inside = (ranges: [number, number][], p: number) => ranges.some(([lo, hi]) => p >= lo && p <= hi);
  return {
    localPort(hostPort) {
      if (allow && !inside(allow, hostPort)) return undefined;
      if (inside(deny, hostPort)) return undefined;
      const local = hostPort + offset;
      return local >= 1 && local <= 65535 ? local : undefined;
    },
  };
}
