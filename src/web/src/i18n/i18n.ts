// The UI language: taken from the browser, switchable, remembered. Displayed Chinese from models
// and users follows the chosen script through OpenCC (loaded only when Chinese text needs it).
import { computed, signal } from "@preact/signals";
import { en, zhHans, zhHant, type Dictionary, type MessageKey } from "./strings.ts";

export type Language = "en" | "zh-Hans" | "zh-Hant";
export const LANGUAGES: Array<{ id: Language; label: string }> = [
  { id: "en", label: "English" },
  { id: "zh-Hans", label: "简体中文" },
  { id: "zh-Hant", label: "正體中文" },
];
const DICTIONARIES: Record<Language, Dictionary> = { en, "zh-Hans": zhHans, "zh-Hant": zhHant };
const STORAGE_KEY = "qiusuo.language";

/** Maps a BCP 47 tag to one of our languages: zh-TW, zh-HK, zh-MO and zh-Hant-* are Traditional. */
export function languageFromTag(tag: string): Language | null {
  const lower = tag.toLowerCase();
  if (lower.startsWith("zh")) return /hant|-tw|-hk|-mo/.test(lower) ? "zh-Hant" : "zh-Hans";
  if (lower.startsWith("en")) return "en";
  return null;
}

function initialLanguage(): Language {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (saved === "en" || saved === "zh-Hans" || saved === "zh-Hant") return saved;
  for (const tag of navigator.languages ?? [navigator.language]) {
    const language = languageFromTag(tag);
    if (language) return language;
  }
  return "en";
}

export const language = signal<Language>(initialLanguage());
const dictionary = computed(() => DICTIONARIES[language.value]);

export function setLanguage(next: Language): void {
  language.value = next;
  localStorage.setItem(STORAGE_KEY, next);
  document.documentElement.lang = next;
}
document.documentElement.lang = language.value;

/** The word for `key` in the current language, with `{name}` placeholders filled. */
export function t(key: MessageKey, values: Record<string, string | number> = {}): string {
  const text = dictionary.value[key];
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole));
}

// --- Simplified <-> Traditional ------------------------------------------------------------------

type Converter = (text: string) => string;
/** The converter for the current script, once loaded; identity for English. */
export const chineseConverter = signal<Converter | null>(null);
const HAN = /[\u3400-\u9fff]/;
const loaded: Partial<Record<Language, Promise<Converter>>> = {};

function loadConverter(target: "zh-Hans" | "zh-Hant"): Promise<Converter> {
  loaded[target] ??= (
    target === "zh-Hant"
      ? import("opencc-js/cn2t").then((module) => module.Converter({ from: "cn", to: "twp" }))
      : import("opencc-js/t2cn").then((module) => module.Converter({ from: "twp", to: "cn" }))
  ) as Promise<Converter>;
  return loaded[target]!;
}

/** Called when Chinese text is about to be shown: loads the converter for the chosen script. */
export function wantChineseConversion(text: string): void {
  const target = language.value;
  if (target === "en" || !HAN.test(text) || loaded[target]) return;
  void loadConverter(target).then((converter) => {
    if (language.value === target) chineseConverter.value = converter;
  });
}

language.subscribe((next) => {
  chineseConverter.value = null;
  if (next !== "en" && loaded[next])
    void loaded[next]!.then((converter) => (chineseConverter.value = converter));
});

/** Converts the text nodes under `root` to the chosen script, leaving code and math alone. */
export function convertChineseIn(root: HTMLElement, converter: Converter): void {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) =>
      node.parentElement?.closest("pre, code, .math-inline, .math-block, .katex") ||
      !HAN.test(node.nodeValue ?? "")
        ? NodeFilter.FILTER_REJECT
        : NodeFilter.FILTER_ACCEPT,
  });
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const converted = converter(node.nodeValue ?? "");
    if (converted !== node.nodeValue) node.nodeValue = converted;
  }
}

/** Converts a plain string (titles, user text) when a converter is loaded. */
export function displayChinese(text: string): string {
  const converter = chineseConverter.value;
  wantChineseConversion(text);
  return converter ? converter(text) : text;
}
