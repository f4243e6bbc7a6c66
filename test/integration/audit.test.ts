// qiusuo audit on fixture models whose answers are designed: scripted models that say who they
// are make the identity part exact; two copies of one random model must audit as the same model,
// and two random models of different seeds as different ones. Then the report files, the built
// CLI end to end, and the app's admin-only route that serves a report.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runAudit } from "../../src/audit/run-audit.js";
import { renderAuditHtml } from "../../src/audit/render-report.js";
import { isAuditReportName, listAuditReports, writeAuditReport } from "../../src/audit/report-files.js";
import type { AuditReport } from "../../src/audit/report.js";
import { LocalEngine } from "../../src/engines/local/local-engine.js";
import { makeScriptedModel, makeTinyModel } from "../fixtures/models.js";
import { cli, runQiusuo } from "./cli-process.js";
import { AppClient, startTestServer, type TestServer } from "./harness.js";

const QUICK = { prompts: 3, maxTokens: 24, likelihoodTokens: 24 };

describe("qiusuo audit", () => {
  let dir: string;
  let engine: LocalEngine;
  const files: Record<string, string> = {};
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "qiusuo-audit-"));
    files.deepseek = join(dir, "says-deepseek.gguf");
    files.claude = join(dir, "says-claude.gguf");
    makeScriptedModel(files.deepseek, { script: ["I am DeepSeek", ", made by 深度求索"] });
    makeScriptedModel(files.claude, { script: ["I am Claude", ", made by Anthropic"] });
    // Printable-ASCII output keeps the answers whole characters, so re-tokenizing them is exact.
    files.twinA = join(dir, "twin-a.gguf");
    files.twinB = join(dir, "twin-b.gguf");
    files.other = join(dir, "other.gguf");
    makeTinyModel(files.twinA, { seed: 11, asciiOutput: true });
    copyFileSync(files.twinA, files.twinB);
    makeTinyModel(files.other, { seed: 12, asciiOutput: true });
    engine = new LocalEngine({ contextSize: 512, parallel: 1, threads: 1, gpu: "off", maxLoadedModels: 5 });
    for (const file of Object.values(files)) await engine.addModelFile(file, []);
  });
  after(async () => {
    await engine.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reports exactly the identities the scripted models claim", async () => {
    const report = await runAudit(engine, { a: "says-deepseek", b: "says-claude", ...QUICK });
    assert.deepEqual(report.identity.distribution.a, [{ identity: "deepseek", count: 3 }]);
    assert.deepEqual(report.identity.distribution.b, [{ identity: "claude", count: 3 }]);
    for (const row of report.identity.rows) {
      assert.equal(row.a.text, "I am DeepSeek, made by 深度求索");
      assert.equal(row.b.text, "I am Claude, made by Anthropic");
      assert.deepEqual(row.a.named, ["deepseek"]);
      assert.deepEqual(row.b.named, ["claude"]);
    }
    assert.equal(report.settings.identityPrompts, 3);
    assert.match(report.models.a.sha256 ?? "", /^[0-9a-f]{64}$/);
  });

  it("audits two copies of one random model as the same model", async () => {
    const report = await runAudit(engine, { a: "twin-a", b: "twin-b", ...QUICK, embeddingModel: "twin-a" });
    assert.equal(report.behaviour.identicalAnswers, 3);
    assert.equal(report.behaviour.overlap?.min, 1);
    assert.ok(report.behaviour.embedding!.min > 0.9999, JSON.stringify(report.behaviour.embedding));
    const { aUnderA, aUnderB, bUnderA, bUnderB } = report.likelihood;
    assert.ok(report.likelihood.available);
    assert.ok(aUnderA!.tokens > 0);
    assert.ok(Math.abs(aUnderA!.perToken - aUnderB!.perToken) < 1e-6, JSON.stringify(report.likelihood));
    assert.ok(Math.abs(bUnderA!.perToken - bUnderB!.perToken) < 1e-6);
    assert.equal(report.models.a.sha256, report.models.b.sha256);
  });

  it("audits two random models of different seeds as different models", async () => {
    const report = await runAudit(engine, { a: "twin-a", b: "other", ...QUICK });
    assert.equal(report.behaviour.identicalAnswers, 0);
    assert.ok(report.behaviour.overlap!.mean < 0.5, JSON.stringify(report.behaviour.overlap));
    const { aUnderA, aUnderB, bUnderA, bUnderB } = report.likelihood;
    // Each model predicts its own greedy text better than the other model does.
    assert.ok(aUnderA!.perToken > aUnderB!.perToken + 0.5, JSON.stringify(report.likelihood));
    assert.ok(bUnderB!.perToken > bUnderA!.perToken + 0.5, JSON.stringify(report.likelihood));
    for (const row of report.likelihood.rows) assert.ok(row.aUnderA > row.aUnderB, row.prompt);
  });

  it("writes a self-contained HTML report and JSON that parses", async () => {
    const report = await runAudit(engine, { a: "says-deepseek", b: "other", prompts: 2, maxTokens: 16 });
    const out = join(dir, "reports");
    const written = await writeAuditReport(out, report);
    const json = JSON.parse(readFileSync(written.json, "utf8")) as AuditReport;
    assert.equal(json.models.a.name, "says-deepseek");
    const html = readFileSync(written.html, "utf8");
    assert.equal(html, renderAuditHtml(json));
    assert.doesNotMatch(html, /(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?\/\//i);
    assert.doesNotMatch(html, /<script|<link|<img|@import|url\(/i);
    assert.match(html, /<svg/);
    assert.match(html, /Content-Security-Policy/);
    for (const heading of ["1. Identity", "2. Behaviour", "3. Likelihood"]) assert.ok(html.includes(heading));
    assert.match(html, /Cannot show:/);
    // A prompt or answer can never inject markup.
    const hostile = renderAuditHtml({
      ...json,
      models: { ...json.models, a: { ...json.models.a, name: "<script>alert(1)</script>" } },
    });
    assert.doesNotMatch(hostile, /<script>alert/);
    assert.deepEqual(
      (await listAuditReports(out)).map((entry) => entry.name),
      [written.html.split("/").at(-1)],
    );
  });

  it("accepts only report names, never a path", () => {
    assert.ok(isAuditReportName("audit-20260101T000000Z-a-vs-b.html"));
    for (const name of [
      "../x.html",
      "audit-../../etc/passwd.html",
      "audit-a/b.html",
      "x.html",
      "audit-a.json",
      "audit-..html",
    ]) {
      assert.equal(isAuditReportName(name), false, name);
    }
  });

  it("runs end to end from the built CLI", () => {
    assert.ok(existsSync(cli), "run `npm run build` first (npm test does)");
    const out = join(dir, "cli-out");
    const result = runQiusuo(
      [
        "audit",
        files.deepseek!,
        files.claude!,
        "--data-dir",
        join(dir, "data"),
        "--out",
        out,
        "--prompts",
        "2",
        "--max-tokens",
        "16",
        "--ctx-size",
        "512",
        "--threads",
        "1",
        "--gpu",
        "off",
        "--json",
      ],
      {},
    );
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /audit: \d+\/\d+/);
    const summary = JSON.parse(result.stdout);
    assert.deepEqual(summary.identity.a, [{ identity: "deepseek", count: 2 }]);
    assert.deepEqual(summary.identity.b, [{ identity: "claude", count: 2 }]);
    assert.ok(existsSync(summary.files.html) && existsSync(summary.files.json));
    assert.ok(summary.files.html.startsWith(out));

    const missing = runQiusuo(["audit", files.deepseek!, "no-such-model", "--data-dir", join(dir, "data")]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no-such-model/);
  });
});

describe("GET /api/audits", () => {
  let server: TestServer;
  let dir: string;
  let name: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "qiusuo-audits-"));
    server = await startTestServer({ accounts: true, app: { auditsDir: dir } });
    const report = await runAudit(server.router, { a: "scripted", b: "scripted", prompts: 1, maxTokens: 8 });
    name = (await writeAuditReport(dir, report)).html.split("/").at(-1)!;
    await server.store.users.create({ name: "root", password: "root's password", role: "admin" });
    await server.store.users.create({ name: "bob", password: "bob's password" });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists and serves reports to an admin, under a strict CSP", async () => {
    const root = new AppClient(server.url);
    await root.login("root", "root's password");
    const list = await root.request("GET", "/api/audits");
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.json.data.map((entry: any) => [entry.name, entry.a, entry.b]),
      [[name, "scripted", "scripted"]],
    );
    const page = await root.request("GET", `/api/audits/${name}`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    assert.match(page.text, /Model audit: scripted vs scripted/);
    // (`..` alone is resolved away by the URL parser before it is sent: no route, also a 404.)
    for (const bad of ["..%2F..%2Fetc%2Fpasswd", "audit-..%2F..%2Fx.html", "audit-x.json", "nothing.html"]) {
      const refused = await root.request("GET", `/api/audits/${bad}`);
      assert.equal(refused.status, 404, bad);
      assert.equal(refused.json.error.code, "audit_report_not_found", bad);
    }
  });

  it("refuses other users with 403", async () => {
    const bob = new AppClient(server.url);
    await bob.login("bob", "bob's password");
    assert.equal((await bob.request("GET", "/api/audits")).status, 403);
    assert.equal((await bob.request("GET", `/api/audits/${name}`)).status, 403);
  });
});
