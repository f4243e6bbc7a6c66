import { Worker, type TransferListItem } from "node:worker_threads";

/** A job sent to a worker: whatever its replies settle, and how to fail it. */
export interface PendingJob {
  reject(error: Error): void;
}

export interface JobThreadSpec<Job extends PendingJob, Reply extends { id: number }> {
  /** The worker's code: plain JavaScript run with `eval`, the same under tsx and once built. */
  source: string;
  workerData?: unknown;
  /** What the worker does, for the error when it dies: "template", "password"... */
  name: string;
  /** Handles one reply to `job`; true when the reply settled it (the job is then forgotten). */
  onReply: (reply: Reply, job: Job, worker: Worker) => boolean;
}

/**
 * One worker thread shared by every caller, started on first use and never keeping the process
 * alive while idle (it is ref'd only while a job is pending). Jobs carry an id; the worker
 * answers each with messages `{ id, ... }`. If the worker dies, every pending job fails and the
 * next job starts a new one.
 */
export class JobThread<Job extends PendingJob, Reply extends { id: number }> {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly jobs = new Map<number, Job>();

  constructor(private readonly spec: JobThreadSpec<Job, Reply>) {}

  /** Sends `message` (with the job's id added) to the worker, `transfer` moved rather than copied. */
  send(job: Job, message: object, transfer: readonly TransferListItem[] = []): void {
    const worker = this.start();
    const id = this.nextId++;
    this.jobs.set(id, job);
    if (this.jobs.size === 1) worker.ref();
    worker.postMessage({ ...message, id }, [...transfer]);
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.spec.source, { eval: true, workerData: this.spec.workerData });
    worker.unref();
    worker.on("message", (reply: Reply) => {
      const job = this.jobs.get(reply.id);
      if (!job || !this.spec.onReply(reply, job, worker)) return;
      this.jobs.delete(reply.id);
      if (this.jobs.size === 0) worker.unref();
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const job of this.jobs.values()) job.reject(error);
      this.jobs.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`The ${this.spec.name} worker exited (code ${code}).`)));
    this.worker = worker;
    return worker;
  }
}

type RequestReply<Result> = { id: number; result: Result } | { id: number; error: string };

/**
 * A job thread whose worker answers each message once, with `{ id, result }` or `{ id, error }`
 * (the error's message, made into an Error by `errorOf`).
 */
export class RequestThread<Result> {
  private readonly thread: JobThread<
    { resolve: (result: Result) => void; reject: (error: Error) => void },
    RequestReply<Result>
  >;

  constructor(spec: {
    source: string;
    workerData?: unknown;
    name: string;
    errorOf?: (message: string) => Error;
  }) {
    const errorOf = spec.errorOf ?? ((message: string) => new Error(message));
    this.thread = new JobThread({
      source: spec.source,
      workerData: spec.workerData,
      name: spec.name,
      onReply: (reply, job) => {
        if ("error" in reply) job.reject(errorOf(reply.error));
        else job.resolve(reply.result);
        return true;
      },
    });
  }

  request(message: object, transfer?: readonly TransferListItem[]): Promise<Result> {
    return new Promise((resolve, reject) => this.thread.send({ resolve, reject }, message, transfer));
  }
}
