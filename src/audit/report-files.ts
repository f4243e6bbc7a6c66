// Where audit reports live (the data dir's audits/) and how they are named, listed and read back.
// Names are checked against one pattern before any path is built, so no name can leave the folder.

import fs from "node:fs/promises";
import path from "node:path";
import { renderAuditHtml } from "./render-report.js";
import type { AuditReport } from "./report.js";

/** `audit-<time>-<a>-vs-<b>.html` (and `.json`): letters, digits, dot, dash and underscore only. */
const REPORT_NAME = /^audit-[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.html$/;

export function auditsDir(dataDir: string): string {
  return path.join(dataDir, "audits");
}

export function isAuditReportName(name: string): boolean {
  return REPORT_NAME.test(name) && !name.includes("..");
}

/** Writes the report as HTML and JSON into `dir` (made if needed); returns both paths. */
export async function writeAuditReport(
  dir: string,
  report: AuditReport,
): Promise<{ html: string; json: string }> {
  await fs.mkdir(dir, { recursive: true });
  const stamp = report.createdAt.replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const base = `audit-${stamp}-${slug(report.models.a.name)}-vs-${slug(report.models.b.name)}`;
  const html = path.join(dir, `${base}.html`);
  const json = path.join(dir, `${base}.json`);
  await fs.writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await fs.writeFile(html, renderAuditHtml(report));
  return { html, json };
}

export interface AuditReportEntry {
  /** The HTML file's name. */
  name: string;
  createdAt: string;
  a: string;
  b: string;
  sizeBytes: number;
}

/** The reports in `dir`, newest first; a missing folder has none. */
export async function listAuditReports(dir: string): Promise<AuditReportEntry[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const entries = await Promise.all(
    names.filter(isAuditReportName).map(async (name): Promise<AuditReportEntry | undefined> => {
      try {
        const stat = await fs.stat(path.join(dir, name));
        const summary = await readSummary(path.join(dir, name.replace(/\.html$/, ".json")));
        return {
          name,
          createdAt: summary?.createdAt ?? stat.mtime.toISOString(),
          a: summary?.a ?? "",
          b: summary?.b ?? "",
          sizeBytes: stat.size,
        };
      } catch {
        return undefined;
      }
    }),
  );
  return entries
    .filter((entry): entry is AuditReportEntry => entry !== undefined)
    .sort((x, y) => y.createdAt.localeCompare(x.createdAt) || y.name.localeCompare(x.name));
}

/** A report's HTML, or undefined when the name is not a report's or there is no such file. */
export async function readAuditReport(dir: string, name: string): Promise<string | undefined> {
  if (!isAuditReportName(name)) return undefined;
  try {
    return await fs.readFile(path.join(dir, name), "utf8");
  } catch {
    return undefined;
  }
}

async function readSummary(file: string): Promise<{ createdAt: string; a: string; b: string } | undefined> {
  try {
    const report = JSON.parse(await fs.readFile(file, "utf8")) as AuditReport;
    return { createdAt: report.createdAt, a: report.models.a.name, b: report.models.b.name };
  } catch {
    return undefined;
  }
}

function slug(name: string): string {
  // A file path names the model by its file; anything else (`pool/id`, an alias) as it is.
  const base = /\.gguf$/i.test(name) ? path.basename(name).replace(/\.gguf$/i, "") : name;
  return (
    base
      .replace(/[^A-Za-z0-9._-]+/g, "-")
      .replace(/\.{2,}/g, ".")
      .replace(/^[-.]+|[-.]+$/g, "")
      .slice(0, 60) || "model"
  );
}
