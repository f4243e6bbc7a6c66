// A scripted App API answered inside the browser (Playwright's request interception), for tests of
// the client alone: what it renders from a given stream, independent of any server state. Tests of
// the whole product use the real server instead (chat.test.ts).
import type { Page } from "playwright-core";

export interface ScriptedReply {
  reasoning?: string;
  /** Sent as content deltas of `chunk` characters. */
  content: string;
  chunk?: number;
}

export async function scriptApi(page: Page, reply: ScriptedReply): Promise<void> {
  const now = Date.now();
  const conversation = {
    id: "c1",
    title: "New chat",
    settings: {},
    currentLeafId: null,
    createdAt: now,
    updatedAt: now,
  };
  const messages: unknown[] = [];
  await page.route("**/api/**", async (route) => {
    const request = route.request();
    const path = new URL(request.url()).pathname;
    const json = (body: unknown, status = 200) =>
      route.fulfill({ status, contentType: "application/json", body: JSON.stringify(body) });
    if (path === "/api/session")
      return json({ mode: "local", user: null, setupRequired: false, csrfToken: null });
    if (path === "/api/models") return json({ data: [] });
    if (path === "/api/projects") return json({ data: [] });
    if (path === "/api/instructions") return json({ aboutUser: "", responseStyle: "", enabled: true });
    if (path === "/api/web-search") return json({ available: false, provider: null });
    if (path === "/api/collections") return json({ collections: [] });
    if (path === "/api/mcp/servers") return json({ servers: [] });
    if (path === "/api/conversations" && request.method() === "GET")
      return json({ data: [], nextCursor: null });
    if (path === "/api/conversations" && request.method() === "POST") return json(conversation, 201);
    if (path === "/api/conversations/c1" && request.method() === "GET")
      return json({ conversation, messages });
    if (path === "/api/conversations/c1/messages") {
      const body = request.postDataJSON() as { content: string; parentId: string | null };
      const user = message("u1", body.parentId, "user", body.content, "complete");
      const assistant = message("a1", "u1", "assistant", "", "streaming");
      const size = reply.chunk ?? 16;
      const events = [sse("user", user), sse("assistant", assistant)];
      if (reply.reasoning) events.push(sse("delta", { reasoning: reply.reasoning }));
      for (let at = 0; at < reply.content.length; at += size)
        events.push(sse("delta", { content: reply.content.slice(at, at + size) }));
      const done = {
        ...assistant,
        content: reply.content,
        reasoning: reply.reasoning ?? null,
        status: "complete",
      };
      events.push(sse("done", done));
      messages.push(user, done);
      return route.fulfill({ status: 200, contentType: "text/event-stream", body: events.join("") });
    }
    return json(
      { error: { message: "not scripted", type: "invalid_request_error", param: null, code: "not_found" } },
      404,
    );
  });
}

function message(id: string, parentId: string | null, role: string, content: string, status: string) {
  return {
    id,
    parentId,
    role,
    content,
    reasoning: null,
    model: "scripted",
    usage: null,
    status,
    createdAt: Date.now(),
  };
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
