/**
 * A same-origin proxy in front of the real server for the web bench: every request passes through
 * unchanged, except a new chat message, which it answers itself with the App API's SSE stream
 * (`user`, `assistant`, `delta`..., `done`, docs/api.md) at exactly `tokensPerSecond`. The UI is
 * then measured at a known token rate, whatever the engine's speed on this machine.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface PacedReply {
  /** Reasoning tokens, streamed first (each a `reasoning` delta). */
  reasoning: string[];
  /** Content tokens (each a `content` delta). */
  content: string[];
}

export interface PacingProxy {
  url: string;
  /** When the last paced stream sent its first and last token (performance.now() of this process). */
  lastStream: { tokens: number; firstTokenAt: number; lastTokenAt: number } | null;
  close(): Promise<void>;
}

const MESSAGE_ROUTE = /^\/api\/conversations\/[^/]+\/messages$/;

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

export async function startPacingProxy(
  target: string,
  reply: PacedReply,
  tokensPerSecond: number,
): Promise<PacingProxy> {
  const upstream = new URL(target);
  const proxy: PacingProxy = { url: "", lastStream: null, close: async () => undefined };

  const paced = async (request: http.IncomingMessage, response: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
      parentId: string | null;
      content: string;
    };
    const now = Date.now();
    const base = { reasoning: null, model: "bench-paced", usage: null, createdAt: now };
    const user = {
      ...base,
      id: `paced-user-${now}`,
      parentId: body.parentId,
      role: "user",
      content: body.content,
    };
    const assistant = {
      ...base,
      id: `paced-reply-${now}`,
      parentId: user.id,
      role: "assistant",
      content: "",
      status: "streaming",
    };
    response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    response.write(event("user", { ...user, status: "complete" }));
    response.write(event("assistant", assistant));
    const tokens = [
      ...reply.reasoning.map((text) => ({ reasoning: text })),
      ...reply.content.map((text) => ({ content: text })),
    ];
    const interval = 1000 / tokensPerSecond;
    const started = performance.now();
    const stream = { tokens: tokens.length, firstTokenAt: started, lastTokenAt: started };
    proxy.lastStream = stream;
    for (const [index, delta] of tokens.entries()) {
      // Due times from the start, so timer lateness never accumulates into a slower rate.
      const wait = started + index * interval - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (response.destroyed) return;
      response.write(event("delta", delta));
      stream.lastTokenAt = performance.now();
    }
    response.end(
      event("done", {
        ...assistant,
        reasoning: reply.reasoning.join(""),
        content: reply.content.join(""),
        status: "complete",
        usage: { prompt_tokens: 20, completion_tokens: tokens.length, reasoningMs: 2000 },
      }),
    );
  };

  const server = http.createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0]!;
    if (request.method === "POST" && MESSAGE_ROUTE.test(path)) {
      paced(request, response).catch(() => response.destroy());
      return;
    }
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    forward.on("error", () => response.destroy());
    request.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}
