import { describe, expect, it } from 'vitest';
import { EngineIdentity } from './engine-identity.ts';

const engine: Record<string, string> = {
  'api-version': '1.45',
  'content-type': 'application/json',
  'docker-experimental': 'false',
  ostype: 'linux',
  server: 'Docker/26.1.5+dfsg1 (linux)',
};

describe('EngineIdentity', () => {
  it('puts the learned fields among the answer’s own, sorted by name as Go writes them, then Date', () => {
    const identity = new EngineIdentity();
    identity.learn((name) => engine[name]);
    const head = identity.head(['Content-Type', 'application/json']);
    const names = head.filter((_, i) => i % 2 === 0);
    expect(names).toEqual(['Api-Version', 'Content-Type', 'Docker-Experimental', 'Ostype', 'Server', 'Date']);
    expect(head.slice(0, 10)).toEqual([
      'Api-Version',
      '1.45',
      'Content-Type',
      'application/json',
      'Docker-Experimental',
      'false',
      'Ostype',
      'linux',
      'Server',
      'Docker/26.1.5+dfsg1 (linux)',
    ]);
    expect(head[11]).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  });

  it('learns nothing from an answer without Server, and keeps what it knew', () => {
    const identity = new EngineIdentity();
    identity.learn(() => undefined);
    expect(identity.head(['Content-Type', 'application/json']).filter((_, i) => i % 2 === 0)).toEqual([
      'Content-Type',
      'Date',
    ]);
    expect(identity.due).toBe(true);
    identity.learn((name) => engine[name]);
    expect(identity.due).toBe(false);
    identity.learn((name) => (name === 'api-version' ? '9.99' : undefined));
    expect(identity.head([])[1]).toBe('1.45');
  });

  it('leaves out a field the engine did not send', () => {
    const identity = new EngineIdentity();
    identity.learn((name) => (name === 'ostype' ? undefined : engine[name]));
    expect(identity.head([]).filter((_, i) => i % 2 === 0)).toEqual([
      'Api-Version',
      'Docker-Experimental',
      'Server',
      'Date',
    ]);
  });
});
