/**
 * Tavily's search API (`POST /search`, key as a Bearer token): a search API made for model
 * answers. Queries leave for Tavily, so an admin opts in by giving a key. It takes no language
 * or safe-search setting; those options are ignored. `baseUrl` exists for tests and proxies.
 */
import { SearchUnavailableError } from "./errors.js";
import {
  cleanResults,
  MAX_RESULTS,
  requestJson,
  type ProviderLimits,
  type SearchOptions,
  type SearchProvider,
  type SearchResult,
} from "./search-provider.js";

export interface TavilyOptions extends ProviderLimits {
  apiKey: string;
  /** Default `https://api.tavily.com`. */
  baseUrl?: string;
}

interface TavilyAnswer {
  results?: Array<{ title?: unknown; url?: unknown; content?: unknown; published_date?: unknown }>;
}

export class TavilyProvider implements SearchProvider {
  readonly name = "tavily";
  readonly #options: TavilyOptions;

  constructor(options: TavilyOptions) {
    this.#options = options;
  }

  async search(query: string, options: SearchOptions, signal?: AbortSignal): Promise<SearchResult[]> {
    const url = new URL("/search", this.#options.baseUrl ?? "https://api.tavily.com");
    const body = JSON.stringify({
      query,
      max_results: Math.max(1, Math.min(options.limit, MAX_RESULTS)),
      search_depth: "basic",
      topic: "general",
      ...(options.timeRange ? { time_range: options.timeRange } : {}),
    });
    const headers = { authorization: `Bearer ${this.#options.apiKey}`, "content-type": "application/json" };
    const answer = (await requestJson(
      "Tavily",
      url,
      { method: "POST", headers, body },
      this.#options,
      signal,
      (status) =>
        status === 401 || status === 403
          ? new SearchUnavailableError(
              "forbidden",
              `Tavily refused the API key (${status}); check it in the admin settings.`,
            )
          : status === 432 || status === 433
            ? new SearchUnavailableError(
                "rate_limited",
                `Tavily says the plan's limit is reached (${status}).`,
              )
            : undefined,
    )) as TavilyAnswer | null;
    if (answer === null || typeof answer !== "object" || !Array.isArray(answer.results)) {
      throw new SearchUnavailableError("bad_reply", "Tavily answered without a results list.");
    }
    return cleanResults(
      answer.results.map((result) => ({
        title: result.title,
        url: result.url,
        snippet: result.content,
        engine: "tavily",
        publishedDate: result.published_date,
      })),
      options.limit,
    );
  }
}
