import { WireType } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { entry, message, num, type Part, str, sub } from '../test/protobuf.ts';
import { withoutMapKey } from './protobuf-wire.ts';

describe('withoutMapKey', () => {
  it('removes every entry under the key, and keeps the rest byte for byte', () => {
    const out = withoutMapKey(
      message(
        str(1, 'name'),
        entry(4, 'name', 'a:1'),
        entry(4, 'unpack', 'true'),
        entry(5, 'name', 'other-map'),
        entry(4, 'name', 'b:1'),
        num(6, 3),
      ),
      4,
      'name',
    );
    expect(out).toEqual(
      message(str(1, 'name'), entry(4, 'unpack', 'true'), entry(5, 'name', 'other-map'), num(6, 3)),
    );
  });

  it('leaves a message without the key as it is', () => {
    const msg = message(entry(4, 'names', 'a'), entry(4, 'Name', 'b'), entry(4, '', 'c'), str(3, 'name'));
    expect(withoutMapKey(msg, 4, 'name')).toEqual(msg);
    expect(withoutMapKey(new Uint8Array(), 4, 'name')).toEqual(Buffer.alloc(0));
  });

  it('keeps a field of that number that is not length-delimited: it is no map entry', () => {
    const fixed: Part = (w) => w.tag(4, WireType.Bit64).fixed64(7n);
    const msg = message(num(4, 1), fixed, entry(4, 'name', 'a'));
    expect(withoutMapKey(msg, 4, 'name')).toEqual(message(num(4, 1), fixed));
  });

  it('reads the key as the receiver does: the last key field of an entry wins, the value may be missing', () => {
    const msg = message(
      sub(4, str(1, 'name'), str(1, 'other'), str(2, 'kept')),
      sub(4, str(1, 'other'), str(1, 'name'), str(2, 'removed')),
      sub(4, str(1, 'name')),
    );
    expect(withoutMapKey(msg, 4, 'name')).toEqual(
      message(sub(4, str(1, 'name'), str(1, 'other'), str(2, 'kept'))),
    );
  });

  it('refuses bytes it cannot read', () => {
    expect(() => withoutMapKey(Buffer.from([(4 << 3) | 2, 9, 1]), 4, 'name')).toThrow(/malformed/);
    // a key tagged as a varint, which Go's map decoder reads as a key all the same
    const hidden = message(sub(4, (w) => w.tag(1, WireType.Varint).uint32(4), str(2, 'a')));
    expect(() => withoutMapKey(hidden, 4, 'name')).toThrow(/malformed/);
  });
});
