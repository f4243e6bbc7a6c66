// Runs an audit of two models through any Engine (usually the router over the local engine and
// the upstream pools): greedy answers, identity claims, similarity, and likelihood where it can.

import { PLAIN_TEXT_OPTIONS, type ChatRequest } from "../core/chat.js";
import type { ContinuationScore, Engine } from "../core/engine.js";
import { QiusuoError } from "../core/errors.js";
import { claimedIdentity, identityDistribution, namedIdentities } from "./identity.js";
import { BEHAVIOUR_PROMPTS, IDENTITY_PROMPTS } from "./prompts.js";
import {
  AUDIT_REPORT_VERSION,
  type AuditAnswer,
  type AuditedModel,
  type AuditReport,
  type BehaviourRow,
  type LikelihoodCell,
  type LikelihoodPart,
} from "./report.js";
import { cosineSimilarity, overlapSimilarity, summarize } from "./similarity.js";

export interface AuditOptions {
  /** The two models, as the engine names them. */
  a: string;
  b: string;
  /** Prompts of each set to use, from the start of the list; default all. */
  prompts?: number;
  /** Most tokens per answer. Default 256. */
  maxTokens?: number;
  /** Most tokens of each answer scored for likelihood. Default 128. */
  likelihoodTokens?: number;
  /** A model for embeddings (`Engine.embed`); without it, only n-gram overlap is measured. */
  embeddingModel?: string;
  /** Told after each step: answers, embeddings and likelihood scores. */
  onProgress?: (progress: { done: number; total: number; phase: string }) => void;
  signal?: AbortSignal;
}

export const DEFAULT_AUDIT_MAX_TOKENS = 256;
export const DEFAULT_LIKELIHOOD_TOKENS = 128;

export async function runAudit(engine: Engine, options: AuditOptions): Promise<AuditReport> {
  const started = performance.now();
  const signal = options.signal ?? new AbortController().signal;
  const maxTokens = options.maxTokens ?? DEFAULT_AUDIT_MAX_TOKENS;
  const likelihoodTokens = options.likelihoodTokens ?? DEFAULT_LIKELIHOOD_TOKENS;
  const identityPrompts = IDENTITY_PROMPTS.slice(0, options.prompts ?? IDENTITY_PROMPTS.length);
  const behaviourPrompts = BEHAVIOUR_PROMPTS.slice(0, options.prompts ?? BEHAVIOUR_PROMPTS.length);
  const models = { a: await describeModel(engine, options.a), b: await describeModel(engine, options.b) };
  const remote = [models.a, models.b].find((model) => model.pool !== undefined);
  const scorable = Boolean(engine.scoreContinuation) && remote === undefined;
  const total =
    2 * (identityPrompts.length + behaviourPrompts.length) +
    (options.embeddingModel ? behaviourPrompts.length : 0) +
    (scorable ? 4 * behaviourPrompts.length : 0);
  let done = 0;
  const step = (phase: string) => options.onProgress?.({ done: ++done, total, phase });
  const answer = async (model: string, prompt: string, phase: string) => {
    const result = await scoped(signal, (own) => answerGreedily(engine, model, prompt, maxTokens, own));
    step(phase);
    return result;
  };

  const identityRows = [];
  for (const prompt of identityPrompts) {
    const a = await answer(options.a, prompt, "identity");
    const b = await answer(options.b, prompt, "identity");
    identityRows.push({ prompt, a: withClaim(a), b: withClaim(b) });
  }

  const behaviourRows: BehaviourRow[] = [];
  for (const prompt of behaviourPrompts) {
    const a = await answer(options.a, prompt, "behaviour");
    const b = await answer(options.b, prompt, "behaviour");
    behaviourRows.push({ prompt, a, b, overlap: overlapSimilarity(a.text, b.text) });
  }
  if (options.embeddingModel) {
    for (const row of behaviourRows) {
      if (row.a.text !== "" && row.b.text !== "") {
        const texts = [row.a.text, row.b.text];
        const { vectors } = await scoped(signal, (own) => engine.embed!(options.embeddingModel!, texts, own));
        row.embedding = cosineSimilarity(vectors[0]!, vectors[1]!);
      }
      step("embeddings");
    }
  }

  const likelihood = scorable
    ? await scoreAnswers(engine, options, behaviourRows, likelihoodTokens, signal, () => step("likelihood"))
    : {
        available: false,
        reason: remote
          ? `${remote.name} is served by the upstream pool ${remote.pool}: its weights are not on this machine, and upstreams do not return the probabilities of a given text.`
          : "This engine cannot score text.",
        rows: [],
      };

  const embeddings = behaviourRows.flatMap((row) => (row.embedding === undefined ? [] : [row.embedding]));
  const overlap = summarize(behaviourRows.map((row) => row.overlap));
  const embedding = summarize(embeddings);
  return {
    version: AUDIT_REPORT_VERSION,
    createdAt: new Date().toISOString(),
    durationSeconds: Math.round((performance.now() - started) / 100) / 10,
    models,
    settings: {
      maxTokens,
      likelihoodTokens,
      identityPrompts: identityPrompts.length,
      behaviourPrompts: behaviourPrompts.length,
      ...(options.embeddingModel ? { embeddingModel: options.embeddingModel } : {}),
    },
    identity: {
      rows: identityRows,
      distribution: {
        a: identityDistribution(identityRows.map((row) => row.a.claim)),
        b: identityDistribution(identityRows.map((row) => row.b.claim)),
      },
    },
    behaviour: {
      rows: behaviourRows,
      ...(overlap ? { overlap } : {}),
      ...(embedding ? { embedding } : {}),
      identicalAnswers: behaviourRows.filter((row) => !row.a.error && row.a.text === row.b.text).length,
    },
    likelihood,
  };
}

/**
 * Runs one engine call under its own signal that follows `signal`: engines listen on the signal
 * they get for the whole of a call, and hundreds of calls on one long-lived signal would pile up.
 */
async function scoped<Result>(
  signal: AbortSignal,
  use: (own: AbortSignal) => Promise<Result>,
): Promise<Result> {
  const controller = new AbortController();
  const abort = () => controller.abort(signal.reason);
  if (signal.aborted) abort();
  signal.addEventListener("abort", abort, { once: true });
  try {
    return await use(controller.signal);
  } finally {
    signal.removeEventListener("abort", abort);
  }
}

function withClaim(answer: AuditAnswer) {
  // A model that puts its self-description only in its reasoning still says who it is.
  const text = answer.text.trim() === "" ? (answer.reasoning ?? "") : answer.text;
  return { ...answer, claim: claimedIdentity(text), named: namedIdentities(text) };
}

async function describeModel(engine: Engine, name: string): Promise<AuditedModel> {
  try {
    const provenance = await engine.provenance?.(name);
    if (provenance) {
      return {
        name,
        id: provenance.model,
        ...(provenance.pool ? { pool: provenance.pool } : {}),
        ...(provenance.modelSha256 ? { sha256: provenance.modelSha256 } : {}),
        ...(provenance.modelFile && !provenance.pool ? { file: provenance.modelFile } : {}),
      };
    }
  } catch (error) {
    if (!(error instanceof QiusuoError) || error.code !== "not_supported") throw error;
  }
  return { name, id: name };
}

function greedyRequest(model: string, prompt: string, maxTokens: number): ChatRequest {
  return {
    model,
    messages: [{ role: "user", content: prompt }],
    // Greedy: the same weights give the same answer, so a difference is the models', not chance's.
    sampling: { temperature: 0, topP: 1, seed: 0, frequencyPenalty: 0, presencePenalty: 0 },
    maxTokens,
    stop: [],
    thinking: false,
    ...PLAIN_TEXT_OPTIONS,
  };
}

/** A model's greedy answer; a failed request is recorded as such rather than ending the audit. */
async function answerGreedily(
  engine: Engine,
  model: string,
  prompt: string,
  maxTokens: number,
  signal: AbortSignal,
): Promise<AuditAnswer> {
  let text = "";
  let reasoning = "";
  let tokens = 0;
  try {
    for await (const event of await engine.chat(greedyRequest(model, prompt, maxTokens), signal)) {
      if (event.type === "text-delta") text += event.text;
      else if (event.type === "reasoning-delta") reasoning += event.text;
      else if (event.type === "finish") tokens = event.usage.completionTokens;
    }
  } catch (error) {
    if (signal.aborted) throw error;
    return { text, tokens, error: error instanceof Error ? error.message : String(error) };
  }
  return { text, ...(reasoning ? { reasoning } : {}), tokens };
}

/**
 * Scores each model's behaviour answers under both models. Skipped, with the reason, when either
 * model cannot score (an upstream model: its weights are not on this machine).
 */
async function scoreAnswers(
  engine: Engine,
  options: AuditOptions,
  rows: readonly BehaviourRow[],
  maxTokens: number,
  signal: AbortSignal,
  step: () => void,
): Promise<LikelihoodPart> {
  const totals = { aUnderA: cell(), aUnderB: cell(), bUnderA: cell(), bUnderB: cell() };
  const part: LikelihoodPart = { available: true, rows: [] };
  const score = async (model: string, prompt: string, text: string, into: LikelihoodCell) => {
    const request = greedyRequest(model, prompt, maxTokens);
    const result: ContinuationScore = await scoped(signal, (own) =>
      engine.scoreContinuation!(request, text, { maxTokens }, own),
    );
    step();
    into.tokens += result.tokens;
    into.characters += result.characters;
    into.logLikelihood += result.logLikelihood;
    return result.tokens > 0 ? result.logLikelihood / result.tokens : 0;
  };
  try {
    for (const row of rows) {
      if (row.a.error || row.b.error || row.a.text === "" || row.b.text === "") continue;
      part.rows.push({
        prompt: row.prompt,
        aUnderA: await score(options.a, row.prompt, row.a.text, totals.aUnderA),
        aUnderB: await score(options.b, row.prompt, row.a.text, totals.aUnderB),
        bUnderA: await score(options.a, row.prompt, row.b.text, totals.bUnderA),
        bUnderB: await score(options.b, row.prompt, row.b.text, totals.bUnderB),
      });
    }
  } catch (error) {
    if (error instanceof QiusuoError && error.code === "not_supported") {
      return { available: false, reason: error.message, rows: [] };
    }
    throw error;
  }
  for (const [key, value] of Object.entries(totals)) {
    value.perToken = value.tokens > 0 ? value.logLikelihood / value.tokens : 0;
    value.perCharacter = value.characters > 0 ? value.logLikelihood / value.characters : 0;
    part[key as keyof typeof totals] = value;
  }
  return part;
}

function cell(): LikelihoodCell {
  return { tokens: 0, characters: 0, logLikelihood: 0, perToken: 0, perCharacter: 0 };
}
