// Real Chromium for the e2e tests: Debian's /usr/bin/chromium driven by playwright-core (no
// downloaded browsers). Each page records what must never happen: page errors, CSP violations,
// dialogs, and calls to the `xssFired` canary that XSS payloads try to reach.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { after, before } from "node:test";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { startTestServer, type TestServer } from "../integration/harness.js";

export const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((path) => existsSync(path));

export async function launchBrowser(): Promise<Browser> {
  if (!CHROMIUM) throw new Error("Chromium is not installed: apt-get install -y chromium");
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in containers cannot use Chromium's sandbox; the pages under test are our own.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
}

/** A test file's server and browser; both are set once the file's first `before` hook has run. */
export interface AppUnderTest {
  server: TestServer;
  browser: Browser;
}

/**
 * Starts a test server (with `options`) and Chromium before a file's tests, then runs `ready`, and
 * closes both after them. What needs the server goes in `ready`: Node 20 runs a file's top-level
 * `before` hooks at the same time, so another hook could not wait for this one.
 */
export function appUnderTest(
  options?: Parameters<typeof startTestServer>[0],
  ready?: (app: AppUnderTest) => void,
): AppUnderTest {
  const app = {} as AppUnderTest;
  before(async () => {
    app.server = await startTestServer(options);
    app.browser = await launchBrowser();
    ready?.(app);
  });
  after(async () => {
    await app.browser?.close();
    await app.server?.close();
  });
  return app;
}

export interface WatchedPage {
  context: BrowserContext;
  page: Page;
  /** Uncaught errors and console errors, with their text. */
  errors: string[];
  /** Content-Security-Policy violations the page reported. */
  cspViolations: string[];
  /** alert/confirm/prompt texts (confirms are accepted). */
  dialogs: string[];
  /** Arguments of every xssFired() call: any entry means a payload ran. */
  xss: string[];
}

export async function openPage(
  browser: Browser,
  url: string,
  options: {
    viewport?: { width: number; height: number };
    locale?: string;
    colorScheme?: "light" | "dark";
    /** Runs before the first navigation (request interception, storage). */
    setup?: (page: Page) => Promise<void>;
  } = {},
): Promise<WatchedPage> {
  const context = await browser.newContext({
    viewport: options.viewport ?? { width: 1280, height: 800 },
    locale: options.locale ?? "en-US",
    colorScheme: options.colorScheme ?? "light",
    permissions: ["clipboard-read", "clipboard-write"],
  });
  const watched: WatchedPage = {
    context,
    page: await context.newPage(),
    errors: [],
    cspViolations: [],
    dialogs: [],
    xss: [],
  };
  const { page } = watched;
  await context.exposeFunction("xssFired", (what: unknown) => void watched.xss.push(String(what)));
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (event) => {
      console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  page.on("pageerror", (error) => watched.errors.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = message.text();
    if (text.startsWith("CSP violation")) watched.cspViolations.push(text);
    // Failed requests are recorded with their URL below.
    else if (text.startsWith("Failed to load resource")) return;
    else watched.errors.push(text);
  });
  page.on("response", (response) => {
    if (response.status() >= 400)
      watched.errors.push(`${response.status()} ${response.request().method()} ${response.url()}`);
  });
  page.on("dialog", (dialog) => {
    watched.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void (dialog.type() === "confirm" ? dialog.accept() : dialog.dismiss());
  });
  // Links open in new tabs; close them so nothing runs there unobserved.
  context.on("page", (popup) => void popup.close());
  await options.setup?.(page);
  await page.goto(url);
  return watched;
}

/**
 * Everything under `selector` (default the thread) that could run script or leave the page: such
 * elements, `on*` and `style` attributes, and links or sources that are not plain web addresses.
 */
export async function dangerousNodes(page: Page, selector = ".thread"): Promise<string[]> {
  return page.evaluate((selector) => {
    const found: string[] = [];
    const root = document.querySelector(selector) ?? document.body;
    for (const element of root.querySelectorAll("*")) {
      const tag = element.tagName.toLowerCase();
      if (
        [
          "script",
          "iframe",
          "object",
          "embed",
          "style",
          "form",
          "svg",
          "foreignobject",
          "base",
          "meta",
          "link",
        ].includes(tag)
      )
        found.push(`<${tag}>`);
      for (const attribute of element.getAttributeNames()) {
        if (attribute.startsWith("on")) found.push(`${tag}[${attribute}]`);
        if (attribute === "style" && !element.closest(".katex")) found.push(`${tag}[style]`);
      }
      const href = element.getAttribute("href");
      if (href !== null && !/^(https?:|mailto:)/i.test(href)) found.push(`${tag}[href=${href}]`);
      const src = element.getAttribute("src");
      if (src !== null && !/^data:image\/(png|jpe?g|gif|webp);/i.test(src)) found.push(`${tag}[src=${src}]`);
    }
    return found;
  }, selector);
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/** Runs axe on the page as it is now; every violation, whatever its impact. */
export async function axeViolations(page: Page): Promise<Violation[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: typeof import("axe-core") }).axe;
    const result = await axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((violation) => ({
      id: violation.id,
      impact: violation.impact ?? null,
      help: violation.help,
      nodes: violation.nodes.map((node) => `${node.target.join(" ")}: ${node.failureSummary ?? ""}`),
    }));
  });
}

/** Fails with every axe violation on the page, named by `screen`. */
export async function assertAccessible(page: Page, screen: string): Promise<void> {
  const violations = await axeViolations(page);
  assert.deepEqual(violations, [], `${screen}: ${JSON.stringify(violations, null, 2)}`);
}
