// A reranker in the app: the models page marks it, and the chat's model picker does not offer it
// (it scores documents at /v1/rerank and cannot chat).
import assert from "node:assert/strict";
import { test } from "node:test";
import { ensureFixtureModels, ensureRerankerModel } from "../fixtures/models.js";
import { waitFor } from "../integration/harness.js";
import { appUnderTest, assertAccessible, openPage } from "./e2e-harness.js";

const app = appUnderTest({
  models: [{ file: ensureFixtureModels().scripted }, { file: ensureRerankerModel() }],
});

test("the models page marks the reranker and the picker leaves it out", async () => {
  const watched = await openPage(app.browser, app.server.url);
  const { page } = watched;
  const picker = page.getByLabel("Model", { exact: true });
  const options = () =>
    picker.locator("option").evaluateAll((list) => list.map((option) => (option as HTMLOptionElement).value));
  // The picker is drawn before the server's model list arrives; the chat model's option shows it has.
  await waitFor(async () => (await options()).includes("scripted"), "the models are listed");
  const offered = await options();
  assert.ok(offered.includes("scripted"), offered.join(", "));
  assert.ok(!offered.includes("reranker"), offered.join(", "));

  await page.goto(`${app.server.url}/settings/models`);
  const row = page.locator('tr[data-model-id="reranker"]');
  await row.waitFor();
  assert.equal(await row.locator(".badge", { hasText: "Reranker" }).count(), 1);
  assert.equal(await page.locator('tr[data-model-id="scripted"] .badge', { hasText: "Reranker" }).count(), 0);
  await assertAccessible(page, "models page with a reranker");
  assert.deepEqual(watched.errors, []);
  await watched.context.close();
});
