import type { Upstream } from '@dockhand/core';
import { refuse } from './errors.ts';
import { refuseIdLikeImageName } from './id-like-name.ts';
import { type ImagePolicy, refuseReserved } from './image-policy.ts';
import { normaliseReference } from './image-reference.ts';
import { carries, type TenantLabel } from './tenant.ts';

/**
 * The names a build stores its image under (`docker build -t`, a BuildKit exporter's `name`), as the tenant
 * boundary gives them: looked up when the build starts, so that a name another tenant's (or a shared) image
 * holds is refused at once, and given by the proxy when the build has ended, checked again then. The engine
 * itself would tag at the end whatever the name was by then: a name that was free at the start and that another
 * tenant built or pulled meanwhile would move to this tenant's image (the other tenant's image losing it).
 */
export interface ExportNames {
  /**
   * Refuses names that another tenant's or a shared image holds, as the engine reads each name
   * (`docker.io/x`, `index.docker.io/library/x` and `x` are one), and more than {@link MAX_EXPORT_NAMES} names.
   *
   * @param names - the names the build asks for
   * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY`
   */
  check(names: readonly string[]): Promise<void>;
  /**
   * Gives a built image its names, each checked again right before it is given (the names before a refused one
   * are kept), once the image is found to carry the tenant's label.
   *
   * @param id - the image the build stored (`sha256:…`)
   * @param names - the names the build asked for
   * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY` when a name is now another's, or the
   *   engine refused a tag
   */
  give(id: string, names: readonly string[]): Promise<void>;
}

/** The most image names one build, commit or import may give (`-t` that often, or a name list that long). */
export const MAX_EXPORT_NAMES = 32;

/**
 * Refuses more than {@link MAX_EXPORT_NAMES} names for one image.
 *
 * @param names - the names a build, commit or import asks for
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY`
 * @example
 * ```ts
 * refuseTooManyNames(query.getAll('t')); // throws for 33 names
 * ```
 */
export function refuseTooManyNames(names: readonly string[]): void {
  if (new Set(names).size > MAX_EXPORT_NAMES)
    throw refuse('DOCKHAND_IMAGE_POLICY', `a build may name at most ${MAX_EXPORT_NAMES} images here`);
}

/**
 * The export names of one tenant's builds ({@link ExportNames}).
 *
 * @param upstream - the engine
 * @param label - the tenant's label: a name its own image holds may move to the new image
 * @param policy - the image policy (`allowChangingShared` lets a build take any name)
 * @returns the checks and the tagging
 * @example
 * ```ts
 * const names = exportNames(ctx.upstream, parseLabel('dockhand.tenant=alice'), {});
 * await names.check(['web:dev']); // before the build
 * await names.give('sha256:…', ['web:dev']); // after it
 * ```
 */
export function exportNames(upstream: Upstream, label: TenantLabel, policy: ImagePolicy): ExportNames {
  const check = async (names: readonly string[], ended?: string): Promise<void> => {
    for (const name of names) {
      refuseReserved(name, policy);
      refuseIdLikeImageName(name);
    }
    refuseTooManyNames(names);
    if (policy.allowChangingShared) return;
    for (const name of new Set(names)) {
      // with its tag: a bare name the engine has no tag of would be read as an id prefix of any image
      const reply = await upstream.request({ path: `/images/${encodeURIComponent(tagged(name))}/json` });
      if (reply.status === 404) {
        await reply.text();
        continue;
      }
      if (reply.status !== 200) {
        await reply.text();
        throw refuse(
          'DOCKHAND_IMAGE_POLICY',
          `the image name ${name} cannot be checked here (HTTP ${reply.status})`,
        );
      }
      const image = await reply.json<{ Config?: { Labels?: Record<string, string> | null } | null }>();
      if (carries(image.Config?.Labels, label)) continue;
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        ended === undefined
          ? `the tag ${name} belongs to an image you did not build; pick another name`
          : `the tag ${name} was given to an image you did not build while yours was being made; your image is ${ended}: tag it with another name`,
      );
    }
  };
  return {
    check: (names) => check(names),
    async give(id, names) {
      refuseTooManyNames(names);
      // the image is the tenant's own build (the engine's answer named it; checked all the same)
      const reply = await upstream.request({ path: `/images/${encodeURIComponent(id)}/json` });
      let labels: Record<string, string> | null | undefined;
      if (reply.status === 200)
        labels = (await reply.json<{ Config?: { Labels?: Record<string, string> | null } | null }>()).Config
          ?.Labels;
      else await reply.text();
      if (!carries(labels, label))
        throw refuse('DOCKHAND_IMAGE_POLICY', `the image ${id} is not one this build made; it gets no name`);
      for (const name of new Set(names)) {
        // each name checked right before it is tagged: checking them all first left the first name unguarded for
        // as long as the others took to look up, which another tenant stretched to 23 s with 100 names on images
        // of large configs (found by review, stop 21)
        await check([name], id);
        const reply = await upstream.request({
          method: 'POST',
          path: `/images/${encodeURIComponent(id)}/tag`,
          query: { repo: name },
        });
        const text = await reply.text();
        if (reply.status !== 201 && reply.status !== 200) {
          let message = text;
          try {
            message = (JSON.parse(text) as { message?: string }).message ?? text;
          } catch {}
          throw refuse('DOCKHAND_IMAGE_POLICY', `the image ${id} could not be tagged ${name}: ${message}`);
        }
      }
    },
  };
}

/** A name as the engine tags it: with `:latest` when it has neither a tag nor a digest. */
function tagged(name: string): string {
  if (name.includes('@')) return name;
  const { name: full, tag } = normaliseReference(name);
  return `${full}:${tag}`;
}
