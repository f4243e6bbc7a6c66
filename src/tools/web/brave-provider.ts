/**
 * Brave Search's web API (`GET /res/v1/web/search`, key in `X-Subscription-Token`): a commercial
 * provider for servers that run no SearXNG. Queries leave for Brave, so an admin opts in by
 * giving a key. `baseUrl` exists for tests and proxies.
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

export interface BraveOptions extends ProviderLimits {
  apiKey: string;
  /** Default `https://api.search.brave.com`. */
  baseUrl?: string;
}

interface BraveAnswer {
  web?: { results?: Array<{ title?: unknown; url?: unknown; description?: unknown; page_age?: unknown }> };
}

const FRESHNESS = { day: "pd", week: "pw", month: "pm", year: "py" } as const;
const SAFE_SEARCH = ["off", "moderate", "strict"] as const;

export class BraveProvider implements SearchProvider {
  readonly name = "brave";
  readonly #options: BraveOptions;

  constructor(options: BraveOptions) {
    this.#options = options;
  }

  async search(query: string, options: SearchOptions, signal?: AbortSignal): Promise<SearchResult[]> {
    const url = new URL("/res/v1/web/search", this.#options.baseUrl ?? "https://api.search.brave.com");
    url.searchParams.set("q", query);
    url.searchParams.set("count", String(Math.max(1, Math.min(options.limit, MAX_RESULTS))));
    if (options.language) url.searchParams.set("search_lang", braveLanguage(options.language));
    if (options.timeRange) url.searchParams.set("freshness", FRESHNESS[options.timeRange]);
    if (options.safeSearch !== undefined) url.searchParams.set("safesearch", SAFE_SEARCH[options.safeSearch]);
    const headers = { "x-subscription-token": this.#options.apiKey };
    const answer = (await requestJson("Brave Search", url, { headers }, this.#options, signal, (status) =>
      status === 401 || status === 403
        ? new SearchUnavailableError(
            "forbidden",
            `Brave Search refused the API key (${status}); check it in the admin settings.`,
          )
        : undefined,
    )) as BraveAnswer | null;
    const results = answer?.web?.results;
    if (answer === null || typeof answer !== "object" || (results !== undefined && !Array.isArray(results))) {
      throw new SearchUnavailableError("bad_reply", "Brave Search answered without a results list.");
    }
    return cleanResults(
      (results ?? []).map((result) => ({
        title: result.title,
        url: result.url,
        // Brave marks the query's words with <strong>.
        snippet: typeof result.description === "string" ? result.description.replace(/<[^>]*>/g, "") : "",
        engine: "brave",
        publishedDate: result.page_age,
      })),
      options.limit,
    );
  }
}

/** Brave's `search_lang`: the primary language, with Chinese split into `zh-hans` and `zh-hant`. */
function braveLanguage(tag: string): string {
  const lower = tag.toLowerCase();
  if (!lower.startsWith("zh")) return lower.split("-")[0]!;
  return /hant|tw|hk|mo/.test(lower) ? "zh-hant" : "zh-hans";
}
