import { RequestThread } from "../../core/job-thread.js";

/** A template rendering failed inside the template (`raise_exception`, a bad expression). */
export class TemplateRenderError extends Error {
  override readonly name = "TemplateRenderError";
}

/**
 * Renders chat templates on one shared worker thread, started on first use and never keeping the
 * process alive, so a conversation of thousands of messages (@huggingface/jinja takes tens of
 * microseconds a message) never holds up the event loop. Jobs run in the order sent.
 */
export class TemplateThread {
  // The worker loads the very jinja module this process resolved.
  private readonly thread = new RequestThread<string>({
    source: WORKER_SOURCE,
    workerData: { jinja: import.meta.resolve("@huggingface/jinja") },
    name: "template",
    errorOf: (message) => new TemplateRenderError(message),
  });

  render(source: string, context: Record<string, unknown>): Promise<string> {
    return this.thread.request({ source, context });
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
    parentPort.postMessage({ id: job.id, result: template.render(job.context) });
  } catch (error) {
    parentPort.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) });
  }
});
`;

/** One per process: every model's renderer shares it. */
export const templateThread = new TemplateThread();
