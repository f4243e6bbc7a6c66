/** The web search the server's configuration asks for (`--search-provider` and friends). */
import type { ServeConfig } from "../../config/config.js";
import { BraveProvider } from "./brave-provider.js";
import type { SearchProvider } from "./search-provider.js";
import { SearxngProvider } from "./searxng-provider.js";
import { TavilyProvider } from "./tavily-provider.js";
import type { WebSearchSetup } from "./web-tools.js";

type SearchConfig = Pick<
  ServeConfig,
  "searchProvider" | "searxngUrl" | "braveApiKey" | "tavilyApiKey" | "fetchAllowPrivate"
>;

/** The configured provider; a SearXNG URL alone picks SearXNG. None: web search is off. */
export function webSearchSetup(config: SearchConfig): WebSearchSetup {
  return { provider: provider(config), allowPrivate: config.fetchAllowPrivate };
}

function provider(config: SearchConfig): SearchProvider | undefined {
  const name = config.searchProvider ?? (config.searxngUrl ? "searxng" : undefined);
  if (name === "searxng" && config.searxngUrl) return new SearxngProvider({ baseUrl: config.searxngUrl });
  if (name === "brave" && config.braveApiKey) return new BraveProvider({ apiKey: config.braveApiKey });
  if (name === "tavily" && config.tavilyApiKey) return new TavilyProvider({ apiKey: config.tavilyApiKey });
  return undefined;
}
