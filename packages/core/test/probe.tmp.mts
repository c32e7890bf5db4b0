import { execFileSync } from 'node:child_process';
import { startProxy } from '/work/main/packages/core/test/harness.ts';

const p = await startProxy();
for (const path of [
  '/v1.45/containers/json',
  '//containers/json',
  '/containers/json/',
  '/networks/',
  '/v1.45/nope',
  '/containers/json//',
]) {
  for (const s of [p.socket, '/var/run/docker.sock']) {
    const out = execFileSync('curl', [
      '-s',
      '-D-',
      '-o',
      '/dev/null',
      '--path-as-is',
      '--unix-socket',
      s,
      'http://d' + path,
    ])
      .toString()
      .split('\r\n')
      .filter((l) => /^HTTP|^Location|^Content-Type/i.test(l))
      .join(' | ');
    console.log(path, s === p.socket ? 'proxy ' : 'daemon', out);
  }
}
console.log(
  execFileSync('curl', [
    '-si',
    '--unix-socket',
    p.socket,
    '-H',
    'Upgrade: tcp',
    '-H',
    'Connection: Upgrade',
    'http://d/containers/json',
  ]).toString(),
);
await p[Symbol.asyncDispose]();
