import { describe, expect, it } from 'vitest';
import { bytesFields, entry, message, num, str, stringMap, sub } from '../test/protobuf.ts';
import { labelResult } from './buildkit-result.ts';

const labels: [string, string][] = [['dockhand.tenant', 'alice']];
/** A `ReturnRequest` whose `Result` has a ref and the given metadata entries. */
const returned = (...metadata: [string, string][]) =>
  message(sub(1, sub(3, str(1, 'ref-id')), ...metadata.map(([k, v]) => entry(10, k, v))));
/** A `ReturnRequest` whose `Result` has refs by platform (field 4: `RefMap { refs: { p1: Ref { id } } }`). */
const returnedRefs = (...metadata: [string, string][]) =>
  message(
    sub(
      1,
      sub(4, sub(1, str(1, 'p1'), sub(2, str(1, 'ref-id')))),
      ...metadata.map(([k, v]) => entry(10, k, v)),
    ),
  );
/** The metadata as the receiver decodes it: every `Result` merged, a later entry winning. */
const metadataOf = (msg: Uint8Array): Map<string, string> =>
  new Map(bytesFields(msg, 1).flatMap((result) => stringMap(result, 10)));

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

  it('refuses a result that sets its ref more than once, which a decoder may merge where this engine replaces', () => {
    const twice = message(
      sub(
        1,
        sub(3, str(1, 'a')),
        sub(4, sub(1, str(1, 'p1'), sub(2, str(1, 'b')))),
        entry(10, 'containerimage.config', '{}'),
      ),
    );
    expect(() => labelResult(twice, labels, true)).toThrow(/sets its ref more than once/);
    const acrossResults = message(
      sub(1, sub(3, str(1, 'a'))),
      sub(1, sub(3, str(1, 'b')), entry(10, 'containerimage.config', '{}')),
    );
    expect(() => labelResult(acrossResults, labels, true)).toThrow(/sets its ref more than once/);
  });

  it('requires containerimage.config of a result of no refs by platform (found by review: an empty refs map needed none)', () => {
    const empty = message(sub(1, sub(4)));
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
    const error = message(sub(2, num(1, 2)));
    expect(labelResult(error, labels, true)).toEqual(error);
  });
});
