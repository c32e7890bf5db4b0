import { describe, expect, it } from 'vitest';
import { type ImageFacts, imageVisible } from './image-policy.ts';
import type { TenantLabel } from './tenant.ts';

const alice: TenantLabel = { key: 'dockhand.tenant', value: 'alice' };
const parent = 'sha256:1111111111111111111111111111111111111111111111111111111111111111';
const visible = (image: ImageFacts, policy = {}) => imageVisible(image, alice, policy);

describe('imageVisible', () => {
  it('shows the tenant its own images, tagged or not, with a parent or not', () => {
    expect(visible({ Labels: { 'dockhand.tenant': 'alice' }, RepoTags: ['app:1'] })).toBe(true);
    expect(visible({ Labels: { 'dockhand.tenant': 'alice' }, ParentId: parent, RepoTags: [] })).toBe(true);
    expect(visible({ Labels: { 'dockhand.tenant': 'alice', a: 'b' }, Parent: parent })).toBe(true);
  });

  it("hides another tenant's images, tagged or not, unless the policy shows other tenants'", () => {
    const bobs: ImageFacts[] = [
      { Labels: { 'dockhand.tenant': 'bob' }, RepoTags: ['app:1'] },
      { Labels: { 'dockhand.tenant': 'bob' }, ParentId: parent, RepoTags: ['<none>:<none>'] },
      { Labels: { 'dockhand.tenant': 'Alice' } },
      { Labels: { 'dockhand.tenant': '' } },
    ];
    for (const image of bobs) {
      expect(visible(image)).toBe(false);
      expect(visible(image, { showOtherTenants: false })).toBe(false);
      expect(visible(image, { showOtherTenants: true })).toBe(true);
    }
  });

  it('shows a shared image (no tenant label): one with no parent, or with a tag', () => {
    // pulled or loaded: no parent, whatever its tags
    expect(visible({ Labels: null, ParentId: '', RepoTags: ['busybox:latest'] })).toBe(true);
    expect(visible({ Labels: { maintainer: 'x' }, ParentId: '', RepoTags: [] })).toBe(true);
    expect(visible({ Labels: {}, ParentId: null, RepoTags: null })).toBe(true);
    expect(visible({})).toBe(true);
    // made on this engine (a parent) and tagged: the operator's build, as the list (ParentId) or an inspect
    // (Parent) shows it
    expect(visible({ Labels: null, ParentId: parent, RepoTags: ['tools:1'] })).toBe(true);
    expect(visible({ Labels: null, Parent: parent, RepoTags: ['<none>:<none>', 'tools:1'] })).toBe(true);
  });

  it("hides an untagged image with a parent and no tenant label: a classic build's step or stage", () => {
    for (const tags of [undefined, null, [], ['<none>:<none>']]) {
      expect(visible({ Labels: null, ParentId: parent, RepoTags: tags })).toBe(false);
      expect(visible({ Labels: { 'other.label': 'x' }, Parent: parent, RepoTags: tags })).toBe(false);
    }
    // an empty ParentId with a Parent, or the other way round: a parent all the same
    expect(visible({ Labels: {}, ParentId: '', Parent: parent, RepoTags: [] })).toBe(false);
    expect(visible({ Labels: {}, ParentId: parent, Parent: '', RepoTags: [] })).toBe(false);
  });
});
