// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the builder's ${VAR} substitution in a LABEL is what is tested
import { describe, expect, it } from 'vitest';
import { stampChanges } from './stamp-labels.ts';

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
