import { WireType } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { entry, frame, message, num, type Part, str, stringMap, sub } from '../test/protobuf.ts';
import { namespaceOf } from './buildkit-namespace.ts';
import {
  CONTROL_SOLVE,
  checkSolve,
  GATEWAY_SOLVE,
  rewriteSolve,
  type SolveRules,
  withoutExportNames,
} from './buildkit-solve.ts';

const rules: SolveRules = {
  labels: [['dockhand.tenant', 'alice']],
  allowed: new Set(),
  namespace: namespaceOf([['dockhand.tenant', 'alice']]),
};
const check = (fields = CONTROL_SOLVE, ...parts: Part[]) => checkSolve(message(...parts), fields, rules);

// LLB: an Op (inputs 1, exec 2, source 3, build 5) in a Definition (def 1)
const definition = (...ops: Buffer[]): Part[] =>
  ops.map((op) => (w) => w.tag(1, WireType.LengthDelimited).bytes(op));
const execOp = (...parts: Part[]): Buffer => message(sub(2, ...parts));
// a step's Meta, with the tenant's hostname as the guard gives Dockerfile builds
const meta = (...parts: Part[]): Part =>
  sub(1, str(1, '/bin/sh'), str(3, '/'), str(7, rules.namespace), ...parts);
const cacheMount = (id: string): Part => sub(2, num(1, 0), str(3, '/cache'), num(6, 3), sub(20, str(1, id)));

describe('rewriteSolve', () => {
  it('appends the labels, the cache-mount namespace, the step hostname and cmdline after the client’s own options', () => {
    const out = rewriteSolve(frame(message(str(6, 'dockerfile.v0'), entry(7, 'cmdline', 'x'))), rules);
    expect(out.readUInt32BE(1)).toBe(out.length - 5);
    expect(stringMap(out.subarray(5), 7)).toEqual([
      ['cmdline', 'x'],
      ['label:dockhand.tenant', 'alice'],
      ['build-arg:BUILDKIT_CACHE_MOUNT_NS', rules.namespace],
      ['build-arg:BUILDKIT_SANDBOX_HOSTNAME', rules.namespace],
      ['cmdline', ''],
    ]);
    // custom frontends allowed: no cmdline of the guard's
    const custom = rewriteSolve(frame(message(str(6, 'gateway.v0'))), { ...rules, customFrontends: true });
    expect(stringMap(custom.subarray(5), 7).map(([k]) => k)).toEqual([
      'label:dockhand.tenant',
      'build-arg:BUILDKIT_CACHE_MOUNT_NS',
      'build-arg:BUILDKIT_SANDBOX_HOSTNAME',
    ]);
  });

  it('gives each tenant a cache-mount namespace of its own, with no / in it', () => {
    const bob = namespaceOf([['dockhand.tenant', 'bob']]);
    expect(bob).not.toBe(rules.namespace);
    expect(bob).toMatch(/^dockhand-[0-9a-f]{32}$/);
    expect(namespaceOf([['a', 'b=c']])).not.toBe(namespaceOf([['a=b', 'c']]));
  });

  it('leaves a gateway solve of a bare definition as it is, and gives one that runs a frontend the options', () => {
    const bare = frame(message(...definition(message(str(3, 'llb')))));
    expect(rewriteSolve(bare, rules, GATEWAY_SOLVE)).toEqual(bare);
    const withFrontend = rewriteSolve(frame(message(str(2, 'dockerfile.v0'))), rules, GATEWAY_SOLVE);
    expect(stringMap(withFrontend.subarray(5), 3).map(([k]) => k)).toContain('label:dockhand.tenant');
  });

  it('refuses what it cannot read: compressed, truncated or several messages', () => {
    const msg = message(str(6, 'x'));
    const compressed = frame(msg);
    compressed[0] = 1;
    expect(() => rewriteSolve(compressed, rules)).toThrow(/compressed or malformed/);
    expect(() => rewriteSolve(frame(msg).subarray(0, 6), rules)).toThrow();
    expect(() => rewriteSolve(Buffer.concat([frame(msg), frame(msg)]), rules)).toThrow(
      /more than one message/,
    );
    expect(() => rewriteSolve(frame(Buffer.from([(9 << 3) | 2, 50, 1])), rules)).toThrow(/malformed/);
  });
});

describe('checkSolve', () => {
  it('refuses an entitlement that is not allowed', () => {
    expect(() => check(CONTROL_SOLVE, str(9, 'network.host'))).toThrow(/network\.host is not allowed/);
    expect(
      checkSolve(message(str(9, 'network.host')), CONTROL_SOLVE, {
        ...rules,
        allowed: new Set(['network.host']),
      }),
    ).toEqual({
      registries: [],
      exportNames: [],
      ref: '',
      storesImage: false,
    });
  });

  it('refuses the frontend options that reach outside the sandbox, in either solve', () => {
    expect(() => check(CONTROL_SOLVE, entry(7, 'add-hosts', 'evil=10.9.9.9'))).toThrow(/--add-host/);
    expect(() => check(CONTROL_SOLVE, entry(7, 'cgroup-parent', '/x'))).toThrow(/cgroupparent/);
    expect(() => check(GATEWAY_SOLVE, str(2, 'dockerfile.v0'), entry(3, 'add-hosts', 'a=1.2.3.4'))).toThrow(
      /--add-host/,
    );
    // empty, or another option: left as they are
    expect(() =>
      check(CONTROL_SOLVE, entry(7, 'add-hosts', ''), entry(7, 'build-arg:HOSTS', 'a=1')),
    ).not.toThrow();
  });

  it('runs only the engine’s own Dockerfile frontend, unless custom frontends are allowed', () => {
    expect(() => check(CONTROL_SOLVE, str(6, 'gateway.v0'), entry(7, 'source', 'evil/frontend'))).toThrow(
      /frontend gateway\.v0 is not allowed/,
    );
    expect(() => check(GATEWAY_SOLVE, str(2, 'gateway.v0'))).toThrow(/frontend gateway\.v0/);
    expect(() => check(CONTROL_SOLVE, str(6, 'dockerfile.v0'))).not.toThrow();
    expect(() => check(GATEWAY_SOLVE, str(2, ''))).not.toThrow();
    expect(() =>
      checkSolve(message(str(6, 'gateway.v0')), CONTROL_SOLVE, { ...rules, customFrontends: true }),
    ).not.toThrow();
  });

  it('names the registries of cache exports, in every form, refuses other cache backends and every cache import', () => {
    const cacheEntry = (no: number, type: string, ...attrs: [string, string][]): Part =>
      sub(no, str(1, type), ...attrs.map(([k, v]) => entry(2, k, v)));
    const control = (...parts: Part[]) => check(CONTROL_SOLVE, sub(8, ...parts)).registries;
    expect(control(cacheEntry(4, 'registry', ['ref', 'localhost:5000/out'], ['mode', 'max']))).toEqual([
      'localhost:5000',
    ]);
    expect(control(str(1, 'export.example:1/x'))).toEqual(['export.example:1']);
    expect(control(entry(3, 'ref', '[::1]:5000/x'))).toEqual(['[::1]:5000']);
    expect(control(cacheEntry(4, 'local', ['dest', '/tmp']), cacheEntry(4, 'inline'))).toEqual([]);
    expect(control(cacheEntry(4, 'registry', ['ref', 'busybox-cache:1']))).toEqual(['docker.io']); // Docker Hub
    for (const type of ['gha', 's3', 'azblob', '']) {
      expect(() => control(cacheEntry(4, type, ['url', 'http://127.0.0.1:9/']))).toThrow(/cache backend/);
    }
    // imports, in every form: Imports (5), ImportRefsDeprecated (2); a gateway solve's CacheImports (12) and
    // ImportCacheRefsDeprecated (4)
    const imports = /^build cache imports \(--cache-from\) are not allowed here/;
    expect(() => control(cacheEntry(5, 'registry', ['ref', 'docker.io/library/busybox:latest']))).toThrow(
      imports,
    );
    expect(() => control(cacheEntry(5, 'local', ['src', '/tmp']))).toThrow(imports);
    expect(() => control(str(2, 'import.example:2/y'))).toThrow(imports);
    expect(() => check(GATEWAY_SOLVE, cacheEntry(12, 'registry', ['ref', 'busybox']))).toThrow(imports);
    expect(() => check(GATEWAY_SOLVE, str(4, 'busybox'))).toThrow(imports);
    expect(() => check(GATEWAY_SOLVE, str(4, ''))).not.toThrow();
  });

  it('refuses the cache-imports and cache-from frontend options, read as the Dockerfile frontend reads them', () => {
    const options = (key: string, value: string) => check(CONTROL_SOLVE, entry(7, key, value)).registries;
    const imports = /^build cache imports \(--cache-from\) are not allowed here/;
    expect(() => options('cache-imports', '[{"Type":"registry","Attrs":{"ref":"busybox"}}]')).toThrow(
      imports,
    );
    // Go's decoder reads a null entry as one import of no type
    expect(() => options('cache-imports', '[null]')).toThrow(imports);
    expect(options('cache-imports', 'null')).toEqual([]);
    expect(options('cache-imports', '[]')).toEqual([]);
    expect(() => options('cache-imports', '{')).toThrow(/not valid JSON/);
    expect(() => options('cache-imports', '{"Type":"registry"}')).toThrow(/not a list/);
    expect(() => options('cache-from', 'a.example/x, busybox')).toThrow(imports);
    expect(options('cache-from', '')).toEqual([]);
  });

  it('refuses exporter attributes the exporter would take as the image config (containerimage.*)', () => {
    const exporter = (key: string): Part => sub(13, str(1, 'image'), entry(2, key, '{}'));
    expect(() => check(CONTROL_SOLVE, exporter('containerimage.config'))).toThrow(
      'the exporter attribute containerimage.config is not allowed here',
    );
    expect(() => check(CONTROL_SOLVE, entry(4, 'containerimage.config/linux/amd64', '{}'))).toThrow(
      /exporter attr/,
    );
    expect(() => check(CONTROL_SOLVE, exporter('unpack'))).not.toThrow();
  });

  it('names the registries of exports that push, and every export name', () => {
    const exporter = (...attrs: [string, string][]): Part =>
      sub(13, str(1, 'image'), ...attrs.map(([k, v]) => entry(2, k, v)));
    const pushed = check(
      CONTROL_SOLVE,
      exporter(['name', '127.0.0.1:5000/a:1,b.example/c'], ['push', 'true']),
    );
    expect(pushed).toEqual({
      registries: ['127.0.0.1:5000', 'b.example'],
      exportNames: ['127.0.0.1:5000/a:1', 'b.example/c'],
      ref: '',
      storesImage: true,
    });
    expect(
      check(CONTROL_SOLVE, exporter(['name', '127.0.0.1:5000/a'], ['push', 'false'])).registries,
    ).toEqual([]);
    expect(check(CONTROL_SOLVE, exporter(['name', '127.0.0.1:5000/a'], ['push', 'yes'])).registries).toEqual([
      '127.0.0.1:5000',
    ]);
    // an empty push pushes
    expect(check(CONTROL_SOLVE, exporter(['name', '127.0.0.1:5000/a'], ['push', ''])).registries).toEqual([
      '127.0.0.1:5000',
    ]);
    // the deprecated single exporter's attributes (field 4)
    expect(check(CONTROL_SOLVE, entry(4, 'name', 'localhost:1/x'), entry(4, 'push', '1')).registries).toEqual(
      ['localhost:1'],
    );
  });

  it('refuses a map entry whose key or value is tagged other than length-delimited, which Go reads all the same', () => {
    // value tagged as a varint: Go's map decoder reads a length and "xrxbxcxg" as the value; a reader that
    // follows the wire type sees a varint and more fields
    const value = Buffer.from('xrxbxcxg');
    const hiddenValue: Part = sub(7, str(1, 'cgroup-parent'), (w) =>
      w.tag(2, WireType.Varint).uint32(value.length).raw(value),
    );
    expect(() => check(CONTROL_SOLVE, hiddenValue)).toThrow(/malformed/);
    // key tagged as fixed64 ("\x04name\x18\x80\x00" is 8 bytes), then an unknown varint field
    const hiddenKey: Part = sub(
      4,
      (w) => w.tag(1, WireType.Bit64).raw(Buffer.from([4, ...Buffer.from('name'), 0x18, 0x80, 0x00])),
      str(2, 'busybox:latest'),
    );
    expect(() => check(CONTROL_SOLVE, str(3, 'moby'), hiddenKey)).toThrow(/malformed/);
    // a frontend input whose definition hides behind a varint tag
    const def = message(...definition(execOp(meta(str(10, 'p')))));
    const hiddenInput: Part = sub(10, str(1, 'context'), (w) =>
      w.tag(2, WireType.Varint).uint32(def.length).raw(def),
    );
    expect(() => check(CONTROL_SOLVE, hiddenInput)).toThrow(/malformed|cgroupparent/);
  });

  it('reads enums as Go does: the low 32 bits of the varint', () => {
    const def = (...parts: Part[]) => check(CONTROL_SOLVE, sub(2, ...definition(execOp(meta(), ...parts))));
    const big =
      (no: number, n: bigint): Part =>
      (w) =>
        w.tag(no, WireType.Varint).uint64(n);
    expect(() => def(big(3, 1n + 2n ** 32n))).toThrow(/network\.host/);
    expect(() => def(big(4, 1n + 2n ** 33n))).toThrow(/security\.insecure/);
  });

  it('knows which builds store an image, and refuses one of a definition without a frontend', () => {
    const exporter = (type: string): Part => sub(13, str(1, type), entry(2, 'name', 'x:1'));
    // the ref as the engine will know it: in the tenant's namespace
    expect(check(CONTROL_SOLVE, str(1, 'r1'), exporter('moby'))).toMatchObject({
      ref: `${rules.namespace}-r1`,
      storesImage: true,
    });
    expect(check(CONTROL_SOLVE, exporter('local'), exporter('tar')).storesImage).toBe(false);
    expect(check(CONTROL_SOLVE, str(3, 'moby')).storesImage).toBe(true);
    expect(check(CONTROL_SOLVE, str(3, '')).storesImage).toBe(false);
    const def = sub(2, ...definition(execOp(meta())));
    expect(() => check(CONTROL_SOLVE, def, exporter('moby'))).toThrow(
      /without a frontend cannot be exported/,
    );
    expect(() => check(CONTROL_SOLVE, def, exporter('docker'))).toThrow(/without a frontend/);
    expect(() => check(CONTROL_SOLVE, def, exporter('local'))).not.toThrow();
    expect(() => check(CONTROL_SOLVE, def, str(6, 'dockerfile.v0'), exporter('moby'))).not.toThrow();
    // the engine keeps the last Frontend: named, then none, is none
    expect(() => check(CONTROL_SOLVE, def, str(6, 'dockerfile.v0'), str(6, ''), exporter('moby'))).toThrow(
      /without a frontend/,
    );
    expect(() =>
      check(CONTROL_SOLVE, def, str(6, ''), str(6, 'dockerfile.v0'), exporter('moby')),
    ).not.toThrow();
  });

  it('refuses more than 32 export names, each of which is looked up on the engine', () => {
    const names = (n: number) =>
      sub(13, str(1, 'moby'), entry(2, 'name', Array.from({ length: n }, (_, i) => `x${i}:1`).join(',')));
    expect(check(CONTROL_SOLVE, names(32)).exportNames).toHaveLength(32);
    expect(() => check(CONTROL_SOLVE, names(33))).toThrow(/at most 32 images/);
  });

  it("refuses a build whose exporters its client's session would choose (EnableSessionExporter)", () => {
    expect(() => check(CONTROL_SOLVE, num(14, 1))).toThrow(/EnableSessionExporter/);
    expect(() => check(CONTROL_SOLVE, num(14, 0))).not.toThrow();
  });

  it("refuses a step under a hostname other than the tenant's, which keys the build cache", () => {
    const def = (...metas: Part[]) => check(CONTROL_SOLVE, sub(2, ...definition(message(sub(2, ...metas)))));
    const bare = (...parts: Part[]): Part => sub(1, str(1, '/bin/sh'), ...parts);
    const message_ = `a build step's hostname must be ${rules.namespace} here (it keeps each tenant's build cache its own)`;
    expect(() => def(bare())).toThrow(message_);
    expect(() => def(bare(str(7, namespaceOf([['dockhand.tenant', 'bob']]))))).toThrow(message_);
    expect(() => def(bare(str(7, rules.namespace)))).not.toThrow();
    // the receiver merges the Meta occurrences: the last hostname set is the step's
    expect(() => def(bare(str(7, rules.namespace)), bare(str(7, 'buildkitsandbox')))).toThrow(message_);
    expect(() => def(bare(str(7, 'x')), bare(str(7, rules.namespace)))).not.toThrow();
    expect(() => def(bare(str(7, rules.namespace)), bare())).not.toThrow();
  });

  it('refuses a gateway solve that sets the build result itself (Final, ExporterAttr)', () => {
    expect(() => check(GATEWAY_SOLVE, num(10, 1))).toThrow(/\(Final\) is not allowed/);
    expect(() => check(GATEWAY_SOLVE, str(11, '{}'))).toThrow(/\(Final\) is not allowed/);
    expect(() => check(GATEWAY_SOLVE, num(10, 0), num(5, 1))).not.toThrow();
  });

  it('reads LLB the client built, step by step, in the definition and the frontend inputs', () => {
    const def = (...ops: Buffer[]) => check(CONTROL_SOLVE, sub(2, ...definition(...ops)));
    const source = message(sub(3, str(1, 'docker-image://docker.io/library/busybox:latest')));
    expect(() => def(source, execOp(meta()))).not.toThrow();
    expect(() => def(source, execOp(meta(str(10, 'evil-parent'))))).toThrow(/cgroupparent/);
    // a message field given twice is merged by the receiver: the second Meta's cgroupParent counts
    expect(() => def(execOp(meta(), sub(1, str(10, '/x'))))).toThrow(/cgroupparent/);
    expect(() => def(execOp(meta(sub(6, str(1, 'evil'), str(2, '127.0.0.1')))))).toThrow(/extra hosts/);
    expect(() => def(execOp(meta(), num(3, 1)))).toThrow(/network\.host/);
    expect(() => def(execOp(meta(), num(4, 1)))).toThrow(/security\.insecure/);
    expect(() => def(execOp(meta(), num(3, 2)))).not.toThrow(); // NONE
    expect(() => def(message(sub(5, num(1, 0))))).toThrow(/nested build/);
    expect(() => def(execOp(meta(), cacheMount('/root/.npm')))).toThrow(/cache mount outside your namespace/);
    expect(() => def(execOp(meta(), cacheMount(`${rules.namespace}x/y`)))).toThrow(/outside your namespace/);
    expect(() => def(execOp(meta(), sub(2, num(6, 3))))).toThrow(/outside your namespace/);
    expect(() => def(execOp(meta(), cacheMount(`${rules.namespace}//root/.npm`)))).not.toThrow();
    // frontend inputs (Control 10, gateway 13) and the gateway's definition (1)
    const input = (no: number) =>
      sub(no, str(1, 'context'), sub(2, ...definition(execOp(meta(str(10, 'p'))))));
    expect(() => check(CONTROL_SOLVE, input(10))).toThrow(/cgroupparent/);
    expect(() => check(GATEWAY_SOLVE, input(13))).toThrow(/cgroupparent/);
    expect(() => check(GATEWAY_SOLVE, sub(1, ...definition(execOp(meta(str(10, 'p'))))))).toThrow(
      /cgroupparent/,
    );
  });
});

describe('withoutExportNames', () => {
  /** One of `Exporters` (field 13): its Type (1) and Attrs (map field 2). */
  const exporter = (type: string, ...attrs: [string, string][]): Part =>
    sub(13, str(1, type), ...attrs.map(([k, v]) => entry(2, k, v)));

  it('takes the names out of an image-store exporter, split at commas and trimmed, every other byte kept', () => {
    const out = withoutExportNames(
      message(
        str(1, 'ref-1'),
        str(6, 'dockerfile.v0'),
        entry(7, 'cmdline', 'x'),
        exporter('moby', ['name', ' docker.io/library/app:1 , app:2,,'], ['unpack', 'true']),
        num(14, 0),
      ),
    );
    expect(out.names).toEqual(['docker.io/library/app:1', 'app:2']);
    expect(out.message).toEqual(
      message(
        str(1, 'ref-1'),
        str(6, 'dockerfile.v0'),
        entry(7, 'cmdline', 'x'),
        exporter('moby', ['unpack', 'true']),
        num(14, 0),
      ),
    );
  });

  it('takes every name entry, in order, of every image-store exporter (moby and image)', () => {
    const out = withoutExportNames(
      message(
        exporter('image', ['name', 'a:1'], ['oci-mediatypes', 'true'], ['name', 'b:1,c:1']),
        exporter('moby', ['name', 'd:1']),
      ),
    );
    expect(out.names).toEqual(['a:1', 'b:1', 'c:1', 'd:1']);
    expect(out.message).toEqual(message(exporter('image', ['oci-mediatypes', 'true']), exporter('moby')));
  });

  it('leaves the names of an exporter that pushes (push set to a true value, the last one read)', () => {
    // BuildKit's image exporter reads an empty `push` as true (strconv.ParseBool is not asked)
    for (const push of ['true', '1', 'True', '']) {
      const pushing = message(exporter('image', ['name', 'r.example/a:1'], ['push', push]));
      expect(withoutExportNames(pushing)).toEqual({ message: pushing, names: [] });
    }
    for (const push of ['false', '0']) {
      expect(
        withoutExportNames(message(exporter('image', ['name', 'r.example/a:1'], ['push', push]))),
      ).toEqual({
        message: message(exporter('image', ['push', push])),
        names: ['r.example/a:1'],
      });
    }
    // a later push entry wins, as the receiver decodes the map
    const later = message(exporter('image', ['push', 'true'], ['name', 'a:1'], ['push', 'false']));
    expect(withoutExportNames(later).names).toEqual(['a:1']);
  });

  it('leaves the names of exporters that write to the client (local, tar) and of the others', () => {
    const client = message(
      exporter('local', ['name', 'a:1'], ['dest', '/out']),
      exporter('tar', ['name', 'b:1']),
      exporter('oci', ['name', 'c:1']),
    );
    expect(withoutExportNames(client)).toEqual({ message: client, names: [] });
    // among them, only the image-store exporter's go
    const mixed = withoutExportNames(
      message(exporter('local', ['name', 'a:1']), exporter('moby', ['name', 'd:1'])),
    );
    expect(mixed).toEqual({
      message: message(exporter('local', ['name', 'a:1']), exporter('moby')),
      names: ['d:1'],
    });
  });

  it('handles the deprecated single exporter: its type (field 3, the last read) and attributes (map field 4)', () => {
    const legacy = (...parts: Part[]) => withoutExportNames(message(...parts));
    expect(
      legacy(
        str(3, 'moby'),
        entry(4, 'name', 'a:1, b:1'),
        entry(4, 'unpack', 'true'),
        str(6, 'dockerfile.v0'),
        entry(4, 'name', 'c:1'),
      ),
    ).toEqual({
      message: message(str(3, 'moby'), entry(4, 'unpack', 'true'), str(6, 'dockerfile.v0')),
      names: ['a:1', 'b:1', 'c:1'],
    });
    // the engine reads the last Exporter: local, then moby, is moby; moby, then local, is local
    expect(legacy(str(3, 'local'), str(3, 'moby'), entry(4, 'name', 'a:1')).names).toEqual(['a:1']);
    const local = message(str(3, 'moby'), str(3, 'local'), entry(4, 'name', 'a:1'));
    expect(withoutExportNames(local)).toEqual({ message: local, names: [] });
    const pushing = message(str(3, 'image'), entry(4, 'name', 'r.example/a:1'), entry(4, 'push', 'true'));
    expect(withoutExportNames(pushing)).toEqual({ message: pushing, names: [] });
    // both forms in one request
    expect(legacy(str(3, 'moby'), entry(4, 'name', 'a:1'), exporter('image', ['name', 'b:1']))).toEqual({
      message: message(str(3, 'moby'), exporter('image')),
      names: ['a:1', 'b:1'],
    });
  });

  it('leaves a request without names as it is', () => {
    const none = message(str(6, 'dockerfile.v0'), exporter('moby', ['unpack', 'true']), str(3, 'moby'));
    expect(withoutExportNames(none)).toEqual({ message: none, names: [] });
    expect(withoutExportNames(new Uint8Array())).toEqual({ message: Buffer.alloc(0), names: [] });
  });

  it('refuses bytes it cannot read', () => {
    // an Exporters entry that claims 50 bytes and holds one
    expect(() => withoutExportNames(Buffer.from([(13 << 3) | 2, 50, 1]))).toThrow(/malformed/);
    // an attribute whose key is tagged fixed64, which Go's map decoder reads as the key all the same
    const hiddenKey: Part = sub(
      13,
      str(1, 'moby'),
      sub(2, (w) => w.tag(1, WireType.Bit64).raw(Buffer.from('name\0\0\0\0')), str(2, 'a:1')),
    );
    expect(() => withoutExportNames(message(hiddenKey))).toThrow(/malformed/);
    expect(() =>
      withoutExportNames(
        message(
          str(3, 'moby'),
          sub(4, (w) => w.tag(1, WireType.Varint).uint32(1), str(2, 'a:1')),
        ),
      ),
    ).toThrow(/malformed/);
  });
});
