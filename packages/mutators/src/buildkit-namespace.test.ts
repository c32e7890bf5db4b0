import { describe, expect, it } from 'vitest';
import { bytesFields, entry, frame, message, num, type Part, raw, str, sub } from '../test/protobuf.ts';
import {
  checkSourceLookup,
  namespaceOf,
  scopedRef,
  scopedSession,
  scopeImageLookup,
  scopeStatus,
} from './buildkit-namespace.ts';
import { CONTROL_SOLVE, checkSolve, GATEWAY_SOLVE, rewriteSolve, type SolveRules } from './buildkit-solve.ts';

const namespace = namespaceOf([['dockhand.tenant', 'alice']]);
const rules: SolveRules = { labels: [['dockhand.tenant', 'alice']], allowed: new Set(), namespace };
const strings = (msg: Uint8Array, no: number) => bytesFields(msg, no).map((b) => Buffer.from(b).toString());
// a `pb.Definition` of one source op (`Op.source` 3: identifier 1, attrs 2)
const sourceDefinition = (...attrs: Part[]): Part =>
  sub(2, sub(1, sub(3, str(1, 'local://context'), ...attrs)));
// a `sourcepolicy.Policy` of one CONVERT rule (action 2) that sets attributes (Rules 2: Updates 3: Attrs 2)
const convertPolicy = (...attrs: Part[]): Buffer =>
  message(
    num(1, 1),
    sub(2, num(1, 2), sub(2, str(1, 'docker-image://*')), sub(3, str(1, 'local://x'), ...attrs)),
  );

describe('the names a tenant gives BuildKit, put in its namespace', () => {
  it('prefixes refs and session ids, and refuses those it cannot read one way', () => {
    expect(scopedRef(namespace, 'abc')).toBe(`${namespace}-abc`);
    expect(scopedSession(namespace, 'xyz')).toBe(`${namespace}-xyz`);
    expect(scopedSession(namespace, '')).toBe(`${namespace}-`);
    for (const ref of ['', 'a b', 'a\u00ff', 'x'.repeat(257)])
      expect(() => scopedRef(namespace, ref)).toThrow(/build ref of that form/);
    // the engine looks a session up by what follows its first `:`
    for (const id of ['a:victim', ':victim', 'a\n', 'x'.repeat(257)])
      expect(() => scopedSession(namespace, id)).toThrow(/session id of that form/);
  });

  it("puts a Control/Solve's ref and session in the namespace, one of each, whatever the client sent", () => {
    const out = rewriteSolve(
      frame(message(str(1, 'first'), str(5, 'victim'), str(1, 'r1'), str(6, 'dockerfile.v0'))),
      rules,
    ).subarray(5);
    expect(strings(out, 1)).toEqual([`${namespace}-r1`]);
    expect(strings(out, 5)).toEqual([`${namespace}-victim`]);
    // no session named: the namespace's empty one, not the engine's session of no name
    const none = rewriteSolve(frame(message(str(6, 'dockerfile.v0'))), rules).subarray(5);
    expect(strings(none, 5)).toEqual([`${namespace}-`]);
    expect(strings(none, 1)).toEqual([]);
    expect(() => rewriteSolve(frame(message(str(5, 'a:victim'))), rules)).toThrow(/session id/);
  });

  it("puts a Control/Status's ref in the namespace", () => {
    expect(strings(scopeStatus(message(str(1, 'x'), str(1, 'r1')), namespace), 1)).toEqual([
      `${namespace}-r1`,
    ]);
    expect(() => scopeStatus(message(), namespace)).toThrow(/build ref of that form/);
  });

  it('puts the session an image lookup names in the namespace, and leaves one that names none to its build', () => {
    const lookup = scopeImageLookup(message(str(1, 'busybox'), str(6, 'victim')), namespace);
    expect(strings(lookup, 6)).toEqual([`${namespace}-victim`]);
    const plain = message(str(1, 'busybox'));
    expect(scopeImageLookup(plain, namespace)).toEqual(plain);
    expect(() => scopeImageLookup(message(str(6, 'a:victim')), namespace)).toThrow(/session id of that form/);
  });

  it('refuses LLB and source lookups that name a session outside the namespace', () => {
    const solve = (...parts: Part[]) => checkSolve(message(...parts), CONTROL_SOLVE, rules);
    expect(() => solve(sourceDefinition(entry(2, 'local.session', 'victim')))).toThrow(
      `a build source may use only your own BuildKit sessions (local.session must start with ${namespace}-)`,
    );
    expect(() => solve(sourceDefinition(entry(2, 'oci.session', `${namespace}-a:victim`)))).toThrow(
      /oci\.session/,
    );
    expect(() => solve(sourceDefinition(entry(2, 'local.session', `${namespace}-mine`)))).not.toThrow();
    const source = message(sub(1, str(1, 'local://x'), entry(2, 'local.session', 'victim')));
    expect(() => checkSourceLookup(source, namespace)).toThrow(/only your own BuildKit sessions/);
  });

  it('refuses a local or oci-layout source that names no session: the engine would ask any build running it', () => {
    const solve = (...parts: Part[]) => checkSolve(message(...parts), CONTROL_SOLVE, rules);
    expect(() => solve(sourceDefinition())).toThrow(
      `a local:// source must name its session here (local.session, starting with ${namespace}-)`,
    );
    expect(() => solve(sourceDefinition(entry(2, 'local.sharedkeyhint', 'x')))).toThrow(
      /must name its session/,
    );
    // the last entry of a key is the one the engine reads
    const emptied = sourceDefinition(
      entry(2, 'local.session', `${namespace}-a`),
      entry(2, 'local.session', ''),
    );
    expect(() => solve(emptied)).toThrow(/must name its session/);
    const oci = sub(2, sub(1, sub(3, str(1, 'oci-layout://store/x@sha256:ab'))));
    expect(() => solve(oci)).toThrow(/oci-layout:\/\/ source must name its session here \(oci\.session/);
    const image = sub(2, sub(1, sub(3, str(1, 'docker-image://docker.io/library/busybox:latest'))));
    expect(() => solve(image)).not.toThrow();
    expect(() => checkSourceLookup(message(sub(1, str(1, 'local://x'))), namespace)).toThrow(/must name its/);
  });

  it('refuses client source policies that convert sources, and frontend options that name a session', () => {
    const converting = 'a source policy that converts sources is not allowed here';
    const policy = convertPolicy(entry(2, 'local.session', 'victim'));
    expect(() => checkSolve(message(raw(12, policy)), CONTROL_SOLVE, rules)).toThrow(converting);
    expect(() => checkSolve(message(raw(15, convertPolicy())), GATEWAY_SOLVE, rules)).toThrow(converting);
    expect(() => scopeImageLookup(message(raw(8, convertPolicy())), namespace)).toThrow(converting);
    expect(() => checkSourceLookup(message(raw(8, convertPolicy())), namespace)).toThrow(converting);
    // a policy that only denies narrows what the tenant's own allows
    const deny = message(num(1, 1), sub(2, num(1, 1), sub(2, str(1, 'docker-image://*'))));
    expect(() => checkSolve(message(raw(15, deny)), GATEWAY_SOLVE, rules)).not.toThrow();
    expect(() => checkSolve(message(entry(7, 'local-sessionid:context', 'x')), CONTROL_SOLVE, rules)).toThrow(
      'the frontend option local-sessionid:context is not allowed here',
    );
  });

  it('refuses request fields it does not know, which a newer engine might act on', () => {
    expect(() => checkSolve(message(num(14, 0)), CONTROL_SOLVE, rules)).not.toThrow();
    expect(() => checkSolve(message(str(15, 'session')), CONTROL_SOLVE, rules)).toThrow(
      'a build request field 15 is not known here, so it cannot be checked',
    );
    expect(() => checkSolve(message(num(16, 1)), GATEWAY_SOLVE, rules)).toThrow(/field 16 is not known/);
  });
});
