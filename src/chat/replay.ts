/**
 * Replay: re-runs a stored local reply on the same weights (found by SHA-256), template, prompt,
 * settings and seed, and compares the two token by token. Used by `qiusuo replay` (its own engine)
 * and the app's replay route (the server's engine). docs/provenance.md says what it proves.
 */
import { ReplyParts } from "../core/reply-parts.js";
import { aliasThinking } from "../core/model-aliases.js";
import type { Engine, EngineRuntime, ModelProvenance } from "../core/engine.js";
import { ContextLengthError, QiusuoError } from "../core/errors.js";
import type { Conversation, JsonObject, Message } from "../store/conversations.js";
import { recordedReplyContext } from "./reply-context.js";
import { branchOf, promptSha256, replyRequest } from "./reply-request.js";

/** Characters of each text shown on either side of the first difference. */
const DIFF_CONTEXT = 40;

export interface ReplayDifference {
  /** Index of the first token that differs (reasoning tokens first, then the answer's). */
  tokenIndex: number;
  /** The stored and the replayed text around the first differing character. */
  stored: string;
  replayed: string;
}

export interface ReplayReport {
  messageId: string;
  /** The local model that replayed it (the one whose file has the recorded SHA-256). */
  model: string;
  modelFile: string;
  modelSha256: string;
  templateSha256: string | null;
  seed: number;
  temperature: number;
  topP: number;
  thinking: boolean | null;
  /** Whether the replay produced the same tokens, reasoning and answer alike. */
  identical: boolean;
  /** Tokens of the stored and of the replayed reply, in the model's own tokenizer. */
  storedTokens: number;
  replayedTokens: number;
  /** Tokens the engine generated (usage `completion_tokens`): recorded, and now. */
  generatedTokens: { stored: number | null; replayed: number };
  /** The first difference, when not identical. */
  difference?: ReplayDifference;
  /**
   * What differs between the original run and the replay that llama.cpp does not promise to be
   * neutral about (threads, parallel batching, GPU, versions), or about the prompt.
   */
  notes: string[];
  /** The runtime the replay ran on. */
  runtime?: EngineRuntime;
}

/** A reply replay cannot re-run, and why (a 409 on the app route, a message on the CLI). */
export class ReplayRefusedError extends QiusuoError {
  override readonly name = "ReplayRefusedError";
  constructor(code: string, message: string) {
    super("conflict", code, message);
  }
}

export interface ReplayInput {
  engine: Engine;
  conversation: Conversation;
  /** Every message of the conversation. */
  messages: readonly Message[];
  messageId: string;
  signal: AbortSignal;
  /**
   * The text of one of the conversation owner's project files by its SHA-256, for a reply that
   * was given project files; without it such a reply is refused.
   */
  projectFileText?: ((sha256: string) => Promise<string | undefined>) | undefined;
}

/** Replays one stored reply and reports whether the output is identical token for token. */
export async function replayReply(input: ReplayInput): Promise<ReplayReport> {
  const { engine, conversation, messages, signal } = input;
  const reply = messages.find((message) => message.id === input.messageId);
  if (!reply || reply.role !== "assistant") {
    throw new QiusuoError("not_found", "reply_not_found", `There is no reply '${input.messageId}'.`);
  }
  const parent = messages.find((message) => message.id === reply.parentId);
  if (!parent)
    throw new QiusuoError("not_found", "reply_not_found", `There is no reply '${input.messageId}'.`);
  const recorded = reply.provenance ?? {};
  if (recorded.pool !== undefined || recorded.servedBy !== undefined) {
    throw new ReplayRefusedError(
      "replay_upstream",
      `This reply came from the upstream pool '${String(recorded.pool ?? (recorded.servedBy as JsonObject)?.pool)}': replay is for local weights only, which qiusuo can check by their hash.`,
    );
  }
  if (reply.status !== "complete") {
    throw new ReplayRefusedError(
      "replay_incomplete",
      "This reply was stopped before it ended; only complete replies can be replayed.",
    );
  }
  // A turn with tools is several model calls around results (a web page, a knowledge base, an MCP
  // server) that can differ today; replay re-runs one call, so it would report a false mismatch.
  if (recorded.turn !== undefined || reply.settings?.tools !== undefined) {
    throw new ReplayRefusedError(
      "replay_tools",
      "This reply was made with tools (web search, a knowledge base or an MCP server): replay re-runs a single model call without them, so it cannot reproduce this reply.",
    );
  }
  const storedSha = typeof recorded.modelSha256 === "string" ? recorded.modelSha256 : undefined;
  const seed = typeof recorded.seed === "number" ? recorded.seed : undefined;
  if (!storedSha || seed === undefined) {
    throw new ReplayRefusedError(
      "replay_unrecorded",
      "This reply has no recorded model SHA-256 or seed (it was written by an older version, or its file was never hashed), so it cannot be replayed.",
    );
  }
  const now = await findWeights(engine, String(reply.model ?? recorded.model ?? ""), storedSha);
  const storedTemplate = (recorded.templateSha256 as string | null | undefined) ?? null;
  if (now.templateSha256 !== storedTemplate) {
    throw new ReplayRefusedError(
      "replay_template_changed",
      `The chat template has changed: stored sha ${storedTemplate ?? "none"}, now ${now.templateSha256 ?? "none"}.`,
    );
  }

  const settings = reply.settings ?? {};
  const temperature = typeof settings.temperature === "number" ? settings.temperature : 1;
  const topP = typeof settings.topP === "number" ? settings.topP : 1;
  const requestedModel = typeof recorded.requestedModel === "string" ? recorded.requestedModel : now.model;
  const thinking =
    typeof settings.thinking === "boolean" ? settings.thinking : (aliasThinking(requestedModel) ?? null);
  // What the reply was given ahead of the conversation's system prompt, as it recorded it: the
  // custom and project instructions may have changed since, the files' text is found by hash.
  const given = await recordedReplyContext(recorded, input.projectFileText);
  if (given.missing) {
    throw new ReplayRefusedError(
      "replay_context_changed",
      `The project file '${given.missing.name}' this reply was given (sha ${given.missing.sha256}) is no longer in any of the owner's projects; replay needs the same text.`,
    );
  }
  const usage = reply.usage ?? {};
  const storedGenerated = typeof usage.completion_tokens === "number" ? usage.completion_tokens : null;
  const request = (maxTokens: number | undefined) =>
    replyRequest(branchOf(messages, parent), {
      model: now.model,
      systemPrompt: conversation.settings.systemPrompt,
      context: given.context,
      temperature,
      topP,
      thinking: thinking ?? undefined,
      seed,
      maxTokens,
    });
  // One token more than the original made: an identical replay ends where it ended, and a
  // diverging one cannot run on for the whole context.
  let chatRequest = await request(storedGenerated === null ? undefined : storedGenerated + 1);
  let events;
  try {
    events = await engine.chat(chatRequest, signal);
  } catch (error) {
    if (!(error instanceof ContextLengthError) || chatRequest.maxTokens === undefined) throw error;
    chatRequest = await request(undefined); // it ended with the context full
    events = await engine.chat(chatRequest, signal);
  }
  const parts = new ReplyParts();
  for await (const event of events) parts.add(event);
  const runtime = (await engine.provenance?.(now.model, { waitForDigest: false }))?.runtime;

  const tokenize = async (text: string) => (text ? await engine.tokenize!(now.model, text, signal) : []);
  if (!engine.tokenize) throw new ReplayRefusedError("replay_unsupported", "This engine cannot tokenize.");
  const storedTokens = [...(await tokenize(reply.reasoning ?? "")), ...(await tokenize(reply.content))];
  const replayedTokens = [...(await tokenize(parts.reasoning)), ...(await tokenize(parts.content))];
  const tokenIndex = firstDifference(storedTokens, replayedTokens);
  const identical =
    tokenIndex === -1 && (reply.reasoning ?? "") === parts.reasoning && reply.content === parts.content;
  const notes = conditionNotes(recorded, runtime, promptSha256(chatRequest));
  if (now.model !== reply.model) notes.push(`The weights were found under the name '${now.model}'.`);
  return {
    messageId: reply.id,
    model: now.model,
    modelFile: now.modelFile,
    modelSha256: storedSha,
    templateSha256: storedTemplate,
    seed,
    temperature,
    topP,
    thinking,
    identical,
    storedTokens: storedTokens.length,
    replayedTokens: replayedTokens.length,
    generatedTokens: { stored: storedGenerated, replayed: parts.finish?.usage.completionTokens ?? 0 },
    ...(identical
      ? {}
      : {
          difference: textDifference(
            tokenIndex === -1 ? Math.min(storedTokens.length, replayedTokens.length) : tokenIndex,
            joinReply(reply.reasoning ?? "", reply.content),
            joinReply(parts.reasoning, parts.content),
          ),
        }),
    notes,
    ...(runtime ? { runtime } : {}),
  };
}

/**
 * The local model whose file has `sha256`: the reply's own model first, else any local model
 * (hashing each once). A model of that name with other bytes is refused by name.
 */
async function findWeights(engine: Engine, name: string, sha256: string): Promise<ModelProvenance> {
  if (!engine.provenance) {
    throw new ReplayRefusedError("replay_unsupported", "This engine keeps no model provenance.");
  }
  const local = engine.listModels().filter((model) => model.pool === undefined);
  let named: ModelProvenance | undefined;
  if (local.some((model) => model.id === name)) {
    named = await engine.provenance(name);
    if (named.modelSha256 === sha256) return named;
  }
  for (const model of local) {
    if (model.id === name) continue;
    const candidate = await engine.provenance(model.id).catch(() => undefined);
    if (candidate?.modelSha256 === sha256) return candidate;
  }
  if (named) {
    throw new ReplayRefusedError(
      "replay_model_changed",
      `The model file has changed: stored sha ${sha256}, now ${named.modelSha256 ?? "unknown"} (${named.modelFile}). Replay needs the exact weights the reply was made with.`,
    );
  }
  throw new ReplayRefusedError(
    "replay_model_missing",
    `No local model has the weights this reply was made with (sha ${sha256}, '${name}').`,
  );
}

/** What llama.cpp does not promise to be neutral about, compared between then and now. */
function conditionNotes(recorded: JsonObject, now: EngineRuntime | undefined, prompt: string): string[] {
  const notes: string[] = [];
  if (typeof recorded.promptSha256 === "string" && recorded.promptSha256 !== prompt) {
    notes.push(
      "The prompt differs from the recorded one (the system prompt or an earlier message changed since).",
    );
  }
  const then = recorded.runtime as Partial<EngineRuntime> | undefined;
  if (!then) {
    notes.push("The reply recorded no runtime (threads, batching, versions), so those cannot be compared.");
    return notes;
  }
  if (!now) return notes;
  const compare = (label: string, before: unknown, after: unknown) => {
    if (before !== undefined && before !== after)
      notes.push(`${label}: ${String(before)} then, ${String(after)} now.`);
  };
  compare("node-llama-cpp", then.nodeLlamaCpp, now.nodeLlamaCpp);
  compare("llama.cpp", then.llamaCpp, now.llamaCpp);
  compare("GPU", then.gpu, now.gpu);
  compare("Threads", then.threads, now.threads);
  compare("Parallel sequences", then.parallel, now.parallel);
  // Replies recorded before the KV-cache settings existed were made with f16.
  compare("KV cache K type", then.cacheTypeK ?? "f16", now.cacheTypeK ?? "f16");
  compare("KV cache V type", then.cacheTypeV ?? "f16", now.cacheTypeV ?? "f16");
  compare("Flash attention", then.flashAttention, now.flashAttention);
  if ((then.parallel ?? 1) > 1) {
    notes.push(
      `The reply was made with ${then.parallel} parallel sequences: it may have been decoded in one batch with other requests, which llama.cpp does not promise gives the same numbers as decoding it alone.`,
    );
  }
  return notes;
}

function firstDifference(first: readonly number[], second: readonly number[]): number {
  const shorter = Math.min(first.length, second.length);
  for (let index = 0; index < shorter; index++) if (first[index] !== second[index]) return index;
  return first.length === second.length ? -1 : shorter;
}

/** Reasoning and answer as one text for the diff, in the order they were generated. */
function joinReply(reasoning: string, content: string): string {
  return reasoning ? `${reasoning}\n\n${content}` : content;
}

function textDifference(tokenIndex: number, stored: string, replayed: string): ReplayDifference {
  let at = 0;
  while (at < stored.length && at < replayed.length && stored[at] === replayed[at]) at++;
  const around = (text: string) => text.slice(Math.max(0, at - DIFF_CONTEXT), at + DIFF_CONTEXT);
  return { tokenIndex, stored: around(stored), replayed: around(replayed) };
}
