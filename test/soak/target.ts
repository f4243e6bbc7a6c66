// The server as the client loops see it, changed by the runner: its URL, whether it is up, a pause
// (to count the server's memory and files with no request in flight), and an epoch that each kill
// moves on, so a request that fails across a kill is told apart from one that fails on its own.
import http from "node:http";
import { exchange, type Exchange, type ExchangeRequest } from "./exchange.js";

class Gate {
  private isOpen = true;
  private waiters: Array<() => void> = [];

  get open(): boolean {
    return this.isOpen;
  }

  close(): void {
    this.isOpen = false;
  }

  release(): void {
    this.isOpen = true;
    for (const wake of this.waiters.splice(0)) wake();
  }

  wait(): Promise<void> {
    return this.isOpen ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

export interface Sent extends Exchange {
  /** The server was killed while this request was in flight. */
  acrossKill: boolean;
}

export class Target {
  url = "";
  /** Moves on at every kill (and unexpected exit) of the server. */
  epoch = 0;
  inFlight = 0;
  private agent = newAgent();
  private readonly up = new Gate();
  private readonly running = new Gate();
  private stopped = false;
  private drainWaiters: Array<() => void> = [];

  constructor(url: string) {
    this.url = url;
  }

  /** Paused (or down) for a measurement or a restart. */
  get isHeld(): boolean {
    return !this.running.open || !this.up.open;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /**
   * Sends one request once the server is up and the clients are not paused; undefined once the
   * run is over (the loops then end).
   */
  async send(request: ExchangeRequest): Promise<Sent | undefined> {
    while (!this.stopped && !(this.up.open && this.running.open)) {
      await this.up.wait();
      await this.running.wait();
    }
    if (this.stopped) return undefined;
    const epoch = this.epoch;
    this.inFlight += 1;
    try {
      const answer = await exchange(this.agent, this.url, request);
      return { ...answer, acrossKill: this.epoch !== epoch };
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) for (const wake of this.drainWaiters.splice(0)) wake();
    }
  }

  /** Called just before the server is killed: requests in flight from now on were cut by the kill. */
  markDown(): void {
    this.up.close();
    this.epoch += 1;
  }

  markUp(url: string): void {
    this.url = url;
    this.up.release();
  }

  /** Holds new requests and waits (at most `timeoutMs`) for those in flight; true once none is. */
  async pause(timeoutMs: number): Promise<boolean> {
    this.running.close();
    if (this.inFlight === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      new Promise<boolean>((resolve) => this.drainWaiters.push(() => resolve(true))),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return drained;
  }

  resume(): void {
    this.running.release();
  }

  /** Closes every kept-alive client socket, so the server holds none of ours. */
  closeConnections(): void {
    this.agent.destroy();
    this.agent = newAgent();
  }

  /** Ends the run: requests not yet sent are not sent, and every waiting loop wakes up. */
  stop(): void {
    this.stopped = true;
    this.up.release();
    this.running.release();
  }
}

function newAgent(): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: Infinity });
}
