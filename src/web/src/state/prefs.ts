// Preferences kept in this browser: theme, DeepThink and the model last picked.
import { signal } from "@preact/signals";

function stored<T extends string>(key: string, fallback: T, allowed?: readonly T[]) {
  const saved = localStorage.getItem(key) as T | null;
  const value = signal<T>(saved !== null && (!allowed || allowed.includes(saved)) ? saved : fallback);
  value.subscribe((next) => localStorage.setItem(key, next));
  return value;
}

export type Theme = "system" | "light" | "dark";
export const theme = stored<Theme>("qiusuo.theme", "system", ["system", "light", "dark"]);
export const deepThink = stored<"on" | "off">("qiusuo.deepThink", "off", ["on", "off"]);
export const preferredModel = stored<string>("qiusuo.model", "");

theme.subscribe((next) => {
  if (next === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = next;
});

/** The theme actually shown, for the toggle: the system's when none was chosen. */
export function effectiveTheme(): "light" | "dark" {
  if (theme.value !== "system") return theme.value;
  return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}
