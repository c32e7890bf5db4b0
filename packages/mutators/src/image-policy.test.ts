import { describe, expect, it } from 'vitest';
import { type ImageFacts, imageVisible } from './image-policy.ts';
import type { TenantLabel } from './tenant.ts';

const alice: TenantLabel = { key: 'dockhand.tenant', value: 'alice' };
const digest = `busybox@sha256:${'1'.repeat(64)}`;
const visible = (image: ImageFacts, policy = {}) => imageVisible(image, alice, policy);

describe('imageVisible', () => {
  it('shows the tenant its own images, named or not', () => {
    expect(visible({ Labels: { 'dockhand.tenant': 'alice' }, RepoTags: ['app:1'] })).toBe(true);
    expect(visible({ Labels: { 'dockhand.tenant': 'alice' }, RepoTags: [] })).toBe(true);
    expect(visible({ Labels: { 'dockhand.tenant': 'alice', a: 'b' } })).toBe(true);
  });

  it("hides another tenant's images, named or not, unless the policy shows other tenants'", () => {
    const bobs: ImageFacts[] = [
      { Labels: { 'dockhand.tenant': 'bob' }, RepoTags: ['app:1'] },
      { Labels: { 'dockhand.tenant': 'bob' }, RepoTags: ['<none>:<none>'], RepoDigests: [digest] },
      { Labels: { 'dockhand.tenant': 'Alice' } },
      { Labels: { 'dockhand.tenant': '' } },
    ];
    for (const image of bobs) {
      expect(visible(image)).toBe(false);
      expect(visible(image, { showOtherTenants: false })).toBe(false);
      expect(visible(image, { showOtherTenants: true })).toBe(true);
    }
  });

  it('shows a shared image (no tenant label) that has a name: a tag, or the digest it was pulled as', () => {
    expect(visible({ Labels: null, RepoTags: ['busybox:latest'] })).toBe(true);
    expect(visible({ Labels: { maintainer: 'x' }, RepoTags: ['<none>:<none>', 'tools:1'] })).toBe(true);
    // a base image whose tag moved on to a newer pull
    expect(visible({ Labels: {}, RepoTags: [], RepoDigests: [digest] })).toBe(true);
  });

  it("hides an image with no tenant label and no name: a classic build's step or stage, FROM scratch too", () => {
    for (const tags of [undefined, null, [], ['<none>:<none>']])
      for (const digests of [undefined, null, [], ['<none>@<none>']]) {
        expect(visible({ Labels: null, RepoTags: tags, RepoDigests: digests })).toBe(false);
        expect(visible({ Labels: { 'other.label': 'x' }, RepoTags: tags, RepoDigests: digests })).toBe(false);
      }
    expect(visible({})).toBe(false);
  });
});
