// Knowledge collections in Chromium against the real server (accounts mode; the tiny fixture model
// embeds): from the sidebar, create a collection, upload a Markdown and a text file by the picker
// (upload progress seen on a throttled connection, indexing progress polled until both are
// ready), drop a fake PDF and read the server's reason it failed, search and see the passage with
// its file, rename, remove a file, and delete the collection after confirming. Another user gets
// "not found" for it. Axe finds nothing on either page, light and dark, and at phone width the
// collection page does not scroll sideways. A Chinese browser gets the pages in Chinese.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { AppClient } from "../integration/harness.js";
import { appUnderTest, assertAccessible, openPage, type WatchedPage } from "./e2e-harness.js";

const app = appUnderTest({ accounts: true, models: ["tiny"] });
const ADA = { name: "ada", password: "correct horse battery" };
const BO = { name: "bo", password: "bo's own password" };
const PHONE = { width: 375, height: 740 };

const NOTES = `# Garden notes

## Roses

Roses want six hours of direct sun and a deep watering once a week.

## Tomatoes

Pinch out the side shoots of tomatoes so the plant puts its strength into fruit.
`;
const LOG = "The greenhouse thermometer read 24 degrees at noon on the first of June.\n";
/** Big enough that indexing takes several polls and the upload several progress events. */
const ALMANAC = Array.from(
  { length: 5000 },
  (_, index) => `Day ${index}: the almanac records wind from the west and light rain over the orchard.`,
).join("\n\n");

async function logIn(page: Page, user: { name: string; password: string }): Promise<void> {
  await page.getByLabel("Name", { exact: true }).fill(user.name);
  await page.getByLabel("Password", { exact: true }).fill(user.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByLabel("Message", { exact: true }).waitFor();
}

async function bothThemes(watched: WatchedPage, screen: string): Promise<void> {
  for (const scheme of ["light", "dark"] as const) {
    await watched.page.emulateMedia({ colorScheme: scheme });
    await assertAccessible(watched.page, `${screen} (${scheme})`);
  }
  await watched.page.emulateMedia({ colorScheme: "light" });
}

/** The highest `value` any progress bar named `label` showed, sampled until the bar is gone. */
async function watchProgress(page: Page, label: string): Promise<{ value: number; max: number }> {
  return page.evaluate(async (label) => {
    let best = { value: 0, max: 0 };
    const deadline = Date.now() + 60_000;
    let seen = false;
    while (Date.now() < deadline) {
      const bar = document.querySelector<HTMLProgressElement>(`progress[aria-label="${label}"]`);
      if (bar) {
        seen = true;
        if (bar.hasAttribute("value") && bar.value >= best.value) best = { value: bar.value, max: bar.max };
      } else if (seen) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return best;
  }, label);
}

test("a collection from creation to deletion, with progress, a failed file and a search", async () => {
  const setup = await new AppClient(app.server.url).request("POST", "/api/setup", {
    token: app.server.auth.setupToken,
    ...ADA,
  });
  assert.equal(setup.status, 200, setup.text);
  await app.server.store.users.create(BO);

  const watched = await openPage(app.browser, `${app.server.url}/login`);
  const { page } = watched;
  await logIn(page, ADA);

  await page.getByRole("link", { name: "Knowledge" }).click();
  await page.waitForURL(/\/knowledge$/);
  await page.getByText("No collections yet.").waitFor();
  await bothThemes(watched, "empty knowledge page");

  await page.getByLabel("Name", { exact: true }).fill("Garden");
  await page.getByLabel("Description").fill("What grows where");
  await page.getByRole("button", { name: "Create collection" }).click();
  await page.waitForURL(/\/knowledge\/[^/]+$/);
  const id = decodeURIComponent(new URL(page.url()).pathname.slice("/knowledge/".length));
  await page.locator("h1.title", { hasText: "Garden" }).waitFor();
  await page.getByText("No files yet.").waitFor();

  // Three files by the picker, one request each in turn, on a slow connection so that the big
  // one's upload is seen going up; then its indexing is seen counting until everything is ready.
  const cdp = await watched.context.newCDPSession(page);
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: 150_000,
  });
  await page.locator(".knowledge-drop input[type=file]").setInputFiles([
    { name: "almanac.txt", mimeType: "text/plain", buffer: Buffer.from(ALMANAC) },
    { name: "notes.md", mimeType: "text/markdown", buffer: Buffer.from(NOTES) },
    { name: "log.txt", mimeType: "text/plain", buffer: Buffer.from(LOG) },
  ]);
  const uploading = await watchProgress(page, "Uploading almanac.txt");
  assert.equal(uploading.max, Buffer.byteLength(ALMANAC));
  assert.ok(uploading.value > 0, "upload progress moved");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: -1,
  });
  const indexing = await watchProgress(page, "Indexing almanac.txt");
  assert.ok(indexing.max > 1 && indexing.value > 0, `indexing progress seen: ${JSON.stringify(indexing)}`);
  const rows = page.locator(".knowledge-file");
  for (const name of ["almanac.txt", "notes.md", "log.txt"])
    await rows.filter({ hasText: name }).and(page.locator("[data-status=ready]")).waitFor();
  // Nothing left to watch: the page stops asking.
  let polls = 0;
  const countPolls = (request: { method(): string; url(): string }) => {
    if (request.method() === "GET" && new URL(request.url()).pathname === `/api/collections/${id}`) polls++;
  };
  await page.waitForTimeout(1200);
  page.on("request", countPolls);
  await page.waitForTimeout(2500);
  page.off("request", countPolls);
  assert.equal(polls, 0, "no polling once every file is ready");

  // A fake PDF, dropped on the page: it fails, and the server's reason is shown.
  const dropped = await page.evaluateHandle(() => {
    const transfer = new DataTransfer();
    transfer.items.add(new File(["just text"], "fake.pdf", { type: "application/pdf" }));
    return transfer;
  });
  await page.locator(".knowledge-drop").dispatchEvent("drop", { dataTransfer: dropped });
  const failed = rows.filter({ hasText: "fake.pdf" });
  await failed.and(page.locator("[data-status=failed]")).waitFor();
  await failed.getByText("fake.pdf is named .pdf but is not a PDF file.").waitFor();

  // A trial search finds the passage, named by its file.
  await page.getByRole("searchbox", { name: "Search this collection" }).fill("how much sun do roses want");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  const hits = page.getByRole("list", { name: "Passages found" });
  const rose = hits.getByRole("listitem").first();
  await rose.getByText("notes.md").waitFor();
  await rose.getByText("six hours of direct sun").waitFor();
  await bothThemes(watched, "collection page");

  // Renamed; one file removed after a confirm.
  await page.getByLabel("Name", { exact: true }).fill("Garden and greenhouse");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("status").getByText("Saved.").waitFor();
  await page.locator("h1.title", { hasText: "Garden and greenhouse" }).waitFor();
  await page.getByRole("button", { name: "Remove log.txt" }).click();
  await rows.filter({ hasText: "log.txt" }).waitFor({ state: "detached" });
  assert.equal(watched.dialogs.length, 1, "removing a file asks first");

  // The list shows it with its counts.
  await page.getByRole("link", { name: "All collections" }).click();
  const listed = page.locator(".knowledge-table tbody tr", { hasText: "Garden and greenhouse" });
  await listed.waitFor();
  assert.equal(await listed.locator("td").nth(1).textContent(), "3");
  await bothThemes(watched, "knowledge list");

  // Another user: not in their list, and its page is "not found".
  const other = await openPage(app.browser, `${app.server.url}/login`);
  await logIn(other.page, BO);
  await other.page.goto(`${app.server.url}/knowledge`);
  await other.page.getByText("No collections yet.").waitFor();
  await other.page.goto(`${app.server.url}/knowledge/${encodeURIComponent(id)}`);
  await other.page.getByText("This collection does not exist or was deleted.").waitFor();
  assert.deepEqual(
    other.errors.filter((error) => !error.startsWith("404 GET")),
    [],
  );
  await other.context.close();

  // Deleted after confirming in the dialog; cancelling first keeps it.
  await listed.getByRole("link").click();
  await page.getByRole("button", { name: "Delete collection" }).click();
  const dialog = page.getByRole("dialog", { name: "Delete the collection Garden and greenhouse?" });
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await dialog.waitFor({ state: "hidden" });
  await page.getByRole("button", { name: "Delete collection" }).click();
  await dialog.getByRole("button", { name: "Delete collection" }).click();
  await page.waitForURL(/\/knowledge$/);
  await page.getByText("No collections yet.").waitFor();
  const gone = await app.server.store.collections.get(setup.json.user.id, id);
  assert.equal(gone, undefined);

  assert.deepEqual(watched.errors, []);
  assert.deepEqual(watched.cspViolations, []);
  await watched.context.close();
});

test("the collection page fits a phone-sized screen and is axe clean there", async () => {
  const client = new AppClient(app.server.url);
  assert.equal((await client.login(ADA.name, ADA.password)).status, 200);
  const created = await client.request("POST", "/api/collections", {
    name: "A collection with a rather long name for a small screen",
    description: "Short.",
  });
  assert.equal(created.status, 201, created.text);
  const watched = await openPage(app.browser, `${app.server.url}/login`, { viewport: PHONE });
  const { page } = watched;
  await logIn(page, ADA);
  await page.goto(`${app.server.url}/knowledge/${encodeURIComponent(created.json.id)}`);
  await page.locator(".knowledge-drop input[type=file]").setInputFiles([
    {
      name: "a-file-with-a-long-name-that-should-wrap-on-a-phone.md",
      mimeType: "text/markdown",
      buffer: Buffer.from(NOTES),
    },
    { name: "empty.txt", mimeType: "text/plain", buffer: Buffer.alloc(0) },
  ]);
  await page.locator(".knowledge-file[data-status=ready]").waitFor();
  await page.getByText("empty.txt is empty.").waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `scrolls sideways by ${overflow}px`);
  await bothThemes(watched, "collection page on a phone");
  await page.goto(`${app.server.url}/knowledge`);
  await page.locator(".knowledge-table").waitFor();
  await bothThemes(watched, "knowledge list on a phone");
  assert.deepEqual(watched.errors, []);
  await watched.context.close();
});

test("the knowledge pages speak Chinese to a Chinese browser", async () => {
  const watched = await openPage(app.browser, `${app.server.url}/login`, { locale: "zh-CN" });
  const { page } = watched;
  await page.getByLabel("用户名", { exact: true }).fill(ADA.name);
  await page.getByLabel("密码", { exact: true }).fill(ADA.password);
  await page.getByRole("button", { name: "登录" }).click();
  await page.getByRole("link", { name: "知识库" }).click();
  await page.locator("h1.title", { hasText: "知识库" }).waitFor();
  await page.getByRole("heading", { name: "新建知识库" }).waitFor();
  await page.getByRole("button", { name: "创建知识库" }).waitFor();
  await bothThemes(watched, "knowledge list in Chinese");
  await watched.context.close();
});
