import type { Upstream } from '@dockhand/core';
import { refuse } from './errors.ts';
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
   * (`docker.io/x`, `index.docker.io/library/x` and `x` are one).
   *
   * @param names - the names the build asks for
   * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY`
   */
  check(names: readonly string[]): Promise<void>;
  /**
   * Gives a built image its names, after checking every one of them again (none is given if one is refused) and
   * that the image carries the tenant's label.
   *
   * @param id - the image the build stored (`sha256:…`)
   * @param names - the names the build asked for
   * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY` when a name is now another's, or the
   *   engine refused a tag
   */
  give(id: string, names: readonly string[]): Promise<void>;
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
    for (const name of names) refuseReserved(name, policy);
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
      // the image is the tenant's own build (the engine's answer named it; checked all the same)
      const reply = await upstream.request({ path: `/images/${encodeURIComponent(id)}/json` });
      let labels: Record<string, string> | null | undefined;
      if (reply.status === 200)
        labels = (await reply.json<{ Config?: { Labels?: Record<string, string> | null } | null }>()).Config
          ?.Labels;
      else await reply.text();
      if (!carries(labels, label))
        throw refuse('DOCKHAND_IMAGE_POLICY', `the image ${id} is not one this build made; it gets no name`);
      await check(names, id);
      for (const name of new Set(names)) {
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
