import { InvalidRequestError } from "../core/errors.js";
import { JobThread } from "../core/job-thread.js";

/**
 * What one piece from the worker holds at most: about this many bytes of JSON, and this many
 * operations. Taking a piece in (V8's deserialiser, then placing each value) costs the event loop
 * some 10-15 ms a MB of node-dense JSON, so about 1 ms a piece; the young-generation collections
 * that the growing value sets off cost more (10-30 ms each on a busy machine). With pieces of
 * 256 KB the loop's longest stalls were longer, and the whole no faster.
 */
const PIECE_BYTES = 64 * 1024;
const PIECE_OPERATIONS = 1024;
/**
 * A value nested deeper than this is sent container by container: V8's serialiser recurses, and
 * a body may nest 100,000 levels (the readers refuse it later, with a typed error).
 */
const CLONE_DEPTH = 64;

/**
 * A piece is a flat list of triples `[operation, key, value]`, applied in order to the innermost
 * open container (an array, or an object under `key`): SET adds `value`; OPEN_ARRAY and
 * OPEN_OBJECT add an empty container and open it; CLOSE closes the innermost one.
 */
const SET = 0;
const OPEN_ARRAY = 1;
const OPEN_OBJECT = 2;
const CLOSE = 3;

type WorkerReply =
  { id: number; operations: unknown[] } | { id: number; done: true } | { id: number; invalid: string };

interface Job {
  /** The containers open, outermost first; the first holds the whole value. */
  open: unknown[];
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/**
 * Parses large JSON bodies on one shared worker thread, started on first use and never keeping
 * the process alive. `JSON.parse` of a 32 MB import holds a thread for most of a second; here the
 * worker holds it, and hands the value back in pieces the event loop takes one per turn (the
 * worker sends the next piece only once the last has arrived, as Node delivers every message
 * queued on a port in one go). Bodies are parsed one after another, in the order sent.
 */
export class JsonBodyThread {
  private readonly thread = new JobThread<Job, WorkerReply>({
    source: WORKER_SOURCE,
    workerData: { pieceBytes: PIECE_BYTES, pieceOperations: PIECE_OPERATIONS, cloneDepth: CLONE_DEPTH },
    name: "JSON body",
    onReply: (reply, job, worker) => {
      if ("operations" in reply) {
        worker.postMessage({ next: reply.id });
        place(job.open, reply.operations);
        return false;
      }
      if ("done" in reply) job.resolve((job.open[0] as unknown[])[0]);
      // The message is V8's own, as the parser every other route uses gives it (server/app.ts).
      else
        job.reject(
          new InvalidRequestError("invalid_json", `The request body is not valid JSON: ${reply.invalid}.`),
        );
      return true;
    },
  });

  /**
   * The body as `JSON.parse` of its UTF-8 text would give it (undefined for a blank body).
   * Rejects with InvalidRequestError `invalid_json` when it is not JSON.
   */
  parse(body: Buffer): Promise<unknown> {
    return new Promise((resolve, reject) => {
      // A body that owns its memory moves to the worker; one in a shared pool is copied.
      const owns = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.byteLength > 0;
      this.thread.send({ open: [[]], resolve, reject }, { body }, owns ? [body.buffer as ArrayBuffer] : []);
    });
  }
}

/** Applies a piece's operations to the open containers. */
function place(open: unknown[], operations: unknown[]): void {
  for (let index = 0; index < operations.length; index += 3) {
    const operation = operations[index];
    if (operation === CLOSE) {
      open.pop();
      continue;
    }
    const key = operations[index + 1] as string | null;
    const value = operation === SET ? operations[index + 2] : operation === OPEN_ARRAY ? [] : {};
    const container = open[open.length - 1] as unknown[] | Record<string, unknown>;
    if (Array.isArray(container)) container.push(value);
    // JSON.parse makes `__proto__` an own key; assigning it would set the prototype instead.
    else if (key === "__proto__") {
      Object.defineProperty(container, key, { value, writable: true, enumerable: true, configurable: true });
    } else container[key as string] = value;
    if (operation !== SET) open.push(value);
  }
}

// Plain JavaScript, run with `eval`, so it is the same under tsx and once built. It walks the
// parsed value depth first: a value small and shallow enough is sent whole, a larger one is
// opened and its members walked in turn. Every walk keeps its own stack: a body may nest deeply.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { pieceBytes, pieceOperations, cloneDepth } = workerData;
const SET = ${SET}, OPEN_ARRAY = ${OPEN_ARRAY}, OPEN_OBJECT = ${OPEN_OBJECT}, CLOSE = ${CLOSE};
const queue = [];
let running = false;
let nextWanted;

parentPort.on("message", (message) => {
  if ("next" in message) {
    const wanted = nextWanted;
    nextWanted = undefined;
    if (wanted) wanted();
    return;
  }
  queue.push(message);
  if (!running) void run();
});

async function run() {
  running = true;
  while (queue.length > 0) {
    const { id, body } = queue.shift();
    let value;
    try {
      const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8");
      value = text.trim().length === 0 ? undefined : JSON.parse(text);
    } catch (error) {
      parentPort.postMessage({ id, invalid: error instanceof Error ? error.message : String(error) });
      continue;
    }
    await send(id, value);
    parentPort.postMessage({ id, done: true });
  }
  running = false;
}

/** A scalar's size in JSON, near enough. */
function scalarBytes(value) {
  return typeof value === "string" ? value.length + 2 : 6;
}

/** The value's size in JSON, near enough; undefined past limit bytes or cloneDepth levels. */
function measure(root, limit) {
  if (root === null || typeof root !== "object") return scalarBytes(root);
  let total = 0;
  const stack = [root, 1];
  while (stack.length > 0) {
    const depth = stack.pop();
    const value = stack.pop();
    if (depth > cloneDepth) return undefined;
    total += 2;
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        const item = value[index];
        if (item !== null && typeof item === "object") stack.push(item, depth + 1);
        else total += scalarBytes(item);
        if (++total > limit) return undefined;
      }
    } else {
      for (const key in value) {
        const item = value[key];
        total += key.length + 3;
        if (item !== null && typeof item === "object") stack.push(item, depth + 1);
        else total += scalarBytes(item);
        if (total > limit) return undefined;
      }
    }
  }
  return total;
}

async function send(id, root) {
  let operations = [];
  let bytes = 0;
  const flush = async () => {
    const wanted = new Promise((resolve) => (nextWanted = resolve));
    parentPort.postMessage({ id, operations });
    operations = [];
    bytes = 0;
    await wanted;
  };
  const frames = [];
  let key = null;
  let value = root;
  for (;;) {
    // Place value under key in the open container, whole or opened.
    let operation = SET;
    let size = measure(value, pieceBytes);
    if (size === undefined) {
      const keys = Array.isArray(value) ? undefined : Object.keys(value);
      frames.push({ value, keys, index: 0, length: keys ? keys.length : value.length });
      operation = keys ? OPEN_OBJECT : OPEN_ARRAY;
      size = 2;
    }
    if (bytes + size > pieceBytes || operations.length >= pieceOperations * 3) await flush();
    operations.push(operation, key, operation === SET ? value : undefined);
    bytes += size;
    // Then the next value to place: the open container's next member, once every full one is closed.
    let frame = frames[frames.length - 1];
    while (frame && frame.index === frame.length) {
      frames.pop();
      if (operations.length >= pieceOperations * 3) await flush();
      operations.push(CLOSE, null, undefined);
      frame = frames[frames.length - 1];
    }
    if (!frame) break;
    const index = frame.index++;
    key = frame.keys ? frame.keys[index] : null;
    value = frame.keys ? frame.value[key] : frame.value[index];
  }
  await flush();
}
`;

/** One per process: every large body shares it. */
export const jsonBodyThread = new JsonBodyThread();
