// The admin panel's MCP servers tab in Chromium: the admin registers the real stdio test server
// (test/support/mcp-test-server.ts), tests the connection and sees its tools, switches a tool's
// "ask first" off (kept on the server), sees a bad line refused and a server that cannot start
// reported with its reason, and deletes it. Axe finds nothing, light or dark, and a phone does
// not scroll sideways.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MCP_TEST_SERVER_SCRIPT } from "../support/mcp-test-server.js";
import { appUnderTest, assertAccessible, openPage } from "./e2e-harness.js";

const app = appUnderTest();

test("an admin registers an MCP server, tests it, sees its tools and sets ask-first", async () => {
  const watched = await openPage(app.browser, `${app.server.url}/settings/admin`);
  const { page } = watched;
  await page.getByRole("tab", { name: "MCP servers" }).click();
  await page.getByText("a command qiusuo runs on this machine").waitFor();
  await page.getByText("No MCP servers yet.").waitFor();
  await assertAccessible(page, "MCP servers, empty (light)");

  // A bad environment line is refused before anything is sent.
  await page.getByLabel("Name", { exact: true }).fill("calc");
  await page.getByLabel("Description", { exact: true }).fill("Adds numbers");
  await page.getByLabel("Command", { exact: true }).fill(process.execPath);
  await page
    .getByLabel("Arguments, one per line")
    .fill(["--import", "tsx", MCP_TEST_SERVER_SCRIPT].join("\n"));
  await page.getByLabel("Environment, NAME=value per line").fill("no equals sign");
  await page.getByRole("button", { name: "Register" }).click();
  await page.getByRole("alert").getByText("Line 1 of “Environment, NAME=value per line”").waitFor();
  assert.deepEqual(await app.server.store.mcpServers.list(), []);

  await page.getByLabel("Environment, NAME=value per line").fill("API_TOKEN=s3cret");
  await page.getByRole("button", { name: "Register" }).click();
  await page.getByRole("status").getByText("Registered calc.").waitFor();
  const card = page.locator("section[data-server=calc]");
  await card.getByText("No tools listed yet").waitFor();
  assert.ok(!(await page.content()).includes("s3cret"), "the secret is not shown");
  const [stored] = await app.server.store.mcpServers.list();
  assert.deepEqual(stored!.transport.type === "stdio" && stored!.transport.env, { API_TOKEN: "s3cret" });

  await card.getByRole("button", { name: "Test connection to calc" }).click();
  await card.getByRole("status").getByText("calc answered with 7 tools.").waitFor();
  const addRow = card.locator("tr[data-tool=add]");
  await addRow.getByText("Adds two numbers").waitFor();
  const askFirst = addRow.getByRole("checkbox", { name: "Ask before running add" });
  assert.equal(await askFirst.isChecked(), true, "ask first is on by default");
  await assertAccessible(page, "MCP servers, tested (light)");

  await askFirst.uncheck();
  await page.waitForFunction(
    async () => {
      const answer = await fetch("/api/admin/mcp-servers").then((response) => response.json());
      return answer.servers[0]?.toolSettings?.add?.askFirst === false;
    },
    undefined,
    { timeout: 10_000 },
  );
  await page.reload();
  await page.getByRole("tab", { name: "MCP servers" }).click();
  assert.equal(
    await page
      .locator("section[data-server=calc] tr[data-tool=add]")
      .getByRole("checkbox", { name: "Ask before running add" })
      .isChecked(),
    false,
  );
  assert.equal((await app.server.store.mcpServers.list())[0]!.toolSettings.add?.askFirst, false);

  // A server whose command does not exist: the test says why.
  await page.getByLabel("Name", { exact: true }).fill("broken");
  await page.getByLabel("Command", { exact: true }).fill("/nonexistent/mcp-server");
  await page.getByRole("button", { name: "Register" }).click();
  const broken = page.locator("section[data-server=broken]");
  await broken.getByRole("button", { name: "Test connection to broken" }).click();
  await broken.getByRole("alert").getByText("its command was not found").waitFor();

  // Dark theme, then delete (the confirm is accepted).
  await page.getByRole("button", { name: "Switch light / dark" }).click();
  await assertAccessible(page, "MCP servers (dark)");
  await broken.getByRole("button", { name: "Delete broken" }).click();
  await page.getByRole("status").getByText("Deleted broken.").waitFor();
  assert.deepEqual(
    (await app.server.store.mcpServers.list()).map((server) => server.name),
    ["calc"],
  );
  // On a phone the tab fits the screen: a long command wraps instead of scrolling sideways.
  await page.setViewportSize({ width: 375, height: 740 });
  await page.locator("section[data-server=calc]").waitFor();
  assert.ok(
    await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
    "no sideways scroll at 375 px",
  );
  await assertAccessible(page, "MCP servers (phone, dark)");
  assert.deepEqual(watched.errors, []);
  assert.deepEqual(watched.dialogs, ["confirm: Delete broken? Conversations lose its tools."]);
  await watched.context.close();
});
