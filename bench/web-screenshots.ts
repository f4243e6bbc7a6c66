/**
 * `npx tsx bench/web-screenshots.ts [--skip-build] [--out docs/screenshots]`
 *
 * Screenshots of the chat app's main screens for the README, taken in Chromium against the real
 * server: a chat with a reasoning reply, code and math (light and dark), a phone with the sidebar
 * closed and open, the models page, and in accounts mode the login and API keys pages. Chats are
 * imported through `POST /api/import`, so the pictures are the same on every run.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Browser, Page } from "playwright-core";
import { launchBrowser } from "../test/e2e/e2e-harness.js";
import { importConversations, longConversation, richConversation } from "../test/e2e/sample-conversations.js";
import { AppClient, startTestServer } from "../test/integration/harness.js";

const repo = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({
  options: {
    "skip-build": { type: "boolean", default: false },
    out: { type: "string", default: "docs/screenshots" },
  },
});
const out = resolve(repo, values.out!);
mkdirSync(out, { recursive: true });
if (!values["skip-build"]) {
  const build = spawnSync("npm", ["run", "build:web", "--silent"], { cwd: repo, stdio: "inherit" });
  if (build.status !== 0) process.exit(1);
}

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 375, height: 740 };

async function shoot(
  browser: Browser,
  url: string,
  name: string,
  options: {
    viewport?: typeof DESKTOP;
    colorScheme?: "light" | "dark";
    ready: (page: Page) => Promise<void>;
  },
): Promise<void> {
  const context = await browser.newContext({
    viewport: options.viewport ?? DESKTOP,
    colorScheme: options.colorScheme ?? "light",
    locale: "en-US",
    deviceScaleFactor: options.viewport === PHONE ? 2 : 1,
  });
  const page = await context.newPage();
  await page.goto(url);
  await options.ready(page);
  // Fonts and the last frame settle.
  await page.evaluate(() => document.fonts.ready.then(() => undefined));
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(out, `${name}.png`) });
  console.log(`docs/screenshots/${name}.png`);
  await context.close();
}

const richChatReady = async (page: Page) => {
  await page.locator(".message.assistant .katex").first().waitFor({ state: "attached", timeout: 60_000 });
  await page.locator(".message.assistant pre code.hljs").waitFor({ state: "attached", timeout: 60_000 });
  // From the question down, rather than the end of the reply.
  await page.evaluate(() => document.querySelector(".thread-scroll")?.scrollTo(0, 0));
};

const local = await startTestServer();
const accounts = await startTestServer({ accounts: true });
const browser = await launchBrowser();
try {
  // A sidebar with chats across the date groups, and the rich chat opened.
  const now = Date.now();
  const day = 24 * 60 * 60 * 1000;
  const others = [
    ["Plan a weekend in Hangzhou", now - 2 * 60 * 60 * 1000],
    ["解释一下量子纠缠", now - day - 1000],
    ["SQL: window functions vs GROUP BY", now - 3 * day],
    ["Rust lifetimes, explained simply", now - 12 * day],
  ] as const;
  const client = new AppClient(local.url);
  const ids = await importConversations(client, [
    ...others.map(([title, at]) => ({ ...longConversation(2, at), title })),
    richConversation(now),
  ]);
  const rich = `${local.url}/c/${ids.get("Binary search in TypeScript")}`;

  await shoot(browser, rich, "chat-light", { ready: richChatReady });
  await shoot(browser, rich, "chat-dark", { colorScheme: "dark", ready: richChatReady });
  await shoot(browser, rich, "phone-chat", { viewport: PHONE, ready: richChatReady });
  await shoot(browser, rich, "phone-sidebar", {
    viewport: PHONE,
    ready: async (page) => {
      await richChatReady(page);
      await page.getByRole("button", { name: "Menu" }).click();
      await page.waitForFunction(() => document.querySelector(".sidebar")!.getBoundingClientRect().x >= 0);
    },
  });
  await shoot(browser, `${local.url}/settings/models`, "models", {
    ready: (page) => page.locator("tr[data-model-id]").first().waitFor(),
  });

  // Accounts mode: an admin made through the API, then the pages a user sees.
  const admin = new AppClient(accounts.url);
  await admin.request("POST", "/api/setup", {
    token: accounts.auth.setupToken,
    name: "ada",
    password: "correct horse battery",
  });
  await shoot(browser, `${accounts.url}/login`, "login", {
    ready: (page) => page.getByRole("heading", { name: "Log in to qiusuo" }).waitFor(),
  });
  await shoot(browser, `${accounts.url}/login`, "keys", {
    ready: async (page) => {
      await page.getByLabel("Name").fill("ada");
      await page.getByLabel("Password").fill("correct horse battery");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("link", { name: "API keys" }).click();
      for (const name of ["laptop", "ci"]) {
        await page.getByLabel("Key name").fill(name);
        await page.getByRole("button", { name: "Create key" }).click();
        await page.locator("tr", { hasText: name }).waitFor();
      }
    },
  });
} finally {
  await browser.close();
  await local.close();
  await accounts.close();
}
