/**
 * One upstream pool's routing: which replica takes a request, a queue in front when every replica
 * is at its cap, failover before the first token, and the health of each replica (passive
 * ejection after consecutive failures, probes with exponential backoff, active health checks).
 *
 * Pure logic: the pool never speaks HTTP. `dispatch` calls the caller's `attempt` function on the
 * replica it picks, and the caller's `probe` checks a replica; both do the I/O.
 *
 * Choices where callers may wonder:
 * - A request that fails over keeps trying untried healthy replicas until one answers, none is
 *   left, or `deadlineMs` has passed. When only one replica was tried, its error is thrown as it
 *   is (its 429, 502 or 504 is the truest answer); when several were, one error names them all
 *   ("No replica of pool NAME could take the request: URL: reason; ...") as a 429 when every one
 *   was rate-limited, else a 503; when no replica is left healthy it is a 503 whose Retry-After is
 *   the time until the next probe.
 * - When every replica is ejected, a request is sent to the one whose probe is due soonest, one
 *   such trial at a time per replica: it acts as the probe, re-admitting the replica when it
 *   succeeds. Other requests meanwhile get the 503 at once rather than piling on a dead replica.
 * - A successful attempt remembers the request's own prefixes on its replica (the upstream has
 *   read the prompt by then); `Lease.remember` adds the reply's.
 * - URLs in `health()`, logs and errors are shown without userinfo, query or fragment
 *   (`displayUrl`); the `Replica` handed to `attempt` and `probe` keeps the URL as configured.
 */
import { ModelUnavailableError, QiusuoError } from "../../core/errors.js";
import { AffinityTable } from "./prefix-affinity.js";
import type { AffinityKey } from "./prefix-affinity.js";

export interface ReplicaSpec {
  url: string;
  /** Relative share for balancing, default 1. */
  weight?: number;
  /** Requests in flight at once, default 8. */
  maxConcurrent?: number;
}

export type ReplicaState = "healthy" | "ejected" | "probing";

export interface ReplicaHealth {
  /** The replica's URL without credentials, query or fragment. */
  url: string;
  state: ReplicaState;
  /** Requests holding a slot: attempts in flight and leases not yet released. */
  outstanding: number;
  consecutiveFailures: number;
  /** Why the last failure happened (an error's message, credentials removed). */
  lastError?: string;
  /** Epoch ms when the next probe of an ejected replica runs. */
  nextProbeAt?: number;
  /** Leases released "ok". */
  served: number;
  /** Failed attempts, leases released "failed" and failed trials. */
  failed: number;
}

export interface PoolHealth {
  name: string;
  healthy: number;
  total: number;
  /** Requests waiting for a slot. */
  queued: number;
  replicas: ReplicaHealth[];
}

export interface PoolOptions {
  name: string;
  replicas: ReplicaSpec[];
  /** Checks one replica (e.g. GET /v1/models); throws when it is not fit. */
  probe: (replica: Replica, signal: AbortSignal) => Promise<void>;
  /** Consecutive failures that eject a replica, default 3. */
  ejectAfterFailures?: number;
  /** First re-probe after ejection, doubling after each failed probe, default 1000 ms. */
  probeBaseMs?: number;
  /** The longest wait between probes, default 30000 ms. */
  probeMaxMs?: number;
  /** A probe that has not answered by then fails (its signal aborts), default 5000 ms. */
  probeTimeoutMs?: number;
  /** Active probe of each healthy replica, default every 15000 ms; 0 = none. */
  healthIntervalMs?: number;
  /** Requests waiting for a slot in this pool before a 429; default 8 × the pool's total maxConcurrent. */
  maxQueue?: number;
  /** Send a request to the replica that holds its longest prefix, default true. */
  affinity?: boolean;
  /** A prefix match counts only when its chars are at least this share of the request's, default 0.5. */
  affinityMinShare?: number;
  /** The affine replica is skipped when its outstanding > the least outstanding + slack, default 2. */
  affinitySlack?: number;
  /** Prefixes remembered (LRU), default 50000. */
  affinityEntries?: number;
  /** Injectable clock for tests, default Date.now. */
  now?: () => number;
  log?: (line: string) => void;
}

export interface Replica {
  readonly url: string;
  readonly index: number;
}

export interface DispatchRequest {
  affinity?: { keys: AffinityKey[]; totalChars: number };
  signal: AbortSignal;
  /** Failover gives up after this many ms from dispatch, default 30000. */
  deadlineMs?: number;
}

export interface Lease<T> {
  value: T;
  replica: Replica;
  /** Replicas tried before this one. */
  retries: number;
  /**
   * Frees the slot (idempotent). "failed" counts toward ejection (a stream that died mid-reply);
   * "aborted" counts nothing.
   */
  release(outcome: "ok" | "failed" | "aborted", error?: unknown): void;
  /** After a reply, remember these prefixes (the request's plus the reply) as living on this replica. */
  remember(keys: AffinityKey[]): void;
}

/** One replica's state. */
interface Member {
  readonly replica: Replica;
  readonly display: string;
  readonly weight: number;
  readonly maxConcurrent: number;
  state: ReplicaState;
  outstanding: number;
  consecutiveFailures: number;
  lastError?: string;
  nextProbeAt?: number;
  /** The wait before the next probe once this one fails. */
  probeDelayMs: number;
  probeTimer?: NodeJS.Timeout;
  /** Aborts the probe in flight (a re-probe or an active health check). */
  probeController?: AbortController;
  /** A request is acting as this ejected replica's probe. */
  trial: boolean;
  served: number;
  failed: number;
  /** Smooth weighted round-robin's running weight, for breaking ties. */
  currentWeight: number;
}

/** A slot taken for a request; `trial` when the replica is ejected and the request acts as its probe. */
interface Slot {
  member: Member;
  trial: boolean;
}

interface Waiter {
  request: DispatchRequest;
  tried: ReadonlySet<number>;
  /** A slot already taken for the waiter, or "none" when no untried replica is healthy any more. */
  settle(outcome: Member | "none" | "deadline"): void;
  fail(error: unknown): void;
}

const EPSILON = 1e-9;

export class ReplicaPool {
  private readonly name: string;
  private readonly members: Member[];
  private readonly probe: PoolOptions["probe"];
  private readonly ejectAfterFailures: number;
  private readonly probeBaseMs: number;
  private readonly probeMaxMs: number;
  private readonly probeTimeoutMs: number;
  private readonly healthIntervalMs: number;
  private readonly maxQueue: number;
  private readonly affinity: AffinityTable | undefined;
  private readonly affinityMinShare: number;
  private readonly affinitySlack: number;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly waiters: Waiter[] = [];
  private healthTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private draining = false;

  constructor(options: PoolOptions) {
    if (options.replicas.length === 0) throw new RangeError(`Pool ${options.name} has no replicas.`);
    this.name = options.name;
    this.probe = options.probe;
    this.ejectAfterFailures = atLeast(options.ejectAfterFailures ?? 3, 1, "ejectAfterFailures");
    this.probeBaseMs = atLeast(options.probeBaseMs ?? 1000, 1, "probeBaseMs");
    this.probeMaxMs = Math.max(this.probeBaseMs, options.probeMaxMs ?? 30_000);
    this.probeTimeoutMs = atLeast(options.probeTimeoutMs ?? 5000, 1, "probeTimeoutMs");
    this.healthIntervalMs = atLeast(options.healthIntervalMs ?? 15_000, 0, "healthIntervalMs");
    this.now = options.now ?? (() => Date.now());
    this.log = options.log ?? (() => {});
    this.members = options.replicas.map((spec, index) => ({
      replica: Object.freeze({ url: spec.url, index }),
      display: displayUrl(spec.url),
      weight: positive(spec.weight ?? 1, "weight"),
      maxConcurrent: Math.floor(atLeast(spec.maxConcurrent ?? 8, 1, "maxConcurrent")),
      state: "healthy",
      outstanding: 0,
      consecutiveFailures: 0,
      probeDelayMs: this.probeBaseMs,
      trial: false,
      served: 0,
      failed: 0,
      currentWeight: 0,
    }));
    const capacity = this.members.reduce((sum, member) => sum + member.maxConcurrent, 0);
    this.maxQueue = atLeast(options.maxQueue ?? 8 * capacity, 0, "maxQueue");
    this.affinity =
      options.affinity === false ? undefined : new AffinityTable(options.affinityEntries ?? 50_000);
    this.affinityMinShare = options.affinityMinShare ?? 0.5;
    this.affinitySlack = atLeast(options.affinitySlack ?? 2, 0, "affinitySlack");
  }

  /**
   * Runs `attempt` on a replica, failing over to another on a retryable error, and resolves with
   * a lease on the replica that answered. The lease holds its slot until `release`.
   */
  async dispatch<T>(
    request: DispatchRequest,
    attempt: (replica: Replica, signal: AbortSignal) => Promise<T>,
  ): Promise<Lease<T>> {
    const { signal } = request;
    if (signal.aborted) throw new ModelUnavailableError("request_aborted", "The request was cancelled.");
    const deadlineMs = request.deadlineMs ?? 30_000;
    const deadline = this.now() + deadlineMs;
    const tried = new Set<number>();
    const failures: Array<{ member: Member; error: QiusuoError }> = [];
    for (;;) {
      const slot = await this.acquire(request, tried, failures.length > 0 ? deadline : undefined);
      if (!slot) throw this.exhausted(failures, deadline, deadlineMs);
      const { member } = slot;
      if (signal.aborted) {
        // Aborted between the slot being handed over and this continuation running.
        this.free(slot);
        throw new ModelUnavailableError("request_aborted", "The request was cancelled while queued.");
      }
      let value: T;
      try {
        value = await attempt(member.replica, signal);
      } catch (error) {
        if (signal.aborted || !(error instanceof QiusuoError) || !error.isRetryable) {
          this.free(slot);
          throw error;
        }
        tried.add(member.replica.index);
        failures.push({ member, error });
        // Free before counting: an ejection wakes the queue, and a woken waiter may need this slot.
        this.free(slot, false);
        this.recordFailure(slot, error);
        this.drain();
        if (slot.trial || this.now() >= deadline) throw this.exhausted(failures, deadline, deadlineMs);
        continue;
      }
      this.recordSuccess(slot);
      if (this.affinity && request.affinity)
        this.affinity.remember(request.affinity.keys, member.replica.index);
      return this.lease(slot, value, tried.size);
    }
  }

  health(): PoolHealth {
    return {
      name: this.name,
      healthy: this.members.filter((member) => member.state === "healthy").length,
      total: this.members.length,
      queued: this.waiters.length,
      replicas: this.members.map((member) => ({
        url: member.display,
        state: member.state,
        outstanding: member.outstanding,
        consecutiveFailures: member.consecutiveFailures,
        ...(member.lastError === undefined ? {} : { lastError: member.lastError }),
        ...(member.nextProbeAt === undefined ? {} : { nextProbeAt: member.nextProbeAt }),
        served: member.served,
        failed: member.failed,
      })),
    };
  }

  /**
   * Starts the active health checks (the timer does not keep the process alive). Probes of
   * ejected replicas run from their ejection whether or not the pool was started; after stop(),
   * start() schedules them again.
   */
  start(): void {
    if (this.stopped) {
      this.stopped = false;
      for (const member of this.members) {
        if (member.state === "ejected" && !member.probeTimer) this.scheduleProbe(member);
      }
    }
    if (this.healthTimer || this.healthIntervalMs === 0) return;
    this.healthTimer = setInterval(() => this.checkHealthy(), this.healthIntervalMs);
    this.healthTimer.unref();
  }

  /**
   * Stops every timer and probe, and refuses the requests still queued (503 pool_stopped). Leases
   * already given stay valid until released.
   */
  stop(): void {
    this.stopped = true;
    clearInterval(this.healthTimer);
    this.healthTimer = undefined;
    for (const member of this.members) {
      clearTimeout(member.probeTimer);
      member.probeTimer = undefined;
      member.probeController?.abort();
    }
    for (const waiter of this.waiters.splice(0)) {
      waiter.fail(new ModelUnavailableError("pool_stopped", `The upstream pool ${this.name} was stopped.`));
    }
  }

  // --- slots -------------------------------------------------------------------------------

  /**
   * A slot for the request: at once when a healthy untried replica has one, else in the queue
   * (FIFO; retries skip the maxQueue check, they held a slot a moment ago, and wait only until
   * the deadline). Undefined when no replica is left to try.
   */
  private acquire(
    request: DispatchRequest,
    tried: ReadonlySet<number>,
    deadline: number | undefined,
  ): Promise<Slot | undefined> | Slot | undefined {
    const choice = this.choose(request, tried);
    if (choice === "none") return this.trial(tried);
    if (choice !== "wait") return this.take(choice);
    if (deadline === undefined && this.waiters.length >= this.maxQueue) {
      throw new QiusuoError(
        "rate_limit",
        "pool_queue_full",
        `Every replica of pool ${this.name} is busy and ${this.waiters.length} requests are waiting. Retry shortly.`,
        { retryAfterSeconds: 1 },
      );
    }
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        this.removeWaiter(waiter);
        cleanup();
        reject(new ModelUnavailableError("request_aborted", "The request was cancelled while queued."));
      };
      const cleanup = () => {
        clearTimeout(timer);
        request.signal.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        request,
        tried,
        settle: (outcome) => {
          cleanup();
          if (outcome === "deadline") resolve(undefined);
          else if (outcome === "none") resolve(this.trial(tried));
          else resolve({ member: outcome, trial: false });
        },
        fail: (error) => {
          cleanup();
          reject(error);
        },
      };
      this.waiters.push(waiter);
      request.signal.addEventListener("abort", onAbort, { once: true });
      if (deadline !== undefined) {
        timer = setTimeout(
          () => {
            if (this.removeWaiter(waiter)) waiter.settle("deadline");
          },
          Math.max(0, deadline - this.now()),
        );
        timer.unref();
      }
    });
  }

  /**
   * The replica for a request among healthy untried ones with a free slot: its affine replica when
   * fit, else the least loaded. "wait" when such replicas exist but all are full, "none" when
   * there are none.
   */
  private choose(request: DispatchRequest, tried: ReadonlySet<number>): Member | "wait" | "none" {
    const candidates: Member[] = [];
    let anyHealthy = false;
    for (const member of this.members) {
      if (member.state !== "healthy" || tried.has(member.replica.index)) continue;
      anyHealthy = true;
      if (member.outstanding < member.maxConcurrent) candidates.push(member);
    }
    if (candidates.length === 0) return anyHealthy ? "wait" : "none";
    return this.affine(request, candidates) ?? this.leastLoaded(candidates);
  }

  private affine(request: DispatchRequest, candidates: readonly Member[]): Member | undefined {
    if (!this.affinity || !request.affinity || request.affinity.keys.length === 0) return undefined;
    const { keys, totalChars } = request.affinity;
    const hit = this.affinity.lookup(keys, this.affinityMinShare * totalChars);
    if (!hit) return undefined;
    const member = candidates.find((candidate) => candidate.replica.index === hit.replica);
    if (!member) return undefined;
    const least = Math.min(...candidates.map((candidate) => candidate.outstanding));
    return member.outstanding <= least + this.affinitySlack ? member : undefined;
  }

  /** Least outstanding per weight; ties go round (smooth weighted round-robin, as nginx does). */
  private leastLoaded(candidates: readonly Member[]): Member {
    const load = (member: Member) => member.outstanding / member.weight;
    const least = Math.min(...candidates.map(load));
    const tied = candidates.filter((member) => load(member) <= least + EPSILON);
    let best = tied[0]!;
    let totalWeight = 0;
    for (const member of tied) {
      member.currentWeight += member.weight;
      totalWeight += member.weight;
      if (member.currentWeight > best.currentWeight) best = member;
    }
    best.currentWeight -= totalWeight;
    return best;
  }

  /**
   * When no replica is healthy, a slot on the ejected one whose probe is due soonest, for a
   * request to act as its probe (one at a time per replica). Undefined otherwise.
   */
  private trial(tried: ReadonlySet<number>): Slot | undefined {
    if (this.members.some((member) => member.state === "healthy")) return undefined;
    let best: Member | undefined;
    for (const member of this.members) {
      if (member.state !== "ejected" || member.trial || tried.has(member.replica.index)) continue;
      if (member.outstanding >= member.maxConcurrent) continue;
      if (!best || (member.nextProbeAt ?? 0) < (best.nextProbeAt ?? 0)) best = member;
    }
    if (!best) return undefined;
    best.trial = true;
    best.outstanding++;
    return { member: best, trial: true };
  }

  private take(member: Member): Slot {
    member.outstanding++;
    return { member, trial: false };
  }

  /** Gives a slot back; `drain` false when the caller drains after updating the replica's health. */
  private free(slot: Slot, drain = true): void {
    const { member } = slot;
    if (slot.trial) member.trial = false;
    if (member.outstanding > 0) member.outstanding--;
    if (drain) this.drain();
  }

  /** Hands free slots to waiters in FIFO order, and wakes those left with no healthy replica. */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let index = 0; index < this.waiters.length;) {
        const waiter = this.waiters[index]!;
        const choice = this.choose(waiter.request, waiter.tried);
        if (choice === "wait") {
          index++;
          continue;
        }
        this.waiters.splice(index, 1);
        if (choice === "none") {
          waiter.settle("none");
        } else {
          this.take(choice);
          waiter.settle(choice);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private removeWaiter(waiter: Waiter): boolean {
    const index = this.waiters.indexOf(waiter);
    if (index < 0) return false;
    this.waiters.splice(index, 1);
    return true;
  }

  private lease<T>(slot: Slot, value: T, retries: number): Lease<T> {
    let released = false;
    const { member } = slot;
    const slotOfLease: Slot = { member, trial: false };
    return {
      value,
      replica: member.replica,
      retries,
      release: (outcome, error) => {
        if (released) return;
        released = true;
        this.free(slotOfLease, false);
        if (outcome === "ok") {
          member.served++;
          member.consecutiveFailures = 0;
        } else if (outcome === "failed") {
          this.recordFailure(slotOfLease, error);
        }
        this.drain();
      },
      remember: (keys) => {
        if (this.affinity && keys.length > 0) this.affinity.remember(keys, member.replica.index);
      },
    };
  }

  // --- health ------------------------------------------------------------------------------

  /**
   * An attempt answered. The consecutive count is reset only when the reply completes (a lease
   * released "ok"): a replica that accepts requests and then drops every stream must still be
   * ejected. An ejected replica that answers is re-admitted at once.
   */
  private recordSuccess(slot: Slot): void {
    const { member } = slot;
    // The trial's slot passes to the lease: the replica is no longer on trial once it answered.
    if (slot.trial) {
      member.trial = false;
      slot.trial = false;
    }
    if (member.state !== "healthy") this.readmit(member, "a request succeeded");
  }

  private recordFailure(slot: Slot, error: unknown): void {
    const { member } = slot;
    member.failed++;
    member.lastError = this.reason(member, error);
    if (error instanceof QiusuoError && error.kind === "rate_limit") return;
    member.consecutiveFailures++;
    if (slot.trial && member.state === "ejected") {
      this.backOff(member);
    } else if (member.state === "healthy" && member.consecutiveFailures >= this.ejectAfterFailures) {
      this.eject(member, `${member.consecutiveFailures} consecutive failures`);
    }
  }

  private eject(member: Member, why: string): void {
    member.state = "ejected";
    member.probeDelayMs = this.probeBaseMs;
    this.scheduleProbe(member);
    this.log(
      `pool ${this.name}: replica ${member.display} ejected after ${why} (${member.lastError ?? "no reason given"}); ` +
        `next probe in ${member.probeDelayMs} ms; ${this.healthyCount()}/${this.members.length} healthy`,
    );
    this.drain();
  }

  private readmit(member: Member, why: string): void {
    clearTimeout(member.probeTimer);
    member.probeTimer = undefined;
    member.state = "healthy";
    member.consecutiveFailures = 0;
    member.nextProbeAt = undefined;
    member.probeDelayMs = this.probeBaseMs;
    this.log(
      `pool ${this.name}: replica ${member.display} re-admitted (${why}); ${this.healthyCount()}/${this.members.length} healthy`,
    );
    this.drain();
  }

  /** After a failed probe: the next one waits twice as long, up to probeMaxMs. */
  private backOff(member: Member): void {
    member.probeDelayMs = Math.min(this.probeMaxMs, member.probeDelayMs * 2);
    this.scheduleProbe(member);
  }

  private scheduleProbe(member: Member): void {
    clearTimeout(member.probeTimer);
    member.probeTimer = undefined;
    member.nextProbeAt = this.now() + member.probeDelayMs;
    if (this.stopped) return;
    member.probeTimer = setTimeout(() => this.reprobe(member), member.probeDelayMs);
    member.probeTimer.unref();
  }

  private reprobe(member: Member): void {
    member.probeTimer = undefined;
    if (member.state !== "ejected") return;
    if (member.trial) {
      // A request is probing it right now; its outcome decides.
      this.scheduleProbe(member);
      return;
    }
    member.state = "probing";
    this.runProbe(member).then(
      () => {
        if (member.state === "probing") this.readmit(member, "probe passed");
      },
      (error: unknown) => {
        if (member.state !== "probing") return;
        member.state = "ejected";
        if (this.stopped) return;
        member.lastError = this.reason(member, error);
        this.backOff(member);
      },
    );
  }

  /** Probes every healthy replica; one that fails is ejected at once (a refused connection is dead). */
  private checkHealthy(): void {
    for (const member of this.members) {
      if (member.state !== "healthy" || member.probeController) continue;
      this.runProbe(member).then(
        () => {},
        (error: unknown) => {
          if (this.stopped || member.state !== "healthy") return;
          member.failed++;
          member.lastError = this.reason(member, error);
          this.eject(member, "a failed health check");
        },
      );
    }
  }

  /** Calls `probe` with a signal that aborts after probeTimeoutMs or on stop(). */
  private async runProbe(member: Member): Promise<void> {
    const controller = new AbortController();
    member.probeController = controller;
    const timer = setTimeout(() => controller.abort(), this.probeTimeoutMs);
    timer.unref();
    try {
      await Promise.race([
        this.probe(member.replica, controller.signal),
        new Promise<never>((_, reject) => {
          controller.signal.addEventListener(
            "abort",
            () => reject(new Error(`the probe did not answer within ${this.probeTimeoutMs} ms`)),
            { once: true },
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (member.probeController === controller) member.probeController = undefined;
    }
    if (this.stopped) throw new Error("the pool was stopped");
  }

  private healthyCount(): number {
    return this.members.filter((member) => member.state === "healthy").length;
  }

  // --- errors ------------------------------------------------------------------------------

  /** The error a request gets when failover has nothing left to try (see the file's comment). */
  private exhausted(
    failures: ReadonlyArray<{ member: Member; error: QiusuoError }>,
    deadline: number,
    deadlineMs: number,
  ): QiusuoError {
    const late = this.now() >= deadline;
    if (this.healthyCount() === 0) {
      const reasons = this.members.map(
        (member) => `${member.display}: ${member.lastError ?? `${member.state}, no error recorded`}`,
      );
      return new QiusuoError(
        "unavailable",
        "upstream_unavailable",
        `No replica of pool ${this.name} could take the request; every replica is out of service: ${reasons.join("; ")}.`,
        { retryAfterSeconds: this.secondsToNextProbe(), cause: failures.at(-1)?.error },
      );
    }
    const last = failures.at(-1);
    if (failures.length === 1 && last) return last.error;
    const rateLimited = failures.length > 0 && failures.every(({ error }) => error.kind === "rate_limit");
    const reasons = failures.map(({ member, error }) => `${member.display}: ${this.reason(member, error)}`);
    const after = late ? ` within its failover deadline of ${deadlineMs} ms` : "";
    const retryAfterSeconds = Math.max(
      1,
      Math.min(...failures.map(({ error }) => error.retryAfterSeconds ?? 1)),
    );
    return new QiusuoError(
      rateLimited ? "rate_limit" : "unavailable",
      rateLimited ? "upstream_rate_limited" : "upstream_unavailable",
      `No replica of pool ${this.name} could take the request${after}: ${reasons.join("; ")}.`,
      { retryAfterSeconds, cause: last?.error },
    );
  }

  private secondsToNextProbe(): number {
    const due = this.members
      .map((member) => member.nextProbeAt)
      .filter((at): at is number => at !== undefined);
    if (due.length === 0) return 1;
    return Math.max(1, Math.ceil((Math.min(...due) - this.now()) / 1000));
  }

  /** An error's message with the replica's configured URL (and so its credentials) shown safely. */
  private reason(member: Member, error: unknown): string {
    const message = error instanceof Error ? error.message : String(error);
    return scrub(message, member.replica.url, member.display);
  }
}

/** A URL as it may be shown: without userinfo, query or fragment, and no trailing "/" alone. */
export function displayUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "(invalid URL)";
  }
  parsed.username = "";
  parsed.password = "";
  parsed.search = "";
  parsed.hash = "";
  const text = parsed.toString();
  return parsed.pathname === "/" ? text.slice(0, -1) : text;
}

/** Replaces the configured URL and any credentials in it within `message`. */
function scrub(message: string, url: string, display: string): string {
  let text = message.split(url).join(display);
  try {
    const parsed = new URL(url);
    for (const secret of [parsed.password, parsed.username, parsed.search.slice(1)]) {
      if (secret.length >= 3) {
        text = text.split(secret).join("***");
        const decoded = safeDecode(secret);
        if (decoded.length >= 3) text = text.split(decoded).join("***");
      }
    }
  } catch {
    // An unparsable URL has no credentials to find.
  }
  return text;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function atLeast(value: number, minimum: number, name: string): number {
  if (!Number.isFinite(value) || value < minimum) {
    throw new RangeError(`${name} must be a number ≥ ${minimum}, not ${value}`);
  }
  return value;
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be above 0, not ${value}`);
  return value;
}
