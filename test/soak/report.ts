// The soak's findings: requests by outcome and latency per kind, the server's memory and open files
// across each process's life, what the ledger found after the restart, and the pass/fail checks;
// as a compact table for the terminal and as JSON.
import type { LedgerCheck } from "./ledger.js";
import { FAILURES, OUTCOMES, type Outcome } from "./outcome.js";
import type { HeapSample, ProcessSample } from "./server-process.js";
import { percentile, type FailureSample, type Tally } from "./tally.js";

/** Largest allowed growth of RSS and of open files from after warm-up to the end of a process. */
export const MAX_GROWTH = 0.05;

export interface KindRow {
  kind: string;
  counts: Record<Outcome, number>;
  sent: number;
  failed: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface ProcessWindow {
  label: string;
  pid: number;
  /** After warm-up, with no request in flight and no client connection open. */
  base: ProcessSample;
  /** At the end of the process's life, measured the same way. */
  end: ProcessSample;
  /** Both samples were taken with nothing in flight (false: the drain timed out). */
  quiet: boolean;
}

export interface CheckResult {
  name: string;
  value: string;
  pass: boolean;
}

export interface SoakReport {
  profile: string;
  seed: number;
  clients: number;
  loadSeconds: number;
  wallSeconds: number;
  kill: {
    atSeconds: number;
    inFlight: number;
    restartMs: number;
    /** How the server exited when it did so by itself (the run then stops early). */
    unexpectedExit: string | null;
  };
  kinds: KindRow[];
  total: KindRow;
  health: KindRow | undefined;
  processes: ProcessWindow[];
  /** Samples under load every few seconds (not checked; shows the trend). */
  trace: Array<ProcessSample & Partial<HeapSample> & { at: number; pid: number; inFlight: number }>;
  ledger: LedgerCheck;
  shutdown: { ms: number; forced: boolean; code: number | null };
  checks: CheckResult[];
  failures: FailureSample[];
  failureCount: number;
  passed: boolean;
}

export function kindRows(tally: Tally): { kinds: KindRow[]; total: KindRow; health: KindRow | undefined } {
  const rows: KindRow[] = [];
  const allCounts = Object.fromEntries(OUTCOMES.map((outcome) => [outcome, 0])) as Record<Outcome, number>;
  const allLatencies: number[] = [];
  let health: KindRow | undefined;
  for (const [kind, { counts, latencies }] of tally.kinds) {
    const row = kindRow(kind, counts, latencies);
    if (kind === "health") {
      health = row;
      continue;
    }
    rows.push(row);
    for (const outcome of OUTCOMES) allCounts[outcome] += counts[outcome];
    allLatencies.push(...latencies);
  }
  rows.sort((a, b) => a.kind.localeCompare(b.kind));
  return { kinds: rows, total: kindRow("all", allCounts, allLatencies), health };
}

function kindRow(kind: string, counts: Record<Outcome, number>, latencies: number[]): KindRow {
  const sent = OUTCOMES.reduce((sum, outcome) => sum + counts[outcome], 0);
  const failed = [...FAILURES].reduce((sum, outcome) => sum + counts[outcome], 0);
  const round = (value: number) => (Number.isNaN(value) ? null : Math.round(value));
  return {
    kind,
    counts: { ...counts },
    sent,
    failed,
    p50Ms: round(percentile(latencies, 0.5)),
    p99Ms: round(percentile(latencies, 0.99)),
  };
}

export function growth(base: number, end: number): number {
  return base > 0 ? (end - base) / base : 0;
}

/** The pass/fail lines; the run fails when any fails. */
export function checks(report: Omit<SoakReport, "checks" | "passed">): CheckResult[] {
  const serverErrors = report.total.counts["server-error"];
  // A kind none of whose requests ended as meant (answered, or stopped by its client) tested nothing.
  const idle = report.kinds.filter((row) => row.counts.ok + row.counts.aborted === 0).map((row) => row.kind);
  const results: CheckResult[] = [
    { name: "5xx responses", value: String(serverErrors), pass: serverErrors === 0 },
    {
      name: "failed requests (not the kill)",
      value: String(report.total.failed + (report.health?.failed ?? 0)),
      pass: report.total.failed + (report.health?.failed ?? 0) === 0,
    },
    {
      name: "lost finished messages",
      value: `${report.ledger.messages.lost} of ${report.ledger.messages.acknowledged}`,
      pass: report.ledger.messages.lost === 0,
    },
    {
      name: "lost conversations and imports",
      value: `${report.ledger.conversations.lost + report.ledger.imports.lost} of ${
        report.ledger.conversations.acknowledged + report.ledger.imports.acknowledged
      }`,
      pass: report.ledger.conversations.lost + report.ledger.imports.lost === 0,
    },
    {
      name: "replies left streaming",
      value: String(report.ledger.stuckStreaming),
      pass: report.ledger.stuckStreaming === 0,
    },
    {
      name: "server exits not ours",
      value: report.kill.unexpectedExit ?? "0",
      pass: report.kill.unexpectedExit === null,
    },
    {
      name: "every kind went through",
      value: idle.length > 0 ? `none through: ${idle.join(", ")}` : "yes",
      pass: idle.length === 0,
    },
  ];
  for (const window of report.processes) {
    const rss = growth(window.base.rssBytes, window.end.rssBytes);
    const files = growth(window.base.openFiles, window.end.openFiles);
    results.push(
      {
        name: `RSS, ${window.label}`,
        value: `${mib(window.base.rssBytes)} -> ${mib(window.end.rssBytes)} MiB (${percent(rss)})`,
        pass: rss < MAX_GROWTH,
      },
      {
        name: `open files, ${window.label}`,
        value: `${window.base.openFiles} -> ${window.end.openFiles} (${percent(files)})${window.quiet ? "" : ", not drained"}`,
        pass: files < MAX_GROWTH,
      },
    );
  }
  results.push({
    name: "SIGTERM at the end",
    value: `exit ${report.shutdown.code} in ${Math.round(report.shutdown.ms)} ms${report.shutdown.forced ? " (SIGKILLed)" : ""}`,
    pass: report.shutdown.code === 0 && !report.shutdown.forced,
  });
  return results;
}

export function formatReport(report: SoakReport): string {
  const lines: string[] = [];
  lines.push(
    `soak (${report.profile}): ${report.clients} clients, ${report.loadSeconds} s of load, ` +
      `${Math.round(report.wallSeconds)} s in all, seed ${report.seed}`,
    `kill -9 at ${report.kill.atSeconds} s with ${report.kill.inFlight} requests in flight; ` +
      `restarted and healthy in ${Math.round(report.kill.restartMs)} ms`,
    "",
  );
  const header = ["kind", "sent", "ok", "abort", "429", "killed", "failed", "p50 ms", "p99 ms"];
  const row = (entry: KindRow) => [
    entry.kind,
    entry.sent,
    entry.counts.ok,
    entry.counts.aborted,
    entry.counts["rate-limited"],
    entry.counts.killed,
    entry.failed,
    entry.p50Ms ?? "-",
    entry.p99Ms ?? "-",
  ];
  const table = [
    header,
    ...report.kinds.map(row),
    row(report.total),
    ...(report.health ? [row(report.health)] : []),
  ];
  const widths = header.map((_, column) => Math.max(...table.map((cells) => String(cells[column]).length)));
  const render = (cells: Array<string | number>) =>
    cells
      .map((cell, column) =>
        column === 0 ? String(cell).padEnd(widths[0]!) : String(cell).padStart(widths[column]!),
      )
      .join("  ");
  table.forEach((cells, index) => {
    if (index === report.kinds.length + 1) lines.push(render(widths.map((width) => "-".repeat(width))));
    lines.push(render(cells));
  });
  const failedOutcomes = [...FAILURES].filter((outcome) => report.total.counts[outcome] > 0);
  if (failedOutcomes.length > 0) {
    lines.push(
      `failures: ${failedOutcomes.map((outcome) => `${outcome} ${report.total.counts[outcome]}`).join(", ")}`,
    );
  }
  lines.push("");
  const nameWidth = Math.max(...report.checks.map((check) => check.name.length));
  for (const check of report.checks) {
    lines.push(`${check.pass ? "PASS" : "FAIL"}  ${check.name.padEnd(nameWidth)}  ${check.value}`);
  }
  if (report.ledger.examples.length > 0) {
    lines.push("", "store after the restart:", ...report.ledger.examples.map((example) => `  ${example}`));
  }
  if (report.failures.length > 0) {
    lines.push("", `first failures (${report.failures.length} of ${report.failureCount}):`);
    for (const failure of report.failures.slice(0, 10)) {
      lines.push(
        `  at ${failure.at} s  ${failure.kind}/${failure.variant}  ${failure.outcome}  HTTP ${failure.status ?? "-"}  ${failure.detail}`,
        `    request: ${failure.request}`,
        `    answer:  ${failure.answer.replace(/\n/g, "\\n")}`,
      );
    }
  }
  lines.push("", report.passed ? "soak passed" : "soak FAILED");
  return lines.join("\n");
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

function percent(fraction: number): string {
  return `${fraction >= 0 ? "+" : ""}${(fraction * 100).toFixed(1)}%`;
}
