import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { RankRequest, RankResult } from "../core/engine.js";
import { InvalidRequestError } from "../core/errors.js";
import { optional, parseWith } from "./validation.js";

/** The most documents one request may rank (Cohere's limit; more belongs in a search index). */
export const MAX_RERANK_DOCUMENTS = 1000;

/**
 * The most characters of query and documents together: about 500k tokens, far more than a
 * reranker reads in the seconds a request should take, and well under the 8 MiB body limit.
 */
export const MAX_RERANK_CHARACTERS = 2_000_000;

/**
 * `POST /v1/rerank` in the shape Jina, Cohere, llama-server and vLLM share. Documents are strings
 * or `{text}` objects (Cohere's and Jina's); `top_n` 0 or absent means all (vLLM's reading);
 * `return_documents` defaults to false, as in Cohere v2.
 */
const rerankSchema = z.object({
  model: z.string().min(1, "must not be empty"),
  query: z.string().min(1, "must not be empty"),
  // Items are checked one by one below, after the count: a huge list is refused before it is read.
  documents: z.array(z.unknown()),
  top_n: optional(z.number().int().min(0)),
  return_documents: optional(z.boolean()),
});

export interface ParsedRerank {
  request: RankRequest;
  /** How many results to return, at most the number of documents. */
  topN: number;
  returnDocuments: boolean;
}

export function parseRerank(body: unknown): ParsedRerank {
  const parsed = parseWith(rerankSchema, body);
  const { documents: items } = parsed;
  if (items.length > MAX_RERANK_DOCUMENTS) {
    throw new InvalidRequestError(
      "too_many_documents",
      `A rerank request may hold at most ${MAX_RERANK_DOCUMENTS} documents; this one has ${items.length}. ` +
        "Send them in several requests, or narrow them down first.",
      "documents",
    );
  }
  const documents = items.map(documentText);
  const characters = documents.reduce((sum, document) => sum + document.length, parsed.query.length);
  if (characters > MAX_RERANK_CHARACTERS) {
    throw new InvalidRequestError(
      "documents_too_large",
      `The query and documents of a rerank request may hold at most ${MAX_RERANK_CHARACTERS} characters ` +
        `together; this one has ${characters}. Send fewer or shorter documents.`,
      "documents",
    );
  }
  const topN = parsed.top_n === undefined || parsed.top_n === 0 ? documents.length : parsed.top_n;
  return {
    request: { model: parsed.model, query: parsed.query, documents },
    topN: Math.min(topN, documents.length),
    returnDocuments: parsed.return_documents ?? false,
  };
}

function documentText(item: unknown, index: number): string {
  if (typeof item === "string") return item;
  const text = typeof item === "object" && item !== null ? (item as { text?: unknown }).text : undefined;
  if (typeof text === "string") return text;
  throw new InvalidRequestError(
    "invalid_type",
    `Invalid type for \`documents.${index}\`: expected a string or an object with a string \`text\`.`,
    `documents.${index}`,
  );
}

/** The response: results sorted by score, highest first (ties in document order), cut to `topN`. */
export function rerankResponse(parsed: ParsedRerank, result: RankResult) {
  const { documents } = parsed.request;
  const results = result.scores
    .map((score, index) => ({ index, relevance_score: score }))
    .sort((first, second) => second.relevance_score - first.relevance_score || first.index - second.index)
    .slice(0, parsed.topN)
    .map((item) => (parsed.returnDocuments ? { ...item, document: { text: documents[item.index]! } } : item));
  return {
    id: `rerank-${randomUUID()}`,
    model: parsed.request.model,
    object: "list" as const,
    usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
    results,
  };
}
