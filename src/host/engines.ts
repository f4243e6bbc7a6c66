import type { ServeConfig } from "../config/config.js";
import type { Engine } from "../core/engine.js";
import { ModelRouter } from "../core/model-router.js";
import { RemoteEngine } from "../engines/remote/remote-engine.js";

export interface Engines {
  /** What the server answers with: every engine behind one router. */
  router: ModelRouter;
  /** The upstream pools, for /health and the models page. */
  remotes: RemoteEngine[];
}

/**
 * The composition of engines `qiusuo serve`, the tests and the bench share: the local engine (if
 * any) first, so its first model is the default, then one remote engine per upstream pool.
 * Pools start discovering at once; a pool that cannot be reached does not hold the server up.
 */
export function buildEngines(
  config: Pick<ServeConfig, "upstreams" | "upstreamKeys" | "aliases" | "defaultModel">,
  options: { local?: Engine; log?: (line: string) => void } = {},
): Engines {
  const remotes = Object.entries(config.upstreams).map(
    ([name, pool]) =>
      new RemoteEngine({
        name,
        config: pool,
        ...(config.upstreamKeys[name] === undefined ? {} : { apiKey: config.upstreamKeys[name] }),
        ...(options.log ? { log: options.log } : {}),
      }),
  );
  const router = new ModelRouter({
    backends: [
      ...(options.local ? [{ name: "local", engine: options.local }] : []),
      ...remotes.map((remote) => ({ name: remote.name, engine: remote })),
    ],
    aliases: config.aliases,
    ...(config.defaultModel === undefined ? {} : { defaultModel: config.defaultModel }),
  });
  for (const remote of remotes) void remote.start();
  return { router, remotes };
}
