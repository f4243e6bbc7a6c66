import type { FastifyInstance } from "fastify";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prepareAuth } from "../../src/auth/auth-mode.js";
import { Authenticator } from "../../src/auth/authenticator.js";
import { openStore, type Store } from "../../src/store/store.js";
import { ensureFixtureModels, type FixtureModelPaths } from "../fixtures/models.js";
import { LocalEngine, type LocalEngineOptions } from "../../src/engines/local/local-engine.js";
import { LocalModelManager } from "../../src/engines/local/model-manager.js";
import { buildApp, type AppOptions } from "../../src/server/app.js";
import { createMetrics } from "../../src/server/metrics.js";
import { ModelRouter, type RouterBackend } from "../../src/core/model-router.js";

export interface TestServer {
  url: string;
  app: FastifyInstance;
  engine: LocalEngine;
  /** What the server answers with: the local engine and any `upstreams`, behind the router. */
  router: ModelRouter;
  /** The series `/metrics` serves. */
  metrics: ReturnType<typeof createMetrics>;
  store: Store;
  auth: Authenticator;
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
    /** The store to use (closed by the caller); default a fresh SQLite store, closed with the server. */
    store?: Store;
    /** Accounts mode (`--auth`); default local mode. */
    accounts?: boolean;
    /** Upstream pools served beside the local engine (after it; disposed with the server). */
    upstreams?: RouterBackend[];
    /** Admin aliases and the default model, as `--config` gives them. */
    routing?: { aliases?: Record<string, string>; defaultModel?: string };
  } = {},
): Promise<TestServer> {
  const ownStore = options.store === undefined;
  // Where pulls from the app's models page go (nothing can be downloaded in tests).
  const modelDir = mkdtempSync(join(tmpdir(), "qiusuo-models-"));
  const dataDir = ownStore ? mkdtempSync(join(tmpdir(), "qiusuo-server-")) : undefined;
  const store = options.store ?? (await openStore({ dataDir: dataDir! }));
  const auth = new Authenticator(
    store,
    await prepareAuth(store, { host: "127.0.0.1", auth: options.accounts === true }),
  );
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
  const router = new ModelRouter({
    backends: [{ name: "local", engine }, ...(options.upstreams ?? [])],
    ...options.routing,
  });
  const app = await buildApp({
    engine: router,
    store,
    auth,
    models: new LocalModelManager(engine, { dataDir: modelDir }),
    health: router,
    metrics,
    host: "127.0.0.1",
    logLevel: "error",
    ...options.app,
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    engine,
    router,
    metrics,
    store,
    auth,
    fixtures,
    async close() {
      await app.close();
      await router.dispose();
      rmSync(modelDir, { recursive: true, force: true });
      if (ownStore) {
        await store.close();
        rmSync(dataDir!, { recursive: true, force: true });
      }
    },
  };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return readResponse(response);
}

/** A response's status, headers, text, and its JSON when the text is JSON. */
async function readResponse(response: Response) {
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
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

/**
 * Polls `condition` every 10 ms until it holds, or fails naming `what` (a function when what to
 * say is known only at the end, like a process's output).
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting until ${typeof what === "string" ? what : what()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Reads a streamed body until `enough(text so far)` holds or the stream ends; returns the text. */
export async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  enough: (text: string) => boolean,
): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  while (!enough(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return text;
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

/**
 * A browser-like client of the app API: keeps the session cookie and sends the CSRF token on
 * writes, as the web app does.
 */
export class AppClient {
  private cookie: string | undefined;
  csrfToken: string | undefined;

  constructor(readonly url: string) {}

  async request(method: string, path: string, body?: unknown, options: { csrf?: boolean } = {}) {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.cookie) headers.cookie = this.cookie;
    if (this.csrfToken && options.csrf !== false && method !== "GET")
      headers["x-csrf-token"] = this.csrfToken;
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const setCookie = response.headers.get("set-cookie");
    if (setCookie) {
      const pair = setCookie.split(";")[0]!;
      this.cookie = pair.endsWith("=") ? undefined : pair;
    }
    const answer = await readResponse(response);
    if (answer.json && typeof answer.json.csrfToken === "string") this.csrfToken = answer.json.csrfToken;
    return answer;
  }

  /** Logs in (accounts mode) and keeps the session. */
  async login(name: string, password: string) {
    const response = await this.request("POST", "/api/login", { name, password });
    if (response.status !== 200) throw new Error(`login failed: ${response.status} ${response.text}`);
    return response;
  }

  /** Sends a chat message and reads the reply's SSE events (`{event, data}`), to the end. */
  async send(conversationId: string, body: Record<string, unknown>, path?: string) {
    const response = await this.request(
      "POST",
      path ?? `/api/conversations/${conversationId}/messages`,
      body,
    );
    return { status: response.status, events: parseNamedEvents(response.text), json: response.json };
  }
}

/** Named SSE events (`event: x` + `data: {...}`) in order; keep-alive comments dropped. */
export function parseNamedEvents(text: string): Array<{ event: string; data: any }> {
  return text
    .split("\n\n")
    .map((block) => {
      const name = /^event: (.+)$/m.exec(block)?.[1];
      const data = /^data: (.+)$/m.exec(block)?.[1];
      return name && data ? { event: name, data: JSON.parse(data) } : undefined;
    })
    .filter((event): event is { event: string; data: any } => event !== undefined);
}
