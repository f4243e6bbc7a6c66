import type { AddressInfo } from "node:net";
import { ensureFixtureModels, type FixtureModelPaths } from "../fixtures/models.js";
import { LocalEngine, type LocalEngineOptions } from "../../src/engines/local/local-engine.js";
import { buildApp, type AppOptions } from "../../src/server/app.js";
import { createMetrics } from "../../src/server/metrics.js";

export interface TestServer {
  url: string;
  engine: LocalEngine;
  fixtures: FixtureModelPaths;
  close(): Promise<void>;
}

/**
 * Starts the real HTTP server with the real engine on generated GGUF fixtures, bound to an
 * ephemeral loopback port. `models` picks which fixtures to serve, the first being the default;
 * like `qiusuo serve`, the default model is loaded at start unless `preload` is false, and the
 * others load on their first request.
 */
export async function startTestServer(
  options: {
    models?: Array<"scripted" | "tiny" | { file: string }>;
    engine?: Partial<LocalEngineOptions>;
    app?: Partial<AppOptions>;
    preload?: boolean;
  } = {},
): Promise<TestServer> {
  const fixtures = ensureFixtureModels();
  const metrics = createMetrics();
  const engine = new LocalEngine({
    contextSize: 512,
    parallel: 1,
    threads: 1,
    gpu: "off",
    observer: metrics.observer,
    ...options.engine,
  });
  metrics.watch(engine);
  const models = options.models ?? ["scripted"];
  for (const [index, model] of models.entries()) {
    await engine.addModelFile(typeof model === "string" ? fixtures[model] : model.file, [], {
      preload: index === 0 && options.preload !== false,
    });
  }
  const app = await buildApp({
    engine,
    health: engine,
    metrics,
    host: "127.0.0.1",
    logLevel: "error",
    ...options.app,
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    engine,
    fixtures,
    async close() {
      await app.close();
      await engine.dispose();
    },
  };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json: json as Record<string, any> };
}

/** POSTs a JSON body and hands back the raw response, for streams and early aborts. */
export function postStream(url: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

/** Polls `condition` every 10 ms until it holds, or fails naming `what`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Reads an SSE body into its `data:` payloads (parsed JSON, or the raw `[DONE]`). */
export async function readSse(response: Response): Promise<Array<Record<string, any> | "[DONE]">> {
  const text = await response.text();
  return text
    .split("\n\n")
    .filter((block) => block.startsWith("data: "))
    .map((block) => block.slice("data: ".length))
    .map((data) => (data === "[DONE]" ? "[DONE]" : JSON.parse(data)));
}
