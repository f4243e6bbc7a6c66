// A reply's provenance in the app: the Details dialog shows the weights' and template's SHA-256,
// the seed and the engine; Replay re-runs the reply on the server and says it is identical. Axe
// finds nothing on the open dialog, in light and dark, and Esc closes it back to its button.
import assert from "node:assert/strict";
import { test } from "node:test";
import { appUnderTest, openPage, assertAccessible } from "./e2e-harness.js";

const app = appUnderTest();

for (const colorScheme of ["light", "dark"] as const) {
  test(`the Details dialog shows the reply's hashes and seed, and Replay says identical (${colorScheme})`, async () => {
    const watched = await openPage(app.browser, app.server.url, { colorScheme });
    const { page } = watched;
    const input = page.getByLabel("Message", { exact: true });
    await input.fill("Where does this answer come from?");
    await input.press("Enter");
    const reply = page.locator(".message.assistant[data-status=complete]").last();
    await reply.waitFor();

    const details = reply.getByRole("button", { name: "Details" });
    await details.click();
    const dialog = page.getByRole("dialog", { name: "How this reply was made" });
    await dialog.waitFor();
    const text = (await dialog.textContent()) ?? "";
    const hashes = await dialog.locator("code.hash").allTextContents();
    assert.ok(
      hashes.filter((hash) => /^[0-9a-f]{64}$/.test(hash)).length >= 2,
      `file and template SHA-256 shown: ${JSON.stringify(hashes)}`,
    );
    assert.ok(
      hashes.some((hash) => /^fp_[0-9a-f]{10}$/.test(hash)),
      "the system fingerprint is shown",
    );
    assert.match(text, /Seed\d+/);
    assert.match(text, /node-llama-cpp 3\.\d+\.\d+ · llama\.cpp \S+ · CPU/);
    assert.match(text, /temperature 1 · top_p 1/);
    await assertAccessible(page, `provenance dialog (${colorScheme})`);

    await dialog.getByRole("button", { name: "Replay" }).click();
    await dialog
      .getByRole("status")
      .getByText(/Identical: \d+ tokens, token for token/)
      .waitFor();
    await assertAccessible(page, `replay result (${colorScheme})`);

    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    assert.equal(await details.evaluate((button) => button === document.activeElement), true);
    assert.deepEqual(watched.errors, []);
    assert.deepEqual(watched.cspViolations, []);
    await watched.context.close();
  });
}
