/** Server-sent events as DeepSeek writes them. */
export function sseData(payload: unknown): string {
  return `data: ${typeof payload === "string" ? payload : JSON.stringify(payload)}\n\n`;
}

export const SSE_DONE = "data: [DONE]\n\n";

/** A comment line: clients ignore it; it keeps proxies and clients from timing out. */
export const SSE_KEEP_ALIVE = ": keep-alive\n\n";
