// Each screen has its own URL: /c/:id for a chat, /settings/... for the others.
import { signal } from "@preact/signals";

export type Route =
  | { name: "chat"; id: string | null }
  | { name: "login" }
  | { name: "setup" }
  | { name: "settings"; page: "models" | "keys" | "usage" }
  | { name: "admin" }
  | { name: "shared"; token: string }
  | { name: "project"; id: string }
  | { name: "knowledge"; id: string | null };

export function parseRoute(path: string): Route {
  const chat = /^\/c\/([^/]+)\/?$/.exec(path);
  if (chat) return { name: "chat", id: decodeURIComponent(chat[1]!) };
  const project = /^\/p\/([^/]+)\/?$/.exec(path);
  if (project) return { name: "project", id: decodeURIComponent(project[1]!) };
  const knowledge = /^\/knowledge(?:\/([^/]+))?\/?$/.exec(path);
  if (knowledge) return { name: "knowledge", id: knowledge[1] ? decodeURIComponent(knowledge[1]) : null };
  const shared = /^\/s\/([^/]+)\/?$/.exec(path);
  // Tokens are base64url, never percent-encoded: a malformed escape must not throw here.
  if (shared) return { name: "shared", token: shared[1]! };
  if (path === "/login") return { name: "login" };
  if (path === "/setup") return { name: "setup" };
  if (/^\/settings\/admin\/?$/.test(path)) return { name: "admin" };
  const settings = /^\/settings\/(models|keys|usage)\/?$/.exec(path);
  if (settings) return { name: "settings", page: settings[1] as "models" | "keys" | "usage" };
  if (path.startsWith("/settings")) return { name: "settings", page: "models" };
  return { name: "chat", id: null };
}

export const route = signal<Route>(parseRoute(location.pathname));

export function navigate(path: string, options: { replace?: boolean } = {}): void {
  if (location.pathname !== path) {
    if (options.replace) history.replaceState(null, "", path);
    else history.pushState(null, "", path);
  }
  route.value = parseRoute(path);
}

addEventListener("popstate", () => (route.value = parseRoute(location.pathname)));

/** Same-origin link clicks go through navigate() instead of reloading the page. */
export function onLinkClick(event: MouseEvent): void {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey)
    return;
  const anchor = (event.currentTarget as HTMLAnchorElement | null) ?? null;
  const href = anchor?.getAttribute("href");
  if (!href || !href.startsWith("/")) return;
  event.preventDefault();
  navigate(href);
}
