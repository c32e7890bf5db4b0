import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { labelResult } from './buildkit-result.ts';

const labels: [string, string][] = [['dockhand.tenant', 'alice']];
const bytesField = (w: BinaryWriter, no: number, b: Uint8Array) =>
  w.tag(no, WireType.LengthDelimited).bytes(b);
const entry = (key: string, value: string) => {
  const w = new BinaryWriter();
  bytesField(w, 1, Buffer.from(key));
  bytesField(w, 2, Buffer.from(value));
  return w.finish();
};
/** A `ReturnRequest` whose `Result` has a ref and the given metadata entries. */
const returned = (...metadata: [string, string][]) => {
  const result = new BinaryWriter();
  bytesField(result, 3, new BinaryWriter().tag(1, WireType.LengthDelimited).string('ref-id').finish());
  for (const [k, v] of metadata) bytesField(result, 10, entry(k, v));
  return Buffer.from(bytesField(new BinaryWriter(), 1, result.finish()).finish());
};
/** A `ReturnRequest` whose `Result` has refs by platform (field 4) and the given metadata entries. */
const returnedRefs = (...metadata: [string, string][]) => {
  const result = new BinaryWriter();
  // RefMap { refs: { p1: Ref { id: 'ref-id' } } }
  const ref = new BinaryWriter().tag(1, WireType.LengthDelimited).string('ref-id').finish();
  const refs = new BinaryWriter();
  bytesField(refs, 1, bytesField(bytesField(new BinaryWriter(), 1, Buffer.from('p1')), 2, ref).finish());
  bytesField(result, 4, refs.finish());
  for (const [k, v] of metadata) bytesField(result, 10, entry(k, v));
  return Buffer.from(bytesField(new BinaryWriter(), 1, result.finish()).finish());
};
/** The metadata as the receiver decodes it: every `Result` merged, a later entry winning. */
function metadataOf(message: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const r = new BinaryReader(message);
  while (r.pos < r.len) {
    const [f, t] = r.tag();
    if (f !== 1) {
      r.skip(t, f);
      continue;
    }
    const res = new BinaryReader(r.bytes());
    while (res.pos < res.len) {
      const [rf, rt] = res.tag();
      if (rf !== 10) {
        res.skip(rt, rf);
        continue;
      }
      const e = new BinaryReader(res.bytes());
      let k = '';
      let v = '';
      while (e.pos < e.len) {
        const [ef] = e.tag();
        if (ef === 1) k = e.string();
        else v = e.string();
      }
      out.set(k, v);
    }
  }
  return out;
}

describe('labelResult', () => {
  it('sets the tenant label in every image config of a result, over the one the client set', () => {
    const config = JSON.stringify({
      os: 'linux',
      config: { Cmd: ['x'], Labels: { 'dockhand.tenant': 'bob', a: 'b' } },
    });
    const out = metadataOf(
      labelResult(
        returned(
          ['containerimage.config', config],
          ['containerimage.config/linux/amd64', '{}'],
          ['other', 'x'],
        ),
        labels,
        true,
      ),
    );
    expect(JSON.parse(out.get('containerimage.config')!)).toEqual({
      os: 'linux',
      config: { Cmd: ['x'], Labels: { 'dockhand.tenant': 'alice', a: 'b' } },
    });
    expect(JSON.parse(out.get('containerimage.config/linux/amd64')!)).toEqual({
      config: { Labels: { 'dockhand.tenant': 'alice' } },
    });
    expect(out.get('other')).toBe('x');
  });

  it('writes config and Labels once, in their own spelling, whatever spelling the client used', () => {
    const config = JSON.stringify({ CONFIG: { labels: { 'dockhand.tenant': 'bob' } } });
    const out = JSON.parse(
      metadataOf(labelResult(returned(['containerimage.config', config]), labels, true)).get(
        'containerimage.config',
      )!,
    );
    expect(out).toEqual({ config: { Labels: { 'dockhand.tenant': 'alice' } } });
  });

  it('requires the config the exporter reads: containerimage.config, and one per platform the result names', () => {
    // found by review: a config under another key only, and the exporter wrote one without labels
    expect(() => labelResult(returned(['containerimage.config/x', '{}']), labels, true)).toThrow(
      /must return its config here \(containerimage\.config\)/,
    );
    const platforms = JSON.stringify({ Platforms: [{ ID: 'p1', Platform: { os: 'linux' } }] });
    // one ref: the plain key, whatever platforms the result names (as buildx's results do)
    expect(() =>
      labelResult(returned(['containerimage.config', '{}'], ['refs.platforms', platforms]), labels, true),
    ).not.toThrow();
    // refs by platform: the key of each platform named
    expect(() =>
      labelResult(
        returnedRefs(
          ['containerimage.config', '{}'],
          ['refs.platforms', platforms],
          ['containerimage.config/p2', '{}'],
        ),
        labels,
        true,
      ),
    ).toThrow(/\(containerimage\.config\/p1\)/);
    const out = metadataOf(
      labelResult(
        returnedRefs(['refs.platforms', platforms], ['containerimage.config/p1', '{}']),
        labels,
        true,
      ),
    );
    expect(JSON.parse(out.get('containerimage.config/p1')!).config.Labels).toEqual({
      'dockhand.tenant': 'alice',
    });
    for (const bad of [
      'x',
      '{"Platforms":{}}',
      '{"platforms":[],"Platforms":[]}',
      '{"Platforms":[{"ID":1}]}',
    ])
      expect(() => labelResult(returnedRefs(['refs.platforms', bad]), labels, true), bad).toThrow();
  });

  it('requires containerimage.config of a result of no refs by platform (found by review: an empty refs map needed none)', () => {
    const result = new BinaryWriter();
    bytesField(result, 4, new BinaryWriter().finish());
    const empty = Buffer.from(bytesField(new BinaryWriter(), 1, result.finish()).finish());
    expect(() => labelResult(empty, labels, true)).toThrow(/\(containerimage\.config\)/);
    // refs by platform that name no platform
    expect(() => labelResult(returnedRefs(['containerimage.config', '{}']), labels, true)).toThrow(
      /must name its platforms/,
    );
  });

  it('refuses what Go could read otherwise or what it cannot read', () => {
    for (const config of [
      '{"config":{},"Config":{"Labels":{"dockhand.tenant":"bob"}}}',
      '{"config":{"Labels":{},"labels":{"dockhand.tenant":"bob"}}}',
      'not json',
      '[]',
      '{"config":"x"}',
      '{"config":{"Labels":[]}}',
    ])
      expect(() => labelResult(returned(['containerimage.config', config]), labels, true), config).toThrow();
  });

  it('refuses a result without a config for a build that stores an image; leaves one for the client and an error alone', () => {
    expect(() => labelResult(returned(), labels, true)).toThrow(/must return its config/);
    const forTheClient = returned(['other', 'x']);
    expect(labelResult(forTheClient, labels, false)).toEqual(forTheClient);
    const error = Buffer.from(bytesField(new BinaryWriter(), 2, Buffer.from([0x08, 0x02])).finish());
    expect(labelResult(error, labels, true)).toEqual(error);
  });
});
