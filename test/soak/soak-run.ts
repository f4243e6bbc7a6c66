// One soak run, start to report: the server on the fixture models, the client loops, and the
// timeline: warm up, measure, load, measure, kill -9 under load, restart on the same data dir and
// port, warm up, measure, load to the end, stop the clients, measure, read the store back, SIGTERM.
import path from "node:path";
import { Client, sleep } from "./client.js";
import { Ledger, verifyLedger } from "./ledger.js";
import { clientLoop, healthLoop } from "./mix.js";
import { checks, kindRows, type ProcessWindow, type SoakReport } from "./report.js";
import { ServerProcess, type ProcessSample, type ServeOptions } from "./server-process.js";
import { soakModelFiles } from "./soak-models.js";
import { Tally } from "./tally.js";
import { Target } from "./target.js";

export interface Profile {
  /** Seconds of load in all, the restart not counted; the kill comes half way. */
  durationSeconds: number;
  /** Seconds of load on each process before its memory and files are first measured. */
  warmupSeconds: number;
  /** A request still unanswered after this long is a failure (`timeout`). */
  requestTimeoutMs: number;
}

export interface SoakConfig {
  profileName: string;
  profile: Profile;
  clients: number;
  seed: number;
  /** Where the models, the data dir and server.log go. */
  workDir: string;
  log: (message: string) => void;
}

/** The last measurement of the first process comes this long before the kill, under load again. */
const LOAD_BEFORE_KILL_MS = 2_000;
const TRACE_INTERVAL_MS = 5_000;
const SHUTDOWN_GRACE_MS = 30_000;

/** The server exited without being told to: the run stops early and reports it. */
class ServerExited extends Error {
  override readonly name = "ServerExited";
}

interface Measured {
  sample: ProcessSample;
  /** Nothing was in flight when it was taken. */
  quiet: boolean;
}

export async function runSoak(config: SoakConfig): Promise<SoakReport> {
  const wallStart = performance.now();
  const serveOptions: ServeOptions = {
    models: soakModelFiles(config.workDir),
    dataDir: path.join(config.workDir, "data"),
    port: 0,
    parallel: 2,
    contextSize: 1024,
    startTimeoutMs: 120_000,
    logFile: path.join(config.workDir, "server.log"),
  };
  config.log(`starting the server (data in ${config.workDir})`);
  const server = await ServerProcess.start(serveOptions);
  // The restart takes the same address, as a supervisor restarting a service would.
  return new SoakRun(config, { ...serveOptions, port: server.port }, server, wallStart).run();
}

class SoakRun {
  private readonly target: Target;
  private readonly loadStart = performance.now();
  private readonly tally = new Tally(this.loadStart);
  private readonly ledger = new Ledger();
  private readonly processes: ProcessWindow[] = [];
  private readonly trace: SoakReport["trace"] = [];
  private readonly kill: SoakReport["kill"] = {
    atSeconds: 0,
    inFlight: 0,
    restartMs: 0,
    unexpectedExit: null,
  };
  private loops: Array<Promise<void>> = [];
  private killing = false;
  private unexpectedExit: string | undefined;

  constructor(
    private readonly config: SoakConfig,
    private readonly serveOptions: ServeOptions,
    private server: ServerProcess,
    private readonly wallStart: number,
  ) {
    this.target = new Target(server.url);
  }

  async run(): Promise<SoakReport> {
    const { config, target } = this;
    this.watch(this.server);
    config.log(`${config.clients} clients for ${config.profile.durationSeconds} s against ${target.url}`);
    const client = (index: number) =>
      new Client(index, config.seed, target, this.tally, this.ledger, config.profile.requestTimeoutMs);
    this.loops = Array.from({ length: config.clients }, (_, index) => clientLoop(client(index)));
    this.loops.push(healthLoop(client(config.clients)));
    const sampler = setInterval(() => this.traceSample(), TRACE_INTERVAL_MS);
    try {
      await this.firstProcess();
      await this.killAndRestart();
      await this.secondProcess();
    } catch (error) {
      if (!(error instanceof ServerExited)) throw error;
      this.kill.unexpectedExit = error.message;
      target.stop();
      await Promise.all(this.loops);
      config.log("restarting the server to read the store back");
      this.server = await this.restart();
    } finally {
      clearInterval(sampler);
    }
    config.log(`load over at ${this.elapsed()} s; reading the store back`);
    const ledger = await verifyLedger(this.server.url, this.ledger);
    const shutdown = await this.server.stop(SHUTDOWN_GRACE_MS);
    const partial: Omit<SoakReport, "checks" | "passed"> = {
      profile: config.profileName,
      seed: config.seed,
      clients: config.clients,
      loadSeconds: config.profile.durationSeconds,
      wallSeconds: (performance.now() - this.wallStart) / 1000,
      kill: this.kill,
      ...kindRows(this.tally),
      processes: this.processes,
      trace: this.trace,
      ledger,
      shutdown,
      failures: this.tally.failures,
      failureCount: this.tally.failureCount,
    };
    const results = checks(partial);
    return { ...partial, checks: results, passed: results.every((check) => check.pass) };
  }

  private async firstProcess(): Promise<void> {
    const { profile } = this.config;
    await this.until(this.loadStart + profile.warmupSeconds * 1000);
    const base = await this.measure("first process warmed up");
    await this.until(this.loadStart + (profile.durationSeconds * 1000) / 2 - LOAD_BEFORE_KILL_MS);
    const end = await this.measure("first process before the kill");
    this.processes.push(processWindow("first process", this.server.pid, base, end));
    await this.until(performance.now() + LOAD_BEFORE_KILL_MS);
  }

  private async killAndRestart(): Promise<void> {
    this.killing = true;
    this.target.markDown();
    this.kill.inFlight = this.target.inFlight;
    this.kill.atSeconds = this.elapsed();
    this.server.kill();
    await this.server.whenExited();
    this.config.log(`kill -9 at ${this.kill.atSeconds} s with ${this.kill.inFlight} requests in flight`);
    const downAt = performance.now();
    this.server = await this.restart();
    this.kill.restartMs = performance.now() - downAt;
    this.killing = false;
    this.watch(this.server);
    this.target.markUp(this.server.url);
    this.config.log(`restarted and healthy in ${Math.round(this.kill.restartMs)} ms`);
  }

  private async secondProcess(): Promise<void> {
    const { profile } = this.config;
    const loadEnd = this.loadStart + profile.durationSeconds * 1000 + this.kill.restartMs;
    await this.until(performance.now() + profile.warmupSeconds * 1000);
    const base = await this.measure("restarted process warmed up");
    await this.until(loadEnd);
    this.target.stop();
    await Promise.all(this.loops);
    const end = { sample: await this.settledSample(), quiet: true };
    this.config.log(`restarted process at the end: ${describeSample(end.sample)}`);
    this.processes.push(processWindow("restarted process", this.server.pid, base, end));
  }

  /**
   * Waits for nothing in flight, closes our sockets, lets the server settle, collects its garbage
   * and measures it; the clients then go on.
   */
  private async measure(label: string): Promise<Measured> {
    const quiet = await this.target.pause(this.config.profile.requestTimeoutMs);
    const sample = await this.settledSample();
    this.target.resume();
    this.config.log(`${label}: ${describeSample(sample)}${quiet ? "" : " (requests still in flight)"}`);
    return { sample, quiet };
  }

  private async settledSample(): Promise<ProcessSample> {
    this.target.closeConnections();
    await sleep(500); // the server closes its ends of our sockets
    this.throwIfExited();
    try {
      return await this.server.settledSample();
    } catch (error) {
      if (this.server.exit) throw new ServerExited(`pid ${this.server.pid} exited while being measured`);
      throw error;
    }
  }

  /** Same data dir and port; another port if the old one is somehow still taken. */
  private async restart(): Promise<ServerProcess> {
    try {
      return await ServerProcess.start(this.serveOptions);
    } catch (error) {
      if (!/EADDRINUSE/.test(String(error))) throw error;
      this.config.log(`port ${this.serveOptions.port} is still taken; restarting on another`);
      return ServerProcess.start({ ...this.serveOptions, port: 0 });
    }
  }

  /** An exit we did not cause stops the clients; the timeline then throws ServerExited. */
  private watch(server: ServerProcess): void {
    void server.whenExited().then(() => {
      if (this.killing || this.target.isStopped) return;
      this.unexpectedExit = `pid ${server.pid} exited by itself at ${this.elapsed()} s (${JSON.stringify(server.exit)})`;
      this.config.log(this.unexpectedExit);
      this.target.markDown();
      this.target.stop();
    });
  }

  private throwIfExited(): void {
    if (this.unexpectedExit) throw new ServerExited(this.unexpectedExit);
  }

  private async until(deadline: number): Promise<void> {
    for (let now = performance.now(); now < deadline; now = performance.now()) {
      this.throwIfExited();
      await sleep(Math.min(200, deadline - now));
    }
    this.throwIfExited();
  }

  /** Memory, files and heap under load, for the JSON report's trace; skipped while measuring. */
  private traceSample(): void {
    const server = this.server;
    if (server.exit || this.target.isHeld) return;
    const at = this.elapsed();
    const inFlight = this.target.inFlight;
    try {
      const sample = server.sample();
      void server
        .heap()
        .then((heap) => this.trace.push({ at, pid: server.pid, inFlight, ...sample, ...heap }));
    } catch {
      // it exited between the check and the read
    }
  }

  private elapsed(): number {
    return Math.round((performance.now() - this.loadStart) / 100) / 10;
  }
}

function processWindow(label: string, pid: number, base: Measured, end: Measured): ProcessWindow {
  return { label, pid, base: base.sample, end: end.sample, quiet: base.quiet && end.quiet };
}

function describeSample(sample: ProcessSample): string {
  return `RSS ${(sample.rssBytes / 1024 / 1024).toFixed(1)} MiB, ${sample.openFiles} open files (${sample.sockets} sockets)`;
}
