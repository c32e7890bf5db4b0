// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the builder's ${VAR} substitution in a LABEL is what is tested
import { describe, expect, it } from 'vitest';
import { parseDockerfile } from './dockerfile-parser.ts';
import { refuseLabelInstructions, stampChanges } from './stamp-labels.ts';

const labels = { 'dockhand.tenant': 'alice' };
const stamp = 'LABEL "dockhand.tenant"="alice"';

/** The refusal `stampChanges` throws for `changes`, as `{ code, message }`. */
function refusal(changes: string[]): { code: string; message: string } {
  try {
    stampChanges(changes, labels);
  } catch (e) {
    const { code, message } = e as { code: string; message: string };
    return { code, message };
  }
  throw new Error(`not refused: ${JSON.stringify(changes)}`);
}

describe('stampChanges: the tenant LABEL comes out as the last instruction of its own', () => {
  it.each<[string, string[]]>([
    ['no changes', []],
    ['docker commit --change ENV --change CMD', ['ENV A=1', 'CMD ["x"]']],
    ['a LABEL with a quoted value', ['LABEL description="two words" version=1']],
    ['an ONBUILD trigger', ['ONBUILD COPY --from=busybox /bin/true /t']],
    ['a backslash inside a value', ['ENV P=C:\\x', 'WORKDIR /app']],
    ['a $ outside a LABEL', ['ENV B=$A']],
  ])('%s: kept, the stamp appended', (_w, changes) => {
    expect(stampChanges(changes, labels)).toEqual([...changes, stamp]);
  });

  it.each<[string, string[]]>([
    ['a trailing escape character (the stamp would continue it)', ['ENV SWALLOW=\\']],
    ['a trailing escape character before spaces', ['ENV SWALLOW=\\  \t']],
    ['a trailing escape character, not last', ['ENV SWALLOW=\\', 'CMD ["x"]']],
    ['an escape directive and a trailing backtick', ['# escape=`', 'ENV S=`']],
    ['a trailing backtick alone', ['ENV S=`']],
    ['a parser directive after spaces', ['  # escape=`', 'ENV A=1']],
    ['a directive after a no-break space (Go trims it)', ['\u00a0# escape=`', 'ENV S=`']],
    ['a directive after a byte-order mark', ['\ufeff# escape=`', 'ENV S=`']],
    ['a comment', ['#x']],
    ['an empty change', ['']],
    ['a line break', ['ENV A=1\nENV B=2']],
    ['a carriage return', ['ENV A=1\rENV B=2']],
    ['a heredoc in a trigger (its body would take the stamp)', ['ONBUILD RUN <<EOF']],
  ])('%s: refused', (_w, changes) => {
    expect(refusal(changes)).toEqual({
      code: 'DOCKHAND_LABEL_SPOOF',
      message: expect.stringMatching(
        /set by the workshop, after your changes: each change must be one instruction/,
      ),
    });
  });

  it.each<[string, string]>([
    ['plain', 'LABEL dockhand.tenant=bob'],
    ['split by quotes', 'LABEL "dockhand.tena"nt="bob"'],
    ['single quotes', "LABEL 'dockhand.tenant'=bob"],
    ['an escaped character', 'LABEL dockhand\\.tenant=bob'],
    ['in capitals', 'LABEL Dockhand.Tenant=bob'],
    ['in a trigger', 'ONBUILD LABEL dockhand.tenant=bob'],
    ['through an ENV a LABEL could read', 'ENV K=dockhand.tenant'],
  ])('a change naming the key (%s): refused', (_w, change) => {
    expect(refusal([change])).toEqual({
      code: 'DOCKHAND_LABEL_SPOOF',
      message: 'the label dockhand.tenant is set by the workshop and cannot be changed',
    });
  });

  it.each(['LABEL $K=bob', 'LABEL ${K}=bob', 'ONBUILD LABEL ${K:-x}=bob', 'label a=$B'])(
    'a LABEL with a variable (%s): refused',
    (change) => {
      expect(refusal([change]).message).toMatch(/cannot use variables/);
    },
  );
});

describe('refuseLabelInstructions: no Dockerfile LABEL sets a workshop key', () => {
  const keys = ['dockhand.tenant'];
  /** The refusal for a Dockerfile (its text, ASCII), as `{ code, status, message }`; `undefined` when allowed. */
  const verdict = (dockerfile: string) => {
    try {
      refuseLabelInstructions(parseDockerfile(dockerfile), keys);
    } catch (e) {
      const { code, status, message } = e as { code: string; status: number; message: string };
      return { code, status, message };
    }
    return undefined;
  };

  it.each<[string, string]>([
    ['plain', 'LABEL dockhand.tenant=bob'],
    ['quoted', 'LABEL "dockhand.tenant"="bob"'],
    ['split by quotes', 'LABEL "dockhand.tena"nt=bob'],
    ['single quotes', "LABEL 'dockhand.tenant'=bob"],
    ['an escaped character', 'LABEL dockhand\\.tenant=bob'],
    ['a backtick', 'LABEL dockhand.ten`ant=bob'],
    ['in capitals', 'LABEL Dockhand.TENANT=bob'],
    ['a lower-case keyword', 'label dockhand.tenant=bob'],
    ['the second pair', 'LABEL version=1 dockhand.tenant=bob'],
    ['the legacy form (key value)', 'LABEL dockhand.tenant bob'],
    ['a line continuation', 'LABEL dockhand.\\\n# a comment\ntenant=bob'],
    ['a trigger', 'ONBUILD LABEL dockhand.tenant=bob'],
    ['a trigger in capitals and quotes', 'onbuild label "Dockhand.Tenant"=bob'],
  ])('a LABEL naming the key (%s): refused', (_w, instruction) => {
    expect(verdict(`FROM busybox\n${instruction}\nRUN true\n`)).toEqual({
      code: 'DOCKHAND_LABEL_SPOOF',
      status: 403,
      message: 'the label dockhand.tenant is set by the workshop; a LABEL instruction cannot set it',
    });
  });

  it('refuses such a LABEL in an earlier stage too, whose images get no labels of the build', () => {
    expect(
      verdict('FROM busybox AS a\nLABEL dockhand.tenant=bob\nFROM busybox\nCOPY --from=a / /\n'),
    ).toEqual(expect.objectContaining({ code: 'DOCKHAND_LABEL_SPOOF' }));
  });

  it.each([
    'LABEL $K=bob',
    'LABEL ${K}=bob',
    'LABEL x$K=bob',
    'LABEL "$K"=bob',
    'LABEL version=1 ${K:-x}=bob',
    'LABEL $K bob',
    'ONBUILD LABEL $K=bob',
  ])('a LABEL whose key is a variable (%s): refused', (instruction) => {
    expect(verdict(`FROM busybox\nARG K=dockhand.tenant\n${instruction}\n`)).toEqual({
      code: 'DOCKHAND_LABEL_SPOOF',
      status: 403,
      message: 'the label dockhand.tenant is set by the workshop; a LABEL key cannot be a variable ($)',
    });
  });

  it.each([
    'LABEL version=$V description="x"',
    'LABEL description="two words" version=1',
    'LABEL org.opencontainers.image.source=${SRC} com.example.tenant=bob',
    'LABEL maintainer $NAME',
    'ONBUILD LABEL version=$V',
    'ENV K=dockhand.tenant',
    'RUN echo dockhand.tenant $K',
    'ONBUILD RUN echo dockhand.tenant',
  ])('%s: allowed', (instruction) => {
    expect(verdict(`FROM busybox\n${instruction}\n`)).toBeUndefined();
  });

  it('finds a key with letters outside ASCII, in any case', () => {
    // the Dockerfile as the parser reads it: UTF-8 bytes, one character per byte
    const latin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
    for (const spelled of ['tenänt', 'tenÄnt'])
      expect(() =>
        refuseLabelInstructions(parseDockerfile(latin1(`FROM busybox\nLABEL dockhand.${spelled}=bob\n`)), [
          'dockhand.tenänt',
        ]),
      ).toThrow(/a LABEL instruction cannot set it/);
  });

  it('looks for every key given, and none when given none', () => {
    const dockerfile = parseDockerfile('FROM busybox\nLABEL workshop.seat=3\n');
    expect(() => refuseLabelInstructions(dockerfile, ['dockhand.tenant', 'workshop.seat'])).toThrow(
      'the label dockhand.tenant, workshop.seat is set by the workshop; a LABEL instruction cannot set it',
    );
    expect(() => refuseLabelInstructions(dockerfile, ['dockhand.tenant'])).not.toThrow();
    // the triggers of an image built from, as parsed
    expect(() =>
      refuseLabelInstructions(
        [{ keyword: 'onbuild', flags: [], args: 'LABEL workshop.seat=3' }],
        ['workshop.seat'],
      ),
    ).toThrow(/a LABEL instruction cannot set it/);
  });
});
