/**
 * The prompt a web-search answer is written from, and the citations read back out of the answer.
 * The templates are DeepSeek's own: the ones its web app and API platform use for search answers,
 * published in deepseek-ai/DeepSeek-R1's README.md, section "Official Prompts"
 * (https://github.com/deepseek-ai/DeepSeek-R1#official-prompts, MIT licence), with
 * `{search_results}`, `{cur_date}` and `{question}` as arguments. DeepSeek uses the Chinese one
 * for Chinese questions and the English one otherwise; each result is wrapped in
 * `[webpage N begin]...[webpage N end]` and the model cites it as `[citation:N]`.
 */
import type { FetchedPage } from "./fetch-page.js";
import { cut, type SearchResult } from "./search-provider.js";

const ZH_TEMPLATE = `# 以下内容是基于用户发送的消息的搜索结果:
{search_results}
在我给你的搜索结果中，每个结果都是[webpage X begin]...[webpage X end]格式的，X代表每篇文章的数字索引。请在适当的情况下在句子末尾引用上下文。请按照引用编号[citation:X]的格式在答案中对应部分引用上下文。如果一句话源自多个上下文，请列出所有相关的引用编号，例如[citation:3][citation:5]，切记不要将引用集中在最后返回引用编号，而是在答案对应部分列出。
在回答时，请注意以下几点：
- 今天是{cur_date}。
- 并非搜索结果的所有内容都与用户的问题密切相关，你需要结合问题，对搜索结果进行甄别、筛选。
- 对于列举类的问题（如列举所有航班信息），尽量将答案控制在10个要点以内，并告诉用户可以查看搜索来源、获得完整信息。优先提供信息完整、最相关的列举项；如非必要，不要主动告诉用户搜索结果未提供的内容。
- 对于创作类的问题（如写论文），请务必在正文的段落中引用对应的参考编号，例如[citation:3][citation:5]，不能只在文章末尾引用。你需要解读并概括用户的题目要求，选择合适的格式，充分利用搜索结果并抽取重要信息，生成符合用户要求、极具思想深度、富有创造力与专业性的答案。你的创作篇幅需要尽可能延长，对于每一个要点的论述要推测用户的意图，给出尽可能多角度的回答要点，且务必信息量大、论述详尽。
- 如果回答很长，请尽量结构化、分段落总结。如果需要分点作答，尽量控制在5个点以内，并合并相关的内容。
- 对于客观类的问答，如果问题的答案非常简短，可以适当补充一到两句相关信息，以丰富内容。
- 你需要根据用户要求和回答内容选择合适、美观的回答格式，确保可读性强。
- 你的回答应该综合多个相关网页来回答，不能重复引用一个网页。
- 除非用户要求，否则你回答的语言需要和用户提问的语言保持一致。

# 用户消息为：
{question}`;

const EN_TEMPLATE = `# The following contents are the search results related to the user's message:
{search_results}
In the search results I provide to you, each result is formatted as [webpage X begin]...[webpage X end], where X represents the numerical index of each article. Please cite the context at the end of the relevant sentence when appropriate. Use the citation format [citation:X] in the corresponding part of your answer. If a sentence is derived from multiple contexts, list all relevant citation numbers, such as [citation:3][citation:5]. Be sure not to cluster all citations at the end; instead, include them in the corresponding parts of the answer.
When responding, please keep the following points in mind:
- Today is {cur_date}.
- Not all content in the search results is closely related to the user's question. You need to evaluate and filter the search results based on the question.
- For listing-type questions (e.g., listing all flight information), try to limit the answer to 10 key points and inform the user that they can refer to the search sources for complete information. Prioritize providing the most complete and relevant items in the list. Avoid mentioning content not provided in the search results unless necessary.
- For creative tasks (e.g., writing an essay), ensure that references are cited within the body of the text, such as [citation:3][citation:5], rather than only at the end of the text. You need to interpret and summarize the user's requirements, choose an appropriate format, fully utilize the search results, extract key information, and generate an answer that is insightful, creative, and professional. Extend the length of your response as much as possible, addressing each point in detail and from multiple perspectives, ensuring the content is rich and thorough.
- If the response is lengthy, structure it well and summarize it in paragraphs. If a point-by-point format is needed, try to limit it to 5 points and merge related content.
- For objective Q&A, if the answer is very brief, you may add one or two related sentences to enrich the content.
- Choose an appropriate and visually appealing format for your response based on the user's requirements and the content of the answer, ensuring strong readability.
- Your answer should synthesize information from multiple relevant webpages and avoid repeatedly citing the same webpage.
- Unless the user requests otherwise, your response should be in the same language as the user's question.

# The user's message is:
{question}`;

/** One source the answer may cite; `index` is the N of `[webpage N begin]` and `[citation:N]`. */
export interface SearchSource {
  index: number;
  title: string;
  url: string;
  /** What the prompt gave the model for it: the fetched page's text (cut to budget), else the search snippet. */
  text: string;
  publishedDate?: string;
  siteName?: string;
}

export interface SearchAnswerInput {
  question: string;
  /** In rank order; each becomes a source. */
  results: readonly SearchResult[];
  /** Pages fetched for some of the results, by the result's URL. A page's text replaces the snippet. */
  pages?: ReadonlyMap<string, FetchedPage>;
  /** Which template. Default: Chinese when the question contains CJK characters, else English. */
  language?: "zh" | "en";
  /** Today, for `{cur_date}`. Default now. */
  now?: Date;
  /** The IANA zone `{cur_date}` is given in. Default the server's. */
  timeZone?: string;
  /** Most characters the whole `{search_results}` block may take. Default 24,000. */
  budgetChars?: number;
  /** The N of the first result, so sources stay numbered once across several searches of a turn. Default 1. */
  firstIndex?: number;
}

export const DEFAULT_BUDGET_CHARS = 24_000;
const CJK = /[\u3400-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]/;

/** The user message for a search answer, and the sources it numbers. */
export function buildSearchAnswerPrompt(input: SearchAnswerInput): {
  prompt: string;
  sources: SearchSource[];
} {
  const language = input.language ?? (CJK.test(input.question) ? "zh" : "en");
  const budget = input.budgetChars ?? DEFAULT_BUDGET_CHARS;
  const candidates = input.results.map((result, position) => {
    const page = input.pages?.get(result.url);
    const source: SearchSource = {
      index: position + (input.firstIndex ?? 1),
      title: page?.title || result.title,
      url: result.url,
      text: page?.text || result.snippet,
    };
    if (result.publishedDate) source.publishedDate = result.publishedDate;
    if (page?.siteName) source.siteName = page.siteName;
    return source;
  });
  // Headers first: a source whose title and URL no longer fit is left out, from the last rank up.
  const sources: SearchSource[] = [];
  let headerChars = 0;
  for (const source of candidates) {
    const size = webpage(source, "").length + (sources.length > 0 ? 1 : 0); // and the "\n" between blocks
    if (headerChars + size > budget) break;
    headerChars += size;
    sources.push(source);
  }
  const shares = fairShares(
    sources.map((source) => source.text.length),
    budget - headerChars,
  );
  sources.forEach((source, position) => (source.text = cut(source.text, shares[position]!)));
  const dateLocale = language === "zh" ? "zh-CN" : "en-US";
  const curDate = new Intl.DateTimeFormat(dateLocale, {
    dateStyle: "full",
    ...(input.timeZone ? { timeZone: input.timeZone } : {}),
  }).format(input.now ?? new Date());
  const template = language === "zh" ? ZH_TEMPLATE : EN_TEMPLATE;
  // One pass over the placeholders, so braces inside results or the question are never re-read.
  const values: Record<string, string> = {
    search_results: sources.map((source) => webpage(source, source.text)).join("\n"),
    cur_date: curDate,
    question: input.question,
  };
  const prompt = template.replace(
    /\{(search_results|cur_date|question)\}/g,
    (_, name: string) => values[name]!,
  );
  return { prompt, sources };
}

/** One `[webpage N begin]...[webpage N end]` block. */
function webpage(source: SearchSource, text: string): string {
  const lines = [`[webpage ${source.index} begin]`, `Title: ${source.title}`, `URL: ${source.url}`];
  if (source.publishedDate) lines.push(`Published: ${source.publishedDate.slice(0, 10)}`);
  lines.push(text, `[webpage ${source.index} end]`);
  return lines.join("\n");
}

/**
 * Splits `budget` characters among texts of the given lengths: short texts keep all of theirs and
 * what they leave over goes to the longer ones, each of which gets an equal share.
 */
export function fairShares(lengths: readonly number[], budget: number): number[] {
  const shares = lengths.map(() => 0);
  const order = lengths.map((_, position) => position).sort((a, b) => lengths[a]! - lengths[b]!);
  let remaining = Math.max(0, budget);
  order.forEach((position, rank) => {
    const share = Math.min(lengths[position]!, Math.floor(remaining / (order.length - rank)));
    shares[position] = share;
    remaining -= share;
  });
  return shares;
}

/** One citation marker in an answer, e.g. `[citation:3]`, `[citation: 1, 2]`, `【citation：4】`. */
export interface CitationMarker {
  /** Where the marker is in the text (UTF-16 offsets, end exclusive), so the app can replace it. */
  start: number;
  end: number;
  /** Every number in the marker, in order, valid or not. */
  numbers: number[];
  /** The sources those numbers name; numbers with no source (a model's slip) are left out. */
  sources: SearchSource[];
}

/**
 * The `[citation:N]` markers in `text` and the sources they name. Besides DeepSeek's own form it
 * takes the variants models write: spaces (`[citation: 3]`), a full-width colon or brackets
 * (`【citation：3】`), no colon, several numbers in one marker (`[citation:1,2]`,
 * `[citation:1, citation:2]`), any case. `cited` lists each cited source once, in first-cited order.
 */
export function parseCitations(
  text: string,
  sources: readonly SearchSource[],
): { markers: CitationMarker[]; cited: SearchSource[] } {
  const byIndex = new Map(sources.map((source) => [source.index, source]));
  const markers: CitationMarker[] = [];
  const cited = new Map<number, SearchSource>();
  const marker =
    /[[【]\s*citation\s*[:：]?\s*\d{1,4}(?:\s*[,，、;；]\s*(?:citation\s*[:：]?\s*)?\d{1,4})*\s*[\]】]/giu;
  for (const match of text.matchAll(marker)) {
    const numbers = (match[0].match(/\d+/g) ?? []).map(Number);
    const named = numbers.flatMap((number) => {
      const source = byIndex.get(number);
      return source === undefined ? [] : [source];
    });
    for (const source of named) if (!cited.has(source.index)) cited.set(source.index, source);
    markers.push({ start: match.index!, end: match.index! + match[0].length, numbers, sources: named });
  }
  return { markers, cited: [...cited.values()] };
}
