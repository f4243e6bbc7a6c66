// `npm run soak`: the reliability suite (docs/reliability.md). Starts the built server on the
// fixture models, runs 64 client loops over the mix in mix.ts for a bounded time, kill -9s the
// server half way and restarts it on the same data dir, then checks that nothing the server
// acknowledged was lost, that no request failed (5xx, an error inside a 200, a broken answer, a
// connection dropped other than by the kill) and that memory and open files did not grow.
//
//   npm run soak -- [--profile short|long] [--duration SECONDS] [--clients N] [--seed N]
//                   [--json FILE] [--keep]
//
// Exit code 0 when every check passes, 1 when one fails, 2 when the run itself broke.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { formatReport } from "./report.js";
import { runSoak, type Profile, type SoakConfig } from "./soak-run.js";

const PROFILES: Record<string, Profile> = {
  // Resident memory climbs for the first 10-20 s of load (heap and caches sizing up), then holds:
  // the warm-up covers that, so the growth check sees leaks rather than warming.
  short: { durationSeconds: 70, warmupSeconds: 15, requestTimeoutMs: 60_000 },
  long: { durationSeconds: 600, warmupSeconds: 60, requestTimeoutMs: 120_000 },
};

function readOptions(): Omit<SoakConfig, "workDir" | "log"> & { json?: string; keep: boolean } {
  const { values } = parseArgs({
    options: {
      profile: { type: "string", default: "short" },
      duration: { type: "string" },
      clients: { type: "string", default: "64" },
      seed: { type: "string", default: "1" },
      json: { type: "string" },
      keep: { type: "boolean", default: false },
    },
  });
  const profileName = values.profile!;
  const profile = PROFILES[profileName];
  if (!profile) throw new Error(`--profile is short or long, not ${profileName}`);
  const duration = Number(values.duration ?? profile.durationSeconds);
  const clients = Number(values.clients);
  const seed = Number(values.seed);
  // Each half needs its warm-up and then a stretch to measure growth over.
  const shortest = 4 * profile.warmupSeconds;
  const problems = [
    Number.isFinite(duration) && duration >= shortest ? "" : `--duration must be at least ${shortest} s`,
    Number.isInteger(clients) && clients >= 1 && clients <= 1024 ? "" : "--clients must be 1..1024",
    Number.isInteger(seed) ? "" : "--seed must be an integer",
  ].filter(Boolean);
  if (problems.length > 0) throw new Error(problems.join("\n"));
  return {
    profileName,
    profile: { ...profile, durationSeconds: duration },
    clients,
    seed,
    ...(values.json === undefined ? {} : { json: values.json }),
    keep: values.keep!,
  };
}

function log(message: string): void {
  process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

async function main(): Promise<number> {
  const options = readOptions();
  const workDir = mkdtempSync(path.join(os.tmpdir(), "qiusuo-soak-"));
  const report = await runSoak({ ...options, workDir, log });
  console.log(formatReport(report));
  if (options.json) writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
  if (report.passed && !options.keep) rmSync(workDir, { recursive: true, force: true });
  else log(`data dir and server.log kept in ${workDir}`);
  return report.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(2);
  },
);
