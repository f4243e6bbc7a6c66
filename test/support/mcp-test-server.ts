// A real MCP server built with the SDK, for the MCP tests: tools that add, echo, fail (an isError
// result), return an image, add a tool (`grow`), hang until killed (`slow`) and exit the process (`crash`). Run as a
// script it serves stdio (`node --import tsx test/support/mcp-test-server.ts`; with `garbage` as
// its argument it writes nonsense to stdout and never answers); `startMcpHttpServer` serves the
// same tools over streamable HTTP in-process.
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

/** The script itself, for a stdio server's arguments. */
export const MCP_TEST_SERVER_SCRIPT = fileURLToPath(import.meta.url);

/** The test server's tools, each with what it does when called. */
export function buildMcpTestServer(options: { canExit: boolean }): McpServer {
  const server = new McpServer({ name: "qiusuo-test", version: "1.0.0" });
  server.registerTool(
    "add",
    { description: "Adds two numbers", inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({ content: [{ type: "text", text: String(a + b) }] }),
  );
  server.registerTool(
    "echo",
    { description: "Says the text back", inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: "text", text }] }),
  );
  server.registerTool("fail", { description: "Always fails" }, async () => ({
    content: [{ type: "text", text: "the disk is full" }],
    isError: true,
  }));
  server.registerTool("picture", { description: "Returns an image and a caption" }, async () => ({
    content: [
      { type: "text", text: "A red dot:" },
      { type: "image", data: Buffer.from("not really a png").toString("base64"), mimeType: "image/png" },
    ],
  }));
  server.registerTool(
    "grow",
    { description: "Adds the tool `extra` (the server says its tools changed)" },
    async () => {
      server.registerTool("extra", { description: "Added by grow" }, async () => ({
        content: [{ type: "text", text: "extra" }],
      }));
      return { content: [{ type: "text", text: "grown" }] };
    },
  );
  server.registerTool("slow", { description: "Never answers" }, () => new Promise(() => {}));
  server.registerTool("crash", { description: "Exits the server's process" }, async () => {
    if (options.canExit) process.exit(3);
    throw new Error("cannot crash in-process");
  });
  return server;
}

/** Serves the tools over streamable HTTP (stateless: a server per request); keeps each request's headers. */
export async function startMcpHttpServer() {
  const headers: IncomingHttpHeaders[] = [];
  let refusal: number | null = null;
  const http = createServer((request, response) => {
    headers.push(request.headers);
    if (refusal !== null) {
      response.writeHead(refusal, { "content-type": "text/plain" }).end("refused");
      return;
    }
    const server = buildMcpTestServer({ canExit: false });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    response.on("close", () => {
      void transport.close();
      void server.close();
    });
    void server.connect(transport).then(() => transport.handleRequest(request, response));
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    headers,
    /** Answers every request with this status (null: serve MCP again). */
    refuseWith: (status: number | null) => void (refusal = status),
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}

if (process.argv[1] === MCP_TEST_SERVER_SCRIPT) {
  if (process.argv[2] === "garbage") {
    process.stdout.write('this is not JSON-RPC\n{"jsonrpc": 7}\n');
    process.stdin.resume();
  } else {
    await buildMcpTestServer({ canExit: true }).connect(new StdioServerTransport());
  }
}
