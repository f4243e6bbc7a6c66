// Accounts mode in the browser: first-run setup from the terminal's link, logout and login, API
// keys (created, shown once, used against the API, revoked in the UI) and the usage page.
import assert from "node:assert/strict";
import { test } from "node:test";
import { postJson } from "../integration/harness.js";
import { appUnderTest, openPage } from "./e2e-harness.js";

const app = appUnderTest({ accounts: true });

test("setup, logout, login, API keys and usage", async () => {
  const token = app.server.auth.setupToken;
  assert.ok(token, "a fresh accounts-mode server waits for setup");
  const watched = await openPage(app.browser, `${app.server.url}/setup?token=${encodeURIComponent(token)}`);
  const { page } = watched;

  // Setup: the link fills the token in; the new admin lands in the app, logged in.
  assert.equal(await page.getByLabel("Setup token").inputValue(), token);
  await page.getByLabel("Name").fill("ada");
  await page.getByLabel("Password").fill("correct horse battery");
  // A mistyped token is refused with the server's words.
  await page.getByLabel("Setup token").fill("mistyped");
  await page.getByRole("button", { name: "Create administrator" }).click();
  await page.getByRole("alert").filter({ hasText: "The setup token is wrong" }).waitFor();
  await page.getByLabel("Setup token").fill(token);
  await page.getByRole("button", { name: "Create administrator" }).click();
  await page.getByLabel("Message", { exact: true }).waitFor();
  assert.equal(new URL(page.url()).pathname, "/");
  assert.equal(app.server.auth.setupToken, undefined);

  // A chat works behind the session (its writes carry the CSRF token).
  await page.getByLabel("Message", { exact: true }).fill("hello");
  await page.keyboard.press("Enter");
  await page.locator(".message.assistant[data-status=complete]").waitFor();

  // Logout lands on the login page; a wrong password is refused with a visible message.
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("heading", { name: "Log in to qiusuo" }).waitFor();
  assert.equal(new URL(page.url()).pathname, "/login");
  await page.getByLabel("Name").fill("ada");
  await page.getByLabel("Password").fill("wrong password");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("alert").filter({ hasText: "Wrong name or password." }).waitFor();
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByLabel("Message", { exact: true }).waitFor();
  // The chat from before the logout is still there.
  await page.locator(".conversation a", { hasText: "hello" }).waitFor();

  // API keys: created, shown once with a copy button.
  await page.getByRole("link", { name: "API keys" }).click();
  await page.getByRole("heading", { name: "API keys" }).waitFor();
  await page.getByLabel("Key name").fill("laptop");
  await page.getByRole("button", { name: "Create key" }).click();
  const plaintext = (await page.locator(".plaintext-key").textContent()) ?? "";
  assert.match(plaintext, /^sk-/);
  await page.locator(".new-key").getByRole("button", { name: "Copy" }).click();
  await page.locator(".new-key").getByRole("button", { name: "Copied" }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), plaintext);
  const row = page.locator("tr", { hasText: "laptop" });
  await row.getByText("Active").waitFor();
  // Shown once: after leaving the page the key itself is gone, only its prefix remains.
  await page.getByRole("link", { name: "Usage" }).click();
  await page.getByRole("link", { name: "API keys" }).click();
  await row.waitFor();
  assert.equal(await page.locator(".plaintext-key").count(), 0);
  assert.doesNotMatch((await page.locator("main").textContent()) ?? "", new RegExp(plaintext));

  // The key works against the DeepSeek API...
  const chat = (authorization: string) =>
    postJson(
      `${app.server.url}/v1/chat/completions`,
      { model: "deepseek-chat", messages: [{ role: "user", content: "hi" }] },
      { authorization },
    );
  const accepted = await chat(`Bearer ${plaintext}`);
  assert.equal(accepted.status, 200, accepted.text);
  assert.match(accepted.json.choices[0].message.content, /42/);

  // ...and the usage page shows that request, under the key.
  await page.getByRole("link", { name: "Usage" }).click();
  await page.getByRole("heading", { name: "Usage" }).waitFor();
  await page.getByLabel("Group by").selectOption("key");
  const usageRow = page.locator("tbody tr", { hasText: "laptop" });
  await usageRow.waitFor();
  // Columns: requests, prompt, cache hits, completion, reasoning, total tokens.
  const cells = await usageRow.locator("td").allTextContents();
  assert.equal(cells[0], "1");
  assert.ok(Number(cells[5]) > 0, `total tokens: ${cells[5]}`);

  // Revoked in the UI (after a confirm), the key is refused at once.
  await page.getByRole("link", { name: "API keys" }).click();
  await row.getByRole("button", { name: "Revoke: laptop" }).click();
  await row.getByText("Revoked").waitFor();
  assert.equal(watched.dialogs.length, 1);
  assert.equal((await chat(`Bearer ${plaintext}`)).status, 401);

  // The only failed requests the page made are the refused setup token and login.
  assert.deepEqual(
    watched.errors.filter((error) => !/^40[13] POST .*\/api\/(login|setup)$/.test(error)),
    [],
  );
  assert.equal(watched.errors.length, 2);
  assert.deepEqual(watched.cspViolations, []);
  await watched.context.close();
});

test("once set up, the setup link leads to the login page", async () => {
  const watched = await openPage(app.browser, `${app.server.url}/setup?token=nope`);
  await watched.page.getByRole("heading", { name: "Log in to qiusuo" }).waitFor();
  await watched.context.close();
});
