import { describe, expect, it } from 'vitest';
import {
  dockerfileImages,
  dockerfileRemoteSources,
  onBuildInstructions,
  onBuildReads,
} from './build-context.ts';
import { parseDockerfile, parseInstruction } from './dockerfile-parser.ts';

/** A Dockerfile's bytes as the proxy holds them: one character per byte. */
const bytes = (text: string | Buffer) =>
  (typeof text === 'string' ? Buffer.from(text, 'utf8') : text).toString('latin1');

describe('parseInstruction: flags as the builder reads them (extractBuilderFlags)', () => {
  it.each<[string, string, { name: string; value: string }[], string]>([
    ['plain', 'COPY --from=x / /', [{ name: 'from', value: 'x' }], '/ /'],
    ['quotes inside the name', 'COPY --fr"om"=x / /', [{ name: 'from', value: 'x' }], '/ /'],
    ['an escape inside the name', 'COPY --fr\\om=x / /', [{ name: 'from', value: 'x' }], '/ /'],
    ['a quoted value with a space', "COPY --chown='a b' / /", [{ name: 'chown', value: 'a b' }], '/ /'],
    [
      'byte 0x85 between flags',
      'COPY --chown=0\x85--from=x / /',
      [
        { name: 'chown', value: '0' },
        { name: 'from', value: 'x' },
      ],
      '/ /',
    ],
    [
      'byte 0xa0 between flags',
      'COPY --chown=0\xa0--from=x / /',
      [
        { name: 'chown', value: '0' },
        { name: 'from', value: 'x' },
      ],
      '/ /',
    ],
    ['-- ends the flags', 'COPY -- --from=x /', [], '--from=x /'],
    ['a word not starting with -- ends the flags', 'COPY a --from=x', [], 'a --from=x'],
    ['a flag at the end of the line', 'COPY --from=x', [{ name: 'from', value: 'x' }], ''],
  ])('%s', (_what, line, flags, args) => {
    const ins = parseInstruction(line);
    expect(ins.flags).toEqual(flags);
    expect(ins.args).toBe(args);
  });

  it('splits the instruction at ASCII whitespace only, after trimming Unicode spaces', () => {
    expect(parseInstruction(bytes('\u00a0FROM victim')).keyword).toBe('from');
    // a byte outside ASCII is never a space to the builder: the word is the instruction, which is refused
    expect(() => parseInstruction('FROM\x85x')).toThrow(/outside ASCII/);
  });

  // found by review (stop 26): Go lowercases U+0130 to i and the Kelvin sign to k, so these are instructions there
  it.each(['ONBU\u0130LD RUN <<EOF', 'BUIL\u212a x', 'COPY\u00a0--from=x / /'])(
    'refuses an instruction word with letters outside ASCII (%s)',
    (line) => {
      expect(() => parseInstruction(bytes(line))).toThrow(/outside ASCII/);
    },
  );
});

describe('parseDockerfile: lines as the builder joins them', () => {
  it('drops a byte-order mark, comments and empty lines inside a continued line', () => {
    const list = parseDockerfile(bytes('\ufeffFROM \\\n  # a comment\n\n  busybox\nRUN a\\\nb\n'));
    expect(list.map((i) => [i.keyword, i.args])).toEqual([
      ['from', 'busybox'],
      ['run', 'ab'],
    ]);
  });

  // found by review (stop 26)
  it.each(['FROM x\nRUN a\\\\\nCOPY . .\n', 'FROM x\nRUN a\\\\\\ \t\n', 'FROM x\nRUN a \\\n  b\\\\\n'])(
    'refuses a line that ends in two backslashes, which engines continue or not (%j)',
    (text) => {
      expect(() => parseDockerfile(text)).toThrow(/ends in two backslashes/);
    },
  );

  it('reads a directive whose value holds a carriage return, as Go reads it', () => {
    expect(() => parseDockerfile('# syntax=x\ry\n# escape=`\nFROM x\n')).toThrow(/escape directive/);
  });

  it('refuses an escape directive, also after leading Unicode spaces', () => {
    expect(() => parseDockerfile('# escape=`\nFROM x\n')).toThrow(/escape directive/);
    expect(() => parseDockerfile(bytes('\u00a0# escape=`\nFROM x\n'))).toThrow(/escape directive/);
    expect(() => parseDockerfile('# ESCAPE = `\nFROM x\n')).toThrow(/escape directive/);
    expect(parseDockerfile('# escape=\\\nFROM x\n')).toHaveLength(1);
  });
});

describe('dockerfileImages, found by review (stop 16)', () => {
  it.each([
    ['COPY --fr"om"=<image>', 'FROM busybox\nCOPY --fr"om"=victim /s /s\n', ['busybox', 'victim']],
    ['COPY --fr\\om=<image>', 'FROM busybox\nCOPY --fr\\om=victim /s /s\n', ['busybox', 'victim']],
    [
      'a 0x85 byte before --from',
      'FROM busybox\nCOPY --chown=0\x85--from=victim /s /s\n',
      ['busybox', 'victim'],
    ],
    ['a 0x85 byte after --platform', 'FROM --platform=linux/amd64\x85victim\n', ['victim']],
    [
      'FROM <digits>, an image id prefix and no stage index',
      'FROM busybox\nFROM 230899059\n',
      ['busybox', '230899059'],
    ],
  ])('%s', (_what, dockerfile, images) => {
    expect(dockerfileImages(dockerfile, {})).toEqual(images);
  });

  it('refuses ADD sources the builder would rewrite (quotes, escapes, variables)', () => {
    for (const src of ['h"ttp"://127.0.0.1:9/x', 'h\\ttp://127.0.0.1:9/x', '$U', '$' + '{U}'])
      expect(() => dockerfileRemoteSources(`FROM busybox\nADD ${src} /x\n`)).toThrow(
        /cannot be checked here/,
      );
    expect(dockerfileRemoteSources('FROM busybox\nADD http://127.0.0.1:9/x /x\nADD a /b\n')).toEqual([
      'http://127.0.0.1:9/x',
    ]);
  });

  it('reads each ONBUILD trigger as a Dockerfile of its own, comments and continuations included', () => {
    expect(onBuildReads(onBuildInstructions(['# c\nCOPY --from=victim / /s'])).images).toEqual(['victim']);
    expect(onBuildReads(onBuildInstructions(['COPY \\\n --from=victim / /s'])).images).toEqual(['victim']);
    expect(() => onBuildInstructions(['RUN a\nRUN b'])).toThrow(/not one instruction/);
  });
});

describe('writtenDockerfile', () => {
  it('names the checked ids in FROM, keeping stages, --platform and line numbers', async () => {
    const { dockerfileReads, writtenDockerfile } = await import('./build-context.ts');
    const text =
      'ARG B=busybox\nFROM --platform=linux/amd64 \\\n  $B AS build\nRUN true\nFROM build\nFROM debian:x as Final\n';
    const reads = dockerfileReads(text, {});
    const ids: Record<string, string> = { busybox: 'sha256:aaa', 'debian:x': 'sha256:bbb' };
    const pinned = writtenDockerfile(
      text,
      reads.filter((r) => r.base).map((r) => [r, ids[r.ref]!] as [typeof r, string]),
    );
    expect(pinned.split('\n')).toEqual([
      'ARG B=busybox',
      'FROM --platform=linux/amd64 sha256:aaa AS build',
      '',
      'RUN true',
      'FROM build',
      'FROM sha256:bbb AS Final',
      '',
    ]);
  });

  // found by review (stop 26): the engine's parser read continuations and directives otherwise than the check
  it('writes each instruction as read, on one line: no continuation, comment or directive is left to the engine', async () => {
    const { writtenDockerfile } = await import('./build-context.ts');
    const text = '# syntax=x\nFROM scratch\n  RUN a \\\n# c\n\n   b\nCOPY --from=x \\ \t\n / /\r\nLABEL a=b';
    expect(writtenDockerfile(bytes(text), []).split('\n')).toEqual([
      '',
      'FROM scratch',
      'RUN a    b',
      '',
      '',
      '',
      'COPY --from=x  / /',
      '',
      'LABEL a=b',
    ]);
  });
});

describe('writtenDockerfile: an instruction longer than a line (found by review, stop 27)', () => {
  // the engine refuses a line of more than 65,535 bytes: an instruction continued over many short lines was
  // written joined, and refused, where the engine builds the original
  it('goes on as many lines as it needs, cut between letters or digits, that join back to the text checked', async () => {
    const { writtenDockerfile } = await import('./build-context.ts');
    const words = Array.from({ length: 800 }, (_, i) => `word${i}-${'x'.repeat(90)}`);
    const text = `FROM scratch\n# a comment\nRUN echo \\\n${words.join(' \\\n')}\nLABEL a=b\n`;
    const lines = writtenDockerfile(bytes(text), []).split('\n');
    // (the lines it spanned that it no longer needs are empty, after it)
    const run = lines.slice(2, lines.indexOf('LABEL a=b')).filter((l) => l !== '');
    expect(run.length).toBeGreaterThan(1);
    for (const line of run) expect(line.length).toBeLessThanOrEqual(65_000);
    for (const line of run.slice(0, -1)) expect(line).toMatch(/[A-Za-z0-9]\\$/);
    for (const line of run.slice(1)) expect(line).toMatch(/^[A-Za-z0-9]/);
    // joined as the engine joins them: the instruction as checked
    expect(run.map((l, i) => (i < run.length - 1 ? l.slice(0, -1) : l)).join('')).toBe(
      `RUN echo ${words.join(' ')}`,
    );
    // line numbers stay for what follows
    expect(lines.indexOf('LABEL a=b')).toBe(text.split('\n').indexOf('LABEL a=b'));
  });

  it('refuses one that cannot be cut where the engine joins it back as it was', async () => {
    const { writtenDockerfile } = await import('./build-context.ts');
    const text = `FROM scratch\nRUN ${Array.from({ length: 800 }, () => '- '.repeat(50)).join('\\\n')}\n`;
    expect(() => writtenDockerfile(bytes(text), [])).toThrow(
      /more than 65000 bytes without two letters or digits/,
    );
  });
});

describe('dockerfileImages, found by a second review (stop 16)', () => {
  it.each([
    [
      'a stage naming itself in --from, which the engine reads as an image',
      'FROM busybox AS v\nCOPY --from=v /s /s\n',
      ['busybox', 'v'],
    ],
    [
      'an earlier stage by name and index',
      'FROM busybox AS a\nFROM a\nCOPY --from=a / /\nCOPY --from=0 / /\n',
      ['busybox'],
    ],
    ['a quoted ARG value', 'ARG B="busybox"\nFROM $B\n', ['busybox']],
    ['a quoted space in an ARG, one word to the parser', 'ARG X=v\nARG Z="a X=busybox "\nFROM $X\n', ['v']],
  ])('%s', (_what, dockerfile, images) => {
    expect(dockerfileImages(dockerfile, {})).toEqual(images);
  });

  it.each([
    ['an escaped space in an ARG', 'ARG X=v\nARG Z=a\\ X=busybox\nFROM $X\n'],
    ['a quoted ARG name', 'ARG X=busybox\nARG "X"=v\nFROM $X\n'],
    ['an escaped = in an ARG', 'ARG X=busybox\nARG X\\=v\nFROM $X\n'],
  ])('refuses an ARG the word processing would change: %s', (_what, dockerfile) => {
    expect(() => dockerfileImages(dockerfile, {})).toThrow(/cannot be checked here/);
  });

  it.each([
    ["the current stage's index, which the engine refuses", 'FROM busybox\nCOPY --from=0 / /\n'],
    ['an index past the stages done', 'FROM busybox\nCOPY --from=1 /s /s\n'],
    ['an index beyond int64', 'FROM busybox AS a\nFROM busybox\nCOPY --from=99999999999999999999 /s /s\n'],
    ['a short hex id prefix', 'FROM busybox\nCOPY --from=df /s /s\n'],
    ['a short id prefix in a trigger', 'FROM busybox\nONBUILD COPY --from=sha256:df0 /s /s\n'],
  ])(
    'refuses a --from that reads as an image id prefix (found by a third review, stop 16): %s',
    (_what, dockerfile) => {
      expect(() => dockerfileImages(dockerfile, {})).toThrow(/image id prefix/);
    },
  );

  it('splits ARG words at Unicode spaces, as the parser does', () => {
    expect(dockerfileImages(bytes('ARG X=busybox\nARG Q=1\u00a0X=v\nFROM $X\n'), {})).toEqual(['v']);
  });

  it.each([
    ['RUN <<EOF', 'FROM busybox\nRUN <<EOF\necho\nEOF\n'],
    ["ONBUILD RUN <<'E X\\'", "FROM busybox\nONBUILD RUN <<'E X\\'\nE X\\\nCOPY --from=v /s /s\n"],
    ['COPY <<EOF', 'FROM busybox\nCOPY <<EOF /x\nhi\nEOF\n'],
  ])('refuses a heredoc: %s', (_what, dockerfile) => {
    expect(() => dockerfileImages(dockerfile, {})).toThrow(/heredoc/);
  });
});
