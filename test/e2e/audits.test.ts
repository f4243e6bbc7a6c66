// Audit reports in the chat app, in real Chromium: the models page lists the reports of
// `qiusuo audit` with links that open each in a new tab; the report itself loads under its strict
// CSP without a violation or an error. axe finds nothing on the page (light and dark) or the report.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { writeAuditReport } from "../../src/audit/report-files.js";
import { runAudit } from "../../src/audit/run-audit.js";
import { startTestServer, type TestServer } from "../integration/harness.js";
import { launchBrowser, openPage, assertAccessible } from "./e2e-harness.js";

let server: TestServer;
let browser: Browser;
let dir: string;
let name: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "qiusuo-audits-e2e-"));
  server = await startTestServer({ models: ["scripted", "tiny"], app: { auditsDir: dir } });
  const report = await runAudit(server.router, { a: "scripted", b: "tiny", prompts: 3, maxTokens: 16 });
  name = (await writeAuditReport(dir, report)).html.split("/").at(-1)!;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("models page lists audit reports and opens them under the report's CSP", async () => {
  for (const colorScheme of ["light", "dark"] as const) {
    const watched = await openPage(browser, `${server.url}/settings/models`, { colorScheme });
    const link = watched.page.locator(".audit-list a");
    await link.waitFor();
    assert.equal(await link.textContent(), "scripted vs tiny");
    assert.equal(await link.getAttribute("href"), `/api/audits/${name}`);
    assert.equal(await link.getAttribute("target"), "_blank");
    await assertAccessible(watched.page, `models page with audits, ${colorScheme}`);
    assert.deepEqual(watched.errors, []);
    await watched.context.close();
  }

  const report = await openPage(browser, `${server.url}/api/audits/${name}`);
  await report.page.locator("h1").waitFor();
  assert.equal(await report.page.locator("h1").textContent(), "Model audit: scripted vs tiny");
  assert.ok((await report.page.locator("svg").count()) >= 3);
  await assertAccessible(report.page, "audit report");
  assert.deepEqual(report.cspViolations, []);
  assert.deepEqual(report.errors, []);
  await report.context.close();
});
