import type { FastifyInstance } from "fastify";
import type { ModelPullProgress } from "../../core/engine.js";
import { QiusuoError } from "../../core/errors.js";
import { parseModelPull } from "../../protocol/app/requests.js";
import { sendEventStream } from "../reply-helpers.js";
import { requireAdmin, type AppApiContext } from "./app-api.js";

/** Progress events go out at most this often. */
const PROGRESS_INTERVAL_MS = 250;

type WithId = { Params: { id: string } };

/** The models page: every model with its file facts; pulls, loads, unloads and deletes for admins. */
export function registerModelRoutes(app: FastifyInstance, context: AppApiContext): void {
  const { engine } = context;

  app.get("/models", async () => ({ data: engine.modelDetails?.() ?? engine.listModels() }));

  app.post("/models/pull", async (request, reply) => {
    requireAdmin(context.user(request));
    const manager = managerOf(context);
    const { model } = parseModelPull(request.body);
    const progress = new ProgressFeed();
    // Resolving the name throws at once for an unknown one: a plain 422 before the stream starts.
    const done = manager.pull(model, (update) => progress.push(update));
    done.catch(() => {}); // reported in the stream; a client that left needs no rejection
    const controller = new AbortController();
    reply.raw.on("close", () => controller.abort());
    return sendEventStream(request, reply, pullEvents(done, progress), controller.signal);
  });

  app.post<WithId>("/models/:id/load", async (request) => {
    requireAdmin(context.user(request));
    return { model: await managerOf(context).load(request.params.id) };
  });

  app.post<WithId>("/models/:id/unload", async (request) => {
    requireAdmin(context.user(request));
    return { model: await managerOf(context).unload(request.params.id) };
  });

  // The id must name a registered model: it is looked up, never joined to a path.
  app.delete<WithId>("/models/:id", async (request) => {
    requireAdmin(context.user(request));
    await managerOf(context).remove(request.params.id);
    return { ok: true };
  });
}

function managerOf(context: AppApiContext) {
  if (!context.models) {
    throw new QiusuoError("unavailable", "not_supported", "This server cannot manage models from the app.");
  }
  return context.models;
}

/** The latest progress, handed out no more often than PROGRESS_INTERVAL_MS. */
class ProgressFeed {
  private latest: ModelPullProgress | undefined;
  private wake: (() => void) | undefined;

  push(progress: ModelPullProgress): void {
    this.latest = progress;
    this.wake?.();
  }

  /** Waits until there is news or `until` settles; returns the news, if any. */
  async next(until: Promise<unknown>): Promise<ModelPullProgress | undefined> {
    await new Promise((resolve) => setTimeout(resolve, PROGRESS_INTERVAL_MS));
    if (!this.latest) {
      await Promise.race([new Promise<void>((resolve) => (this.wake = resolve)), until.catch(() => {})]);
      this.wake = undefined;
    }
    const latest = this.latest;
    this.latest = undefined;
    return latest;
  }
}

async function* pullEvents(done: Promise<unknown>, progress: ProgressFeed): AsyncIterable<string> {
  let finished = false;
  void done.then(
    () => (finished = true),
    () => (finished = true),
  );
  while (!finished) {
    const update = await progress.next(done);
    if (update) yield event("progress", update);
  }
  try {
    yield event("done", { model: await done });
  } catch (error) {
    const wire = error instanceof QiusuoError ? error : undefined;
    yield event("error", {
      error: {
        message: wire?.message ?? "The pull failed; see the server log.",
        code: wire?.code ?? "internal_error",
      },
    });
  }
}

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}
