import { readdir, readFile, readlink } from 'node:fs/promises';

/** `/proc/net/tcp{,6}` local addresses (hex, as the kernel prints them) that a bind of `address` collides with. */
function collidingAddresses(address: string): Set<string> | undefined {
  const any4 = '00000000';
  const any6 = '0'.repeat(32);
  if (address === '127.0.0.1') return new Set(['0100007F', any4, any6, '0000000000000000FFFF00000100007F']);
  if (address === '::1') return new Set(['00000000000000000000000001000000', any6]);
  return undefined;
}

/**
 * Names whoever holds a local port in this network namespace, from `/proc/net/*` and `/proc/<pid>/fd`.
 * Processes in another PID namespace (the IDE, when the forwarder is a `network_mode: service:ide`
 * sidecar) cannot be named; they are described as such.
 *
 * @param proto - `tcp` or `udp`
 * @param port - the local port
 * @param address - the loopback address a bind failed on: only sockets that collide with it count (another
 *   process may hold the same port on another address, such as the engine's `docker-proxy` on `127.0.0.2`)
 * @returns a description such as `pid 42 (python3 -m http.server 8080)`
 * @internal
 */
export async function describePortOwner(
  proto: 'tcp' | 'udp',
  port: number,
  address?: string,
): Promise<string> {
  const inodes = new Set<string>();
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const colliding = address === undefined ? undefined : collidingAddresses(address);
  for (const table of [proto, `${proto}6`]) {
    const text = await readFile(`/proc/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      const state = cols[3];
      const inode = cols[9];
      if (!local?.endsWith(`:${hex}`) || !inode || inode === '0') continue;
      if (colliding && !colliding.has(local.slice(0, -5).toUpperCase())) continue;
      if (proto === 'tcp' && state !== '0A') continue; // LISTEN
      inodes.add(inode);
    }
  }
  if (inodes.size === 0) return 'an unknown process in this network namespace';
  const pids = await readdir('/proc').catch(() => [] as string[]);
  for (const pid of pids) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1]!)) {
        const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        return `pid ${pid} (${cmd.split('\0').filter(Boolean).join(' ').slice(0, 120) || '?'})`;
      }
    }
  }
  return 'a process in this network namespace but outside its PID namespace (the IDE, or the engine host)';
}
