import { DockhandError } from '@dockhand/core';
import { describe, expect, it } from 'vitest';
import { saveNotFound } from './errors.ts';

describe('saveNotFound: a save of an image the tenant may not see, in the words of a save of a missing one', () => {
  it.each([
    'web:1',
    'a/b:2',
    'docker.io/library/web:latest',
    'localhost:5000/web:1',
    `x@sha256:${'a'.repeat(64)}`,
    `localhost:5000/web@sha256:${'b'.repeat(64)}`,
  ])('%s, a name with a tag or a digest: reference does not exist', (ref) => {
    const error = saveNotFound(ref);
    expect(error).toBeInstanceOf(DockhandError);
    expect(error).toMatchObject({
      code: 'DOCKHAND_NOT_FOUND',
      status: 404,
      message: 'reference does not exist',
    });
  });

  it.each([
    // a bare name, or an id prefix: the reference as given
    'web',
    'a/b',
    '3f',
    // `sha256:` and a prefix is an id prefix to the save, not a tag of a repository `sha256`
    'sha256:3f',
    // the colon of a registry's port comes before the last slash: a bare name
    'localhost:5000/web',
    '[::1]:5000/team/web',
  ])('%s, a bare name or an id prefix: No such image, the reference as given', (ref) => {
    expect(saveNotFound(ref)).toMatchObject({
      code: 'DOCKHAND_NOT_FOUND',
      status: 404,
      message: `No such image: ${ref}`,
    });
  });
});
