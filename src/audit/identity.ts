// Which model or maker an answer claims to be. A pattern match on names, nothing more: it reads
// what a model says about itself, which fine-tuning can set to anything.

/** One identity a model may claim, with the names (model, product or maker) that stand for it. */
interface KnownIdentity {
  id: string;
  label: string;
  /** Case-insensitive unless the name is given as a RegExp. */
  names: ReadonlyArray<string | RegExp>;
}

/** The identity of an answer that names none of the known ones. */
export const UNCLEAR_IDENTITY = "none";

export const KNOWN_IDENTITIES: readonly KnownIdentity[] = [
  { id: "deepseek", label: "DeepSeek (深度求索)", names: ["DeepSeek", "深度求索"] },
  {
    id: "qwen",
    label: "Qwen (通义千问, Alibaba)",
    names: ["Qwen", "通义千问", "通義千問", "通义", "千问", "Tongyi", "Alibaba", "阿里巴巴", "阿里云"],
  },
  { id: "openai", label: "GPT (OpenAI)", names: ["ChatGPT", /\bGPT(?:-?\d[\w.-]*)?\b/, "OpenAI"] },
  { id: "claude", label: "Claude (Anthropic)", names: ["Claude", "Anthropic"] },
  { id: "llama", label: "Llama (Meta)", names: [/\bLlama\b/i, /\bMeta(?: AI)?\b/] },
  { id: "gemini", label: "Gemini (Google)", names: ["Gemini", "Bard", /\bGoogle\b/i, "谷歌"] },
  { id: "mistral", label: "Mistral", names: ["Mistral", "Mixtral"] },
  { id: "kimi", label: "Kimi (Moonshot)", names: ["Kimi", "Moonshot", "月之暗面"] },
  { id: "glm", label: "GLM (智谱)", names: [/\b(?:Chat)?GLM\b/i, "智谱", "Zhipu"] },
  { id: "baichuan", label: "Baichuan (百川)", names: ["Baichuan", "百川"] },
  { id: "yi", label: "Yi (01.AI)", names: [/\bYi(?:-\d[\w.-]*)?\b/, "01.AI", "零一万物"] },
  {
    id: "ernie",
    label: "ERNIE (文心, Baidu)",
    names: [/\bERNIE\b/i, "文心一言", "文心", "Baidu", "百度"],
  },
  { id: "doubao", label: "Doubao (豆包, ByteDance)", names: ["Doubao", "豆包", "ByteDance", "字节跳动"] },
  { id: "grok", label: "Grok (xAI)", names: ["Grok", /\bxAI\b/] },
];

/** Words just before a name that deny it ("I am not ChatGPT", "我不是 GPT"). */
const DENIAL = /(?:\bnot\b|n't\b|\bnever\b|不是|并非|並非|而非|不属于|不屬於)[^.。!！?？,，;；\n]{0,12}$/i;

const PATTERNS = KNOWN_IDENTITIES.map((identity) => ({
  id: identity.id,
  patterns: identity.names.map((name) =>
    typeof name === "string"
      ? new RegExp(/^[\x20-\x7e]+$/.test(name) ? `\\b${escape(name)}\\b` : escape(name), "gi")
      : new RegExp(name.source, name.flags.includes("g") ? name.flags : `${name.flags}g`),
  ),
}));

/** Every identity named in `text` (and not denied), in the order first named. */
export function namedIdentities(text: string): string[] {
  const found: Array<{ id: string; at: number }> = [];
  for (const { id, patterns } of PATTERNS) {
    let first = Infinity;
    for (const pattern of patterns) {
      for (const match of text.matchAll(pattern)) {
        if (DENIAL.test(text.slice(Math.max(0, match.index - 24), match.index))) continue;
        first = Math.min(first, match.index);
        break;
      }
    }
    if (first !== Infinity) found.push({ id, at: first });
  }
  return found.sort((a, b) => a.at - b.at).map((entry) => entry.id);
}

/** The identity an answer claims: the first one it names, or `none`. */
export function claimedIdentity(text: string): string {
  return namedIdentities(text)[0] ?? UNCLEAR_IDENTITY;
}

export function identityLabel(id: string): string {
  return KNOWN_IDENTITIES.find((identity) => identity.id === id)?.label ?? "none / unclear";
}

/** How many answers claim each identity, most claimed first. */
export function identityDistribution(claims: readonly string[]): Array<{ identity: string; count: number }> {
  const counts = new Map<string, number>();
  for (const claim of claims) counts.set(claim, (counts.get(claim) ?? 0) + 1);
  return [...counts]
    .map(([identity, count]) => ({ identity, count }))
    .sort((a, b) => b.count - a.count || a.identity.localeCompare(b.identity));
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
