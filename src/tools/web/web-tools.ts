/**
 * The app's web tools: `web_search` (the configured provider, then the top pages fetched in
 * parallel through the SSRF-guarded fetcher) and `fetch_url` (one page). A search result reaches
 * the model as DeepSeek's own search-answer template (search-answer.ts) filled in with the
 * results, the date and the user's message: the tool result is the prompt DeepSeek's search mode
 * would have sent, so the model cites `[citation:N]` as it was trained to. Sources are numbered
 * by the turn's SourceNumbering, so N is unique across every call of one turn.
 */
import type { Source, Tool, ToolContext, ToolResult } from "../tool.js";
import type { AllowPrivate } from "./address-policy.js";
import { fetchPage, type FetchedPage, type FetchPageOptions } from "./fetch-page.js";
import { buildSearchAnswerPrompt } from "./search-answer.js";
import { cut, type SearchProvider, type SearchResult } from "./search-provider.js";

/** How the server searches the web; no provider means web search is off. */
export interface WebSearchSetup {
  provider?: SearchProvider | undefined;
  /** Private addresses pages may be fetched from (`--fetch-allow-private`). Default none. */
  allowPrivate?: AllowPrivate | undefined;
  /** Results asked of the provider per search. Default 6. */
  results?: number;
  /** Of those, how many pages are fetched for their text. Default 3. */
  pages?: number;
  /**
   * Most characters of page text one result gives the model: the whole search block for
   * `web_search` (default 24,000), one page for `fetch_url` (default 16,000). Smaller for a
   * model with a small context.
   */
  budgetChars?: number;
  /** Limits for each page fetch. Default 1 MiB and 8 s (never past the turn's deadline). */
  fetch?: Pick<FetchPageOptions, "maxBytes" | "timeoutMs" | "connectTimeoutMs" | "resolve">;
}

/** Most characters of one fetched page `fetch_url` gives the model, by default. */
const FETCH_URL_CHARS = 16_000;
const DEFAULT_FETCH = { maxBytes: 1024 * 1024, timeoutMs: 8_000 };

/** Hands out `[citation:N]` numbers for one turn, so two searches never both have a source 1. */
export class SourceNumbering {
  #next = 1;

  /** The next free number; `take(count)` reserves that many from it. */
  get next(): number {
    return this.#next;
  }

  take(count: number): void {
    this.#next += count;
  }

  /**
   * Renumbers a result another tool numbered from 1 (a knowledge search): its sources, and the
   * `[webpage N begin]`/`[webpage N end]`/`[citation:N]` markers in its text, move past the numbers
   * already given out.
   */
  renumber(result: ToolResult): ToolResult {
    const sources = result.sources ?? [];
    if (sources.length === 0) return result;
    const lowest = Math.min(...sources.map((source) => source.index));
    const shift = this.#next - lowest;
    this.take(Math.max(...sources.map((source) => source.index)) - lowest + 1);
    if (shift === 0) return result;
    const moved = (number: string) => String(Number(number) + shift);
    return {
      ...result,
      content: result.content
        .replace(
          /\[webpage (\d+) (begin|end)\]/g,
          (_, number: string, edge: string) => `[webpage ${moved(number)} ${edge}]`,
        )
        .replace(/\[citation:(\d+)\]/g, (_, number: string) => `[citation:${moved(number)}]`),
      sources: sources.map((source) => ({ ...source, index: source.index + shift })),
    };
  }
}

/** A page's text or why it could not be read, for each fetched result. */
export interface SearchedPage {
  result: SearchResult;
  page?: FetchedPage;
  /** Why the page was not read (the snippet stands in for it). */
  error?: string;
}

/**
 * Searches and fetches the top `pages` results in parallel; a page that fails keeps its snippet.
 * The provider's failure (SearchUnavailableError) is thrown.
 */
export async function searchWeb(
  setup: WebSearchSetup,
  query: string,
  options: { pages?: number; deadline?: number },
  signal: AbortSignal,
): Promise<SearchedPage[]> {
  if (!setup.provider) throw new Error("No web search provider is configured.");
  const results = await setup.provider.search(query, { limit: setup.results ?? 6 }, signal);
  const pages = Math.max(0, Math.min(options.pages ?? setup.pages ?? 3, results.length));
  const fetchOptions = pageOptions(setup, options.deadline);
  const fetched = await Promise.all(
    results.slice(0, pages).map(async (result): Promise<SearchedPage> => {
      try {
        return { result, page: await fetchPage(result.url, fetchOptions, signal) };
      } catch (error) {
        if (signal.aborted) throw error;
        return { result, error: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
  return [...fetched, ...results.slice(pages).map((result) => ({ result }))];
}

function pageOptions(setup: WebSearchSetup, deadline: number | undefined): FetchPageOptions {
  const timeoutMs = setup.fetch?.timeoutMs ?? DEFAULT_FETCH.timeoutMs;
  return {
    ...DEFAULT_FETCH,
    ...setup.fetch,
    allowPrivate: setup.allowPrivate ?? false,
    // A page never holds the turn past its deadline (and always gets at least a second).
    timeoutMs:
      deadline === undefined ? timeoutMs : Math.max(1_000, Math.min(timeoutMs, deadline - Date.now())),
  };
}

/** `{ query }` or `{ url }` as the model wrote them; a model's slip is an error result it can read. */
function stringArgument(args: unknown, name: string, max: number): string {
  const value = (args as Record<string, unknown> | null)?.[name];
  if (typeof value !== "string" || value.trim() === "")
    throw new Error(`'${name}' must be a non-empty string.`);
  if (value.length > max) throw new Error(`'${name}' has ${value.length} characters; at most ${max}.`);
  return value.trim();
}

/**
 * The `web_search` tool. `question` is the user's message the template quotes (the model's query
 * is what is searched for); the sources are numbered from `numbering`.
 */
export function webSearchTool(
  setup: WebSearchSetup,
  numbering: SourceNumbering,
  question: string | undefined,
): Tool {
  return {
    definition: {
      name: "web_search",
      description:
        "Searches the web and reads the top pages. Use it for current events and facts you are not sure of; " +
        "cite the results as [citation:N].",
      parameters: {
        type: "object",
        properties: { query: { type: "string", description: "What to search for, in a few words." } },
        required: ["query"],
      },
      strict: false,
    },
    async run(args: unknown, context: ToolContext): Promise<ToolResult> {
      const query = stringArgument(args, "query", 500);
      const searched = await searchWeb(setup, query, { deadline: context.deadline }, context.signal);
      if (searched.length === 0)
        return { content: `The web search for '${query}' found nothing.`, isError: false };
      const pages = new Map(
        searched.flatMap(({ result, page }) => (page ? [[result.url, page] as const] : [])),
      );
      const { prompt, sources } = buildSearchAnswerPrompt({
        question: question?.trim() || query,
        results: searched.map(({ result }) => result),
        pages,
        firstIndex: numbering.next,
        ...(setup.budgetChars === undefined ? {} : { budgetChars: setup.budgetChars }),
      });
      numbering.take(searched.length);
      return {
        content: prompt,
        isError: false,
        sources: sources.map((source): Source => ({
          index: source.index,
          title: source.title,
          url: source.url,
          passage: source.text,
        })),
      };
    },
  };
}

/** The `fetch_url` tool: one page's readable text, as one numbered source. */
export function fetchUrlTool(setup: WebSearchSetup, numbering: SourceNumbering): Tool {
  return {
    definition: {
      name: "fetch_url",
      description: "Fetches a web page (http or https) and gives its readable text; cite it as [citation:N].",
      parameters: {
        type: "object",
        properties: { url: { type: "string", description: "The page's address." } },
        required: ["url"],
      },
      strict: false,
    },
    async run(args: unknown, context: ToolContext): Promise<ToolResult> {
      const url = stringArgument(args, "url", 2_048);
      const page = await fetchPage(url, pageOptions(setup, context.deadline), context.signal);
      const index = numbering.next;
      numbering.take(1);
      const text = cut(page.text, setup.budgetChars ?? FETCH_URL_CHARS);
      const note = page.truncated ? "\n(The page was cut off at the size or time limit.)" : "";
      const title = page.title || page.url;
      return {
        content: [
          `[webpage ${index} begin]`,
          `Title: ${title}`,
          `URL: ${page.url}`,
          text + note,
          `[webpage ${index} end]`,
        ].join("\n"),
        isError: false,
        sources: [{ index, title, url: page.url, passage: text }],
      };
    },
  };
}
