// The models page against the real server and its model manager: file facts, unload and load
// shown as they happen, a pull that fails (nothing can be downloaded here) showing the server's
// own message, and deleting a model after a confirmation.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import type { ModelManager } from "../../src/core/engine.js";
import { LocalModelManager } from "../../src/engines/local/model-manager.js";
import { ensureFixtureModels } from "../fixtures/models.js";
import { AppClient, startTestServer, type TestServer } from "../integration/harness.js";
import { launchBrowser, openPage } from "./e2e-harness.js";

let server: TestServer;
let browser: Browser;
/** Where the model manager keeps its models, as `qiusuo serve` keeps them in its data dir. */
const dataDir = mkdtempSync(join(tmpdir(), "qiusuo-e2e-models-"));

before(async () => {
  // The manager needs the server's engine, which startTestServer makes: hand the app a forwarder.
  const made: { manager?: LocalModelManager } = {};
  const models: ModelManager = {
    pull: (reference, onProgress) => made.manager!.pull(reference, onProgress),
    load: (model) => made.manager!.load(model),
    unload: (model) => made.manager!.unload(model),
    remove: (model) => made.manager!.remove(model),
  };
  server = await startTestServer({ app: { models } });
  made.manager = new LocalModelManager(server.engine, {
    dataDir,
    // Nothing listens here: a pull that got as far as downloading fails at once.
    huggingFaceEndpoint: "http://127.0.0.1:9",
  });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function serverState(id: string): Promise<string> {
  const answer = await new AppClient(server.url).request("GET", "/api/models");
  return (answer.json.data as Array<{ id: string; state: string }>).find((model) => model.id === id)!.state;
}

test("models page: facts of each model; unload and load update the state shown", async () => {
  const watched = await openPage(browser, `${server.url}/settings/models`);
  const { page } = watched;
  const row = page.locator("tr[data-model-id=scripted]");
  await row.waitFor();
  const cells = await row.locator("td").allTextContents();
  assert.match(cells[0]!, /MB/, "size");
  assert.equal(cells[1], "F32", "quantization");
  assert.equal(cells[2], "512", "context");
  assert.equal(cells[3], "Loaded");

  await row.getByRole("button", { name: "Unload: scripted" }).click();
  await row.locator("td.model-state[data-state=available]").waitFor();
  assert.match((await row.locator("td.model-state").textContent()) ?? "", /Not loaded/);
  assert.equal(await serverState("scripted"), "available");

  await row.getByRole("button", { name: "Load: scripted" }).click();
  await row.locator("td.model-state[data-state=ready]").waitFor();
  assert.equal(await serverState("scripted"), "ready");
  assert.deepEqual(watched.errors, []);
  await watched.context.close();
});

test("a pull that fails shows the server's message", async () => {
  const alias = "no-such-model:7b";
  const refused = await new AppClient(server.url).request("POST", "/api/models/pull", { model: alias });
  const message: string =
    refused.json?.error?.message ?? /"message":"([^"]+)"/.exec(refused.text)?.[1] ?? "(no message)";

  const watched = await openPage(browser, `${server.url}/settings/models`);
  const { page } = watched;
  await page.getByLabel("Catalog alias or hf:owner/repo/file.gguf").fill(alias);
  await page.getByRole("button", { name: "Pull" }).click();
  const alert = page.locator(".pull [role=alert]");
  await alert.waitFor();
  assert.match((await alert.textContent()) ?? "", new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  // The form is usable again and no model was added.
  await page.getByRole("button", { name: "Pull" }).waitFor({ state: "visible" });
  assert.equal(await page.getByRole("button", { name: "Pull" }).isEnabled(), true);
  assert.equal(await page.locator("tr[data-model-id]").count(), 1);
  // The refusal is the only failed request.
  assert.deepEqual(
    watched.errors.filter((error) => !/ POST .*\/api\/models\/pull$/.test(error)),
    [],
  );
  await watched.context.close();
});

test("deleting a model: confirmed, gone from the page and the disk; a loaded one is refused", async () => {
  const file = join(dataDir, "models", "spare.gguf");
  mkdirSync(join(dataDir, "models"), { recursive: true });
  copyFileSync(ensureFixtureModels().tiny, file);
  await server.engine.addModelFile(file);

  const watched = await openPage(browser, `${server.url}/settings/models`);
  const { page } = watched;
  const loaded = page.locator("tr[data-model-id=scripted]");
  await loaded.getByRole("button", { name: "Delete: scripted" }).click();
  await loaded.getByRole("alert").waitFor();
  assert.match((await loaded.getByRole("alert").textContent()) ?? "", /is loaded; unload it first/);
  assert.equal(await serverState("scripted"), "ready");

  const spare = page.locator("tr[data-model-id=spare]");
  await spare.getByRole("button", { name: "Delete: spare" }).click();
  await spare.waitFor({ state: "detached" });
  assert.equal(existsSync(file), false);
  const listed = await new AppClient(server.url).request("GET", "/api/models");
  assert.deepEqual(
    (listed.json.data as Array<{ id: string }>).map((model) => model.id),
    ["scripted"],
  );
  assert.deepEqual(watched.dialogs, [
    "confirm: Delete the model scripted? Its file is removed from disk; pull it again to get it back.",
    "confirm: Delete the model spare? Its file is removed from disk; pull it again to get it back.",
  ]);
  // The refusal is the only failed request.
  assert.deepEqual(
    watched.errors.filter((error) => !/^409 DELETE .*\/api\/models\/scripted$/.test(error)),
    [],
  );
  await watched.context.close();
});
