import type { FastifyInstance } from "fastify";
import { webSearchUnavailable } from "../../chat/turn-tools.js";
import { parseWebSearch } from "../../protocol/app/requests.js";
import { disconnectSignal } from "../reply-helpers.js";
import { searchWeb } from "../../tools/web/web-tools.js";
import type { AppApiContext } from "./app-api.js";

/**
 * Web search for the app and for scripts: whether the server can search (the composer's 联网搜索
 * toggle is disabled when not), and the search itself, with the top pages' text on request.
 */
export function registerWebSearchRoutes(app: FastifyInstance, context: AppApiContext): void {
  app.get("/web-search", async (request) => {
    context.user(request);
    const provider = context.webSearch?.provider;
    return { available: provider !== undefined, provider: provider?.name ?? null };
  });

  app.post("/web-search", async (request, reply) => {
    context.user(request);
    const body = parseWebSearch(request.body);
    const setup = context.webSearch;
    if (!setup?.provider) throw webSearchUnavailable();
    const searched = await searchWeb(setup, body.query, { pages: body.fetch }, disconnectSignal(reply));
    return {
      query: body.query,
      provider: setup.provider.name,
      results: searched.map(({ result, page, error }) => ({
        ...result,
        ...(page
          ? { page: { url: page.url, title: page.title, text: page.text, truncated: page.truncated } }
          : {}),
        ...(error === undefined ? {} : { fetchError: error }),
      })),
    };
  });
}
