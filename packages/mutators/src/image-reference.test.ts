import { describe, expect, it } from 'vitest';
import { familiarName, normaliseReference, repositoryOf, repoTag } from './image-reference.ts';

describe('normaliseReference', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox', 'latest', false],
    ['busybox:1.36', 'docker.io/library/busybox', '1.36', true],
    ['dockhand-test/app:1', 'docker.io/dockhand-test/app', '1', true],
    ['localhost:5000/app', 'localhost:5000/app', 'latest', false],
    ['registry.example.com/team/app:v2', 'registry.example.com/team/app', 'v2', true],
    ['localhost/app:x', 'localhost/app', 'x', true],
    ['docker.io/busybox', 'docker.io/library/busybox', 'latest', false],
    ['index.docker.io/library/busybox:1', 'docker.io/library/busybox', '1', true],
    ['index.docker.io/team/app', 'docker.io/team/app', 'latest', false],
    ['Registry/app:1', 'Registry/app', '1', true],
    ['busybox:1@sha256:abc', 'docker.io/library/busybox', '1', true],
  ])('%s', (ref, name, tag, tagged) => {
    expect(normaliseReference(ref)).toEqual({ name, tag, tagged });
  });
});

describe('repositoryOf', () => {
  it.each([
    ['app', 'app'],
    ['app:1', 'app'],
    ['localhost:5000/app', 'localhost:5000/app'],
    ['localhost:5000/app:1', 'localhost:5000/app'],
    ['app@sha256:abc', 'app'],
    ['app:1@sha256:abc', 'app'],
  ])('%s', (name, repo) => {
    expect(repositoryOf(name)).toBe(repo);
  });
});

describe('repoTag', () => {
  it.each([
    ['app', '', 'app:latest'],
    ['app', '2', 'app:2'],
    ['app:1', '', 'app:1'],
    ['app:1', '2', 'app:2'],
    ['localhost:5000/app', '', 'localhost:5000/app:latest'],
  ])('%s with tag %j', (repo, tag, out) => {
    expect(repoTag(repo, tag)).toBe(out);
  });
});

describe('familiarName', () => {
  it.each([
    ['docker.io/library/busybox', 'busybox'],
    ['index.docker.io/library/busybox', 'busybox'],
    ['docker.io/team/app', 'team/app'],
    ['docker.io/library/a/b', 'library/a/b'],
    ['localhost:5000/app', 'localhost:5000/app'],
    ['Docker.io/app', 'Docker.io/app'],
  ])('%s', (name, familiar) => {
    expect(familiarName(name)).toBe(familiar);
  });
});
