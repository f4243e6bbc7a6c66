// The models page pulls a model through the Hugging Face stand-in (test/integration/hf-mirror.ts):
// the admin types an hf: reference (then a catalog alias), watches the progress bar move while the
// mirror sends the file slowly, and sees the model listed as available, its file verified on disk.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import type { ModelManager } from "../../src/core/engine.js";
import { findCatalogModel } from "../../src/engines/local/model-catalog.js";
import { LocalModelManager } from "../../src/engines/local/model-manager.js";
import { AppClient, postJson, startTestServer, type TestServer } from "../integration/harness.js";
import { HuggingFaceMirror, sha256Of } from "../integration/hf-mirror.js";
import { launchBrowser, openPage } from "./e2e-harness.js";

let server: TestServer;
let browser: Browser;
let mirror: HuggingFaceMirror;
let dataDir: string;
let body: Buffer;
const defaultModel = findCatalogModel("deepseek-r1:1.5b")!;

before(async () => {
  mirror = await HuggingFaceMirror.start();
  // The manager needs the server's engine, which startTestServer makes: hand the app a forwarder.
  const made: { manager?: LocalModelManager } = {};
  const models: ModelManager = {
    pull: (reference, onProgress) => made.manager!.pull(reference, onProgress),
    load: (model) => made.manager!.load(model),
    unload: (model) => made.manager!.unload(model),
    remove: (model) => made.manager!.remove(model),
  };
  server = await startTestServer({ app: { models } });
  body = readFileSync(server.fixtures.scripted);
  dataDir = mkdtempSync(join(tmpdir(), "qiusuo-e2e-pull-"));
  made.manager = new LocalModelManager(server.engine, {
    dataDir,
    huggingFaceEndpoint: mirror.endpoint,
    // The default alias, pinned to the fixture the mirror serves under its real name.
    catalogOverrides: [{ ...defaultModel, size: body.length, sha256: sha256Of(body) }],
  });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.close();
  await mirror?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/** Samples the progress bar's value until it goes away; returns the distinct values seen. */
async function watchProgressBar(page: Page): Promise<number[]> {
  const bar = page.locator(".pull-progress progress");
  await bar.waitFor();
  return page.evaluate(async () => {
    const values: number[] = [];
    for (;;) {
      const element = document.querySelector<HTMLProgressElement>(".pull-progress progress");
      if (element === null) return values;
      if (element.hasAttribute("value") && values.at(-1) !== element.value) values.push(element.value);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
}

async function pullOnPage(page: Page, reference: string): Promise<number[]> {
  await page.getByLabel("Catalog alias or hf:owner/repo/file.gguf").fill(reference);
  await page.getByRole("button", { name: "Pull" }).click();
  return watchProgressBar(page);
}

test("models page: an hf: pull shows its progress bar moving, then the model is available", async () => {
  const key = "qiusuo-test/Scripted-GGUF/scripted-F32.gguf";
  const reference = mirror.serve(key, { body, bytesPerSecond: 700_000 });
  const watched = await openPage(browser, `${server.url}/settings/models`);
  const { page } = watched;
  await page.locator("tr[data-model-id=scripted]").waitFor();

  const values = await pullOnPage(page, reference);
  const between = values.filter((value) => value > 0 && value < 100);
  assert.ok(new Set(between).size >= 2, `the bar moved: ${JSON.stringify(values)}`);
  assert.deepEqual(
    values,
    [...values].sort((a, b) => a - b),
    "and never went back",
  );

  const row = page.locator("tr[data-model-id=scripted-F32]");
  await row.locator("td.model-state[data-state=available]").waitFor();
  assert.match((await row.textContent()) ?? "", /Not loaded/);
  assert.match((await row.locator("td").first().textContent()) ?? "", /^2\.\d MB$/);
  assert.match((await page.locator(".pull p.hint[role=status]").textContent()) ?? "", /scripted-F32/);
  // The input is cleared and the form usable again.
  assert.equal(await page.getByLabel("Catalog alias or hf:owner/repo/file.gguf").inputValue(), "");
  assert.equal(await page.getByRole("button", { name: "Pull" }).isEnabled(), true);

  // What the page shows is what the server has: the verified file, fetched once.
  const listed = await new AppClient(server.url).request("GET", "/api/models");
  const model = (listed.json.data as Array<{ id: string; state: string; aliases: string[] }>).find(
    (entry) => entry.id === "scripted-F32",
  );
  assert.equal(model?.state, "available");
  assert.deepEqual(model?.aliases, [reference]);
  assert.deepEqual(readFileSync(join(dataDir, "models", "scripted-F32.gguf")), body);
  assert.equal(mirror.cdnRequests(key).length, 1);
  assert.deepEqual(watched.errors, []);
  await watched.context.close();
});

test("models page: a catalog alias pulls the file it names and the model answers to the alias", async () => {
  const key = `${defaultModel.repo}/${defaultModel.file}`;
  // The connection drops half way: the page sees one pull that finishes.
  mirror.serve(key, { body, bytesPerSecond: 1_500_000, dropAfterBytes: 1_000_000 });
  const watched = await openPage(browser, `${server.url}/settings/models`);
  const { page } = watched;
  await page.locator("tr[data-model-id=scripted]").waitFor();

  const values = await pullOnPage(page, "deepseek-r1:1.5b");
  assert.ok(
    values.some((value) => value > 0 && value < 100),
    JSON.stringify(values),
  );
  const id = defaultModel.file.replace(/\.gguf$/, "");
  const row = page.locator(`tr[data-model-id="${id}"]`);
  await row.locator("td.model-state[data-state=available]").waitFor();
  assert.match((await row.locator("th .meta").textContent()) ?? "", /deepseek-r1:1\.5b/);
  assert.equal(mirror.cdnRequests(key).length, 2);
  assert.match(mirror.cdnRequests(key)[1]?.range ?? "", /^bytes=[1-9]\d*-$/, "resumed, not restarted");
  const answer = await postJson(`${server.url}/v1/chat/completions`, {
    model: "deepseek-r1:1.5b",
    messages: [{ role: "user", content: "Q" }],
  });
  assert.equal(answer.json?.choices?.[0]?.message?.content, "The answer is 42", answer.text);
  assert.deepEqual(watched.errors, []);
  await watched.context.close();
});
