// Upstream pools in the chat app, in real Chromium: a llama-server pool (llama.cpp's own server on
// the scripted fixture) beside the local model, and a pool that cannot be reached. The models page
// labels each upstream model with its pool and health and offers no load/unload/delete for it;
// its upstreams section lists each pool's replicas; the composer's picker groups models by pool
// and refuses the unreachable one, saying why; a chat with the upstream model streams its answer
// with the reasoning shown apart. axe finds nothing on either screen.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { upstreamPoolSchema } from "../../src/config/config.js";
import { RemoteEngine } from "../../src/engines/remote/remote-engine.js";
import { ensureFixtureModels } from "../fixtures/models.js";
import { startTestServer, waitFor, type TestServer } from "../integration/harness.js";
import { startLlamaServer, type UpstreamServer } from "../integration/upstream-servers.js";
import { launchBrowser, openPage, assertAccessible } from "./e2e-harness.js";

let llama: UpstreamServer;
let pool: RemoteEngine;
let dead: RemoteEngine;
let server: TestServer;
let browser: Browser;

before(async () => {
  llama = await startLlamaServer({ model: ensureFixtureModels().scripted, alias: "scripted", ctx: 1024 });
  pool = new RemoteEngine({
    name: "ls",
    config: upstreamPoolSchema.parse({ urls: [llama.url], healthSeconds: 0, discoverySeconds: 600 }),
  });
  dead = new RemoteEngine({
    name: "dead",
    config: upstreamPoolSchema.parse({
      urls: ["http://127.0.0.1:9"],
      models: ["ghost"],
      healthSeconds: 0,
      discoverySeconds: 600,
      connectTimeoutSeconds: 2,
    }),
  });
  await Promise.all([pool.start(), dead.start()]);
  server = await startTestServer({
    upstreams: [
      { name: "ls", engine: pool },
      { name: "dead", engine: dead },
    ],
    app: { pools: () => [pool.health(), dead.health()] },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
  await llama?.stop();
});

test("models page: upstream models with their pool and health, and the pools' replicas", async () => {
  const watched = await openPage(browser, `${server.url}/settings/models`);
  const { page } = watched;

  const upstream = page.locator('tr[data-model-id="ls/scripted"]');
  await upstream.waitFor();
  assert.equal(await upstream.locator(".pool-badge").textContent(), "Upstream: ls");
  assert.equal(await upstream.locator("td.model-state").textContent(), "Online");
  // Loading, unloading and deleting happen on the upstream's own server, not here.
  assert.equal(await upstream.getByRole("button").count(), 0);
  assert.match((await upstream.textContent()) ?? "", /Managed upstream/);

  const unreachable = page.locator('tr[data-model-id="dead/ghost"]');
  assert.equal(await unreachable.locator("td.model-state").getAttribute("data-state"), "failed");
  assert.match(
    (await unreachable.locator("td.model-state").textContent()) ?? "",
    /^Unavailable.*No replica of dead/,
  );
  assert.equal(await unreachable.getByRole("button").count(), 0);

  // The local model keeps its buttons and has no pool badge.
  const local = page.locator("tr[data-model-id=scripted]");
  assert.equal(await local.locator(".pool-badge").count(), 0);
  await local.getByRole("button", { name: "Unload: scripted" }).waitFor();

  const section = page.getByRole("region", { name: "Upstream pools" });
  const lsPool = section.locator("section[data-pool=ls]");
  await lsPool.waitFor();
  assert.equal(await lsPool.locator(".pool-state").textContent(), "Healthy");
  const replica = lsPool.locator(`tr[data-replica="${llama.url}"]`);
  assert.deepEqual(await replica.locator("td").allTextContents(), ["Healthy", "0", "—"]);
  const deadPool = section.locator("section[data-pool=dead]");
  assert.equal(await deadPool.locator(".pool-state").textContent(), "Down");
  assert.match(
    (await deadPool.locator(".pool-reason").textContent()) ?? "",
    /No replica of dead is in service/,
  );
  assert.match(
    (await deadPool.locator('tr[data-replica="http://127.0.0.1:9"] td').last().textContent()) ?? "",
    /cannot be reached/,
  );

  await assertAccessible(page, "models page with upstream pools");
  assert.deepEqual(watched.errors, []);
  await watched.context.close();

  const dark = await openPage(browser, `${server.url}/settings/models`, { colorScheme: "dark" });
  await dark.page.locator("section[data-pool=dead] .pool-state").waitFor();
  await assertAccessible(dark.page, "models page with upstream pools, dark");
  await dark.context.close();
});

test("the picker groups models by pool; a chat with the upstream model streams its answer and reasoning", async () => {
  const watched = await openPage(browser, server.url);
  const { page } = watched;
  const picker = page.locator(".model-picker");
  // Preact sets an option's value as a property, so options are found by their text.
  await picker.locator("option", { hasText: "ls/scripted" }).waitFor({ state: "attached" });
  const groups = await picker.locator("optgroup").evaluateAll((elements) =>
    elements.map((group) => ({
      label: group.getAttribute("label"),
      options: [...group.querySelectorAll("option")].map((option) => [option.value, option.disabled]),
    })),
  );
  assert.deepEqual(groups, [
    { label: "This server", options: [["scripted", false]] },
    { label: "Upstream: ls", options: [["ls/scripted", false]] },
    { label: "Upstream: dead", options: [["dead/ghost", true]] },
  ]);
  const ghost = picker.locator("option", { hasText: "dead/ghost" });
  assert.equal(await ghost.textContent(), "dead/ghost (unavailable)");
  assert.match((await ghost.getAttribute("title")) ?? "", /No replica of dead is in service/);

  const servedBefore = pool.health().replicas[0]!.served;
  await picker.selectOption("ls/scripted");
  await page.getByRole("button", { name: "DeepThink" }).click();
  const input = page.getByLabel("Message", { exact: true });
  await input.fill("What is six times seven?");
  await input.press("Enter");
  const reply = page.locator(".message.assistant[data-status=complete]").last();
  await reply.waitFor();
  assert.match((await reply.locator(".markdown").textContent()) ?? "", /The answer is 42/);
  // llama-server sends the <think> block inside its content; the app shows it apart.
  assert.match((await reply.locator(".reasoning").textContent()) ?? "", /let me think/);
  assert.doesNotMatch((await reply.locator(".markdown").textContent()) ?? "", /let me think|<think>/);
  // The upstream answered, not the local model of the same name.
  await waitFor(
    () => pool.health().replicas[0]!.served > servedBefore,
    () => "the llama-server replica served the reply",
  );
  await assertAccessible(page, "chat with an upstream model");
  assert.deepEqual(watched.errors, []);
  await watched.context.close();
});
