import { Worker } from "node:worker_threads";

/** A template rendering failed inside the template (`raise_exception`, a bad expression). */
export class TemplateRenderError extends Error {
  override readonly name = "TemplateRenderError";
}

type TemplateResult = { id: number; text: string } | { id: number; error: string };

/**
 * Renders chat templates on one shared worker thread, started on first use and never keeping the
 * process alive, so a conversation of thousands of messages (@huggingface/jinja takes tens of
 * microseconds a message) never holds up the event loop. Jobs run in the order sent.
 */
export class TemplateThread {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { resolve: (text: string) => void; reject: (error: Error) => void }
  >();

  render(source: string, context: Record<string, unknown>): Promise<string> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ id, source, context });
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    // The worker is a script of its own (the same under tsx and once built); it loads the very
    // jinja module this process resolved.
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { jinja: import.meta.resolve("@huggingface/jinja") },
    });
    worker.unref();
    worker.on("message", (result: TemplateResult) => {
      const job = this.pending.get(result.id);
      if (!job) return;
      this.pending.delete(result.id);
      if (this.pending.size === 0) worker.unref();
      if ("error" in result) job.reject(new TemplateRenderError(result.error));
      else job.resolve(result.text);
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const job of this.pending.values()) job.reject(error);
      this.pending.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`The template worker exited (code ${code}).`)));
    this.worker = worker;
    return worker;
  }
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const loaded = import(workerData.jinja);
const templates = new Map();
parentPort.on("message", async (job) => {
  try {
    const { Template } = await loaded;
    let template = templates.get(job.source);
    if (!template) {
      template = new Template(job.source);
      templates.clear(); // one template at a time is the common case; keeps memory flat
      templates.set(job.source, template);
    }
    parentPort.postMessage({ id: job.id, text: template.render(job.context) });
  } catch (error) {
    parentPort.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) });
  }
});
`;

/** One per process: every model's renderer shares it. */
export const templateThread = new TemplateThread();
