// The empty chat's start page: suggestion chips in the user's language that fill the composer,
// and icons drawn as inline SVG (emoji glyphs render as empty boxes where no emoji font exists).
import assert from "node:assert/strict";
import { test } from "node:test";
import { appUnderTest, assertAccessible, openPage } from "./e2e-harness.js";

const app = appUnderTest();

/** Emoji, and the symbols the buttons used before (↑ ■ ☰): none may be a button's visible text. */
const GLYPH = /[\u{1F300}-\u{1FAFF}\u{2600}-\u{27BF}↑■☰]/u;

test("suggestion chips in English fill the composer, and a chip's prompt gets a reply", async () => {
  const watched = await openPage(app.browser, app.server.url, { locale: "en-US" });
  const { page } = watched;
  const chips = page.getByRole("list", { name: "Suggestions" }).getByRole("button");
  assert.equal(await chips.count(), 4);
  const first = (await chips.first().textContent()) ?? "";
  assert.match(first, /quantum entanglement/);

  await chips.first().click();
  const input = page.getByLabel("Message", { exact: true });
  // The composer takes the prompt on its next render; wait for it rather than read at once.
  await page.waitForFunction(
    (text) =>
      (document.querySelector("textarea[aria-label=Message]") as HTMLTextAreaElement | null)?.value === text,
    first,
  );
  assert.equal(await input.inputValue(), first);
  // The prompt is focused for editing, not sent behind the user's back.
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Message");
  assert.equal(await page.locator(".message").count(), 0);

  await input.press("Enter");
  await page.locator(".message.assistant[data-status=complete]").waitFor();
  assert.equal(await page.locator(".message.user .bubble").textContent(), first);
  // A chat with messages has no start page.
  assert.equal(await page.locator(".suggestions").count(), 0);
  await assertAccessible(page, "chat after a suggestion");
  assert.deepEqual(watched.errors, []);
  await watched.context.close();
});

test("the chips follow the language: Simplified and Traditional Chinese", async () => {
  const watched = await openPage(app.browser, app.server.url, { locale: "zh-CN" });
  const { page } = watched;
  const chips = page.getByRole("list", { name: "试试这些" }).getByRole("button");
  await chips.first().waitFor();
  assert.match((await chips.first().textContent()) ?? "", /量子纠缠/);
  await page.getByRole("button", { name: /简→正/ }).click();
  const traditional = page.getByRole("list", { name: "試試這些" }).getByRole("button");
  assert.match((await traditional.first().textContent()) ?? "", /量子糾纏/);
  await assertAccessible(page, "start page (zh-Hant)");
  await watched.context.close();
});

test("icon buttons show inline SVG and no emoji, in light and dark", async () => {
  for (const colorScheme of ["light", "dark"] as const) {
    const watched = await openPage(app.browser, app.server.url, {
      locale: "en-US",
      colorScheme,
      viewport: { width: 390, height: 800 },
    });
    const { page } = watched;
    await page.getByRole("button", { name: "Attach files" }).waitFor();
    for (const name of ["Attach files", "Send", "Menu", "Switch light / dark"]) {
      const button = page.getByRole("button", { name, exact: true });
      assert.equal(await button.locator("svg").count(), 1, `${name} has one svg`);
      assert.doesNotMatch((await button.textContent()) ?? "", GLYPH, name);
    }
    // A chat in the sidebar: its rename and delete buttons are icons too.
    const input = page.getByLabel("Message", { exact: true });
    await input.fill("hello");
    await input.press("Enter");
    await page.locator(".message.assistant[data-status=complete]").waitFor();
    const buttons = await page
      .locator("button")
      .evaluateAll((all) =>
        all.map((button) => ({ name: button.getAttribute("aria-label"), text: button.textContent ?? "" })),
      );
    for (const button of buttons) assert.doesNotMatch(button.text, GLYPH, String(button.name));
    await assertAccessible(page, `chat with icons (${colorScheme})`);
    await watched.context.close();
  }
});
