/**
 * SearXNG's JSON search API (shared/spec/upstreams.md §7): `GET /search?q=...&format=json`.
 * SearXNG is self-hosted and keeps queries off commercial APIs, so it is the first provider. Its
 * JSON output is off by default (`search.formats: [html]`), and then it answers 403: that becomes
 * a message telling the admin which setting to change.
 */
import { SearchUnavailableError } from "./errors.js";
import {
  cleanResults,
  requestJson,
  type ProviderLimits,
  type RawResult,
  type SearchOptions,
  type SearchProvider,
  type SearchResult,
} from "./search-provider.js";

export interface SearxngOptions extends ProviderLimits {
  /** The instance's base URL, e.g. `http://127.0.0.1:8888` (a path prefix is kept). */
  baseUrl: string;
  /** SearXNG `categories`, comma-separated. Default `general`. */
  categories?: string;
}

/** The parts of SearXNG's answer that are read (the rest, infoboxes and all, is ignored). */
interface SearxngAnswer {
  results?: Array<{
    url?: unknown;
    title?: unknown;
    content?: unknown;
    engine?: unknown;
    publishedDate?: unknown;
  }>;
  /** `[engine, reason]` pairs for engines that failed this time. */
  unresponsive_engines?: unknown[];
}

export class SearxngProvider implements SearchProvider {
  readonly name = "searxng";
  readonly #options: SearxngOptions;
  readonly #searchUrl: URL;

  constructor(options: SearxngOptions) {
    this.#options = options;
    const base = new URL(options.baseUrl);
    if (!base.pathname.endsWith("/")) base.pathname += "/";
    this.#searchUrl = new URL("search", base);
  }

  async search(query: string, options: SearchOptions, signal?: AbortSignal): Promise<SearchResult[]> {
    const url = new URL(this.#searchUrl);
    url.searchParams.set("q", query);
    url.searchParams.set("format", "json");
    url.searchParams.set("categories", this.#options.categories ?? "general");
    if (options.language) url.searchParams.set("language", options.language);
    if (options.timeRange) url.searchParams.set("time_range", options.timeRange);
    if (options.safeSearch !== undefined) url.searchParams.set("safesearch", String(options.safeSearch));
    const answer = (await requestJson("SearXNG", url, {}, this.#options, signal, (status) =>
      status === 403
        ? new SearchUnavailableError(
            "forbidden",
            `SearXNG at ${url.origin} refused JSON output (403). Add \`json\` to \`search.formats\` in its ` +
              "settings.yml (e.g. `formats: [html, json]`) and restart it.",
          )
        : undefined,
    )) as SearxngAnswer;
    if (answer === null || typeof answer !== "object" || !Array.isArray(answer.results)) {
      throw new SearchUnavailableError(
        "bad_reply",
        `SearXNG at ${url.origin} answered without a results list.`,
      );
    }
    const raw: RawResult[] = answer.results.map((result) => ({
      title: result.title,
      url: result.url,
      snippet: result.content,
      engine: result.engine,
      publishedDate: result.publishedDate,
    }));
    const results = cleanResults(raw, options.limit);
    const failedEngines = unresponsive(answer.unresponsive_engines);
    if (results.length === 0 && failedEngines.length > 0) {
      throw new SearchUnavailableError(
        "engines_failed",
        `SearXNG at ${url.origin} found nothing because its engines failed: ${failedEngines.join(", ")}.`,
      );
    }
    return results;
  }
}

/** `engine (reason)` for each of SearXNG's `[engine, reason]` pairs. */
function unresponsive(value: unknown[] | undefined): string[] {
  if (!Array.isArray(value)) return [];
  return value.slice(0, 10).map((entry) => {
    const [engine, reason] = Array.isArray(entry) ? entry : [entry];
    return reason ? `${String(engine)} (${String(reason)})` : String(engine);
  });
}
