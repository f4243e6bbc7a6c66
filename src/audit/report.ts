// The audit report's shape: what `qiusuo audit` writes as JSON and renders as HTML.

import type { SummaryStats } from "./similarity.js";

export const AUDIT_REPORT_VERSION = 1;

export interface AuditedModel {
  /** The name as given on the command line. */
  name: string;
  /** The id the engine serves it under (aliases resolved). */
  id: string;
  /** The upstream pool, for a remote model. */
  pool?: string;
  /** SHA-256 of a local model's file. */
  sha256?: string;
  file?: string;
}

/** One model's answer to one prompt. */
export interface AuditAnswer {
  text: string;
  /** Reasoning the model wrote before its answer, if any (not compared). */
  reasoning?: string;
  /** Tokens generated, as the engine counted them. */
  tokens: number;
  /** Why there is no answer (the request failed). */
  error?: string;
}

export interface IdentityRow {
  prompt: string;
  a: AuditAnswer & { claim: string; named: string[] };
  b: AuditAnswer & { claim: string; named: string[] };
}

export interface BehaviourRow {
  prompt: string;
  a: AuditAnswer;
  b: AuditAnswer;
  /** Jaccard similarity of unigrams and bigrams (words; characters for Chinese), 0..1. */
  overlap: number;
  /** Cosine similarity of the two answers' embeddings, with `--embedding-model`. */
  embedding?: number;
}

/** A text's likelihood under a model, summed over the behaviour answers. */
export interface LikelihoodCell {
  tokens: number;
  characters: number;
  logLikelihood: number;
  /** Mean log-probability per token (nats); comparable only within one tokenizer. */
  perToken: number;
  /** Log-likelihood per character (nats), comparable across tokenizers. */
  perCharacter: number;
}

export interface LikelihoodRow {
  prompt: string;
  /** Per-token log-likelihood of A's answer under A and under B, and of B's under A and B. */
  aUnderA: number;
  aUnderB: number;
  bUnderA: number;
  bUnderB: number;
}

export interface LikelihoodPart {
  available: boolean;
  /** Why the part was skipped (an upstream model: its weights are not here). */
  reason?: string;
  rows: LikelihoodRow[];
  aUnderA?: LikelihoodCell;
  aUnderB?: LikelihoodCell;
  bUnderA?: LikelihoodCell;
  bUnderB?: LikelihoodCell;
}

export interface AuditReport {
  version: typeof AUDIT_REPORT_VERSION;
  createdAt: string;
  durationSeconds: number;
  models: { a: AuditedModel; b: AuditedModel };
  settings: {
    /** Most tokens generated per answer. */
    maxTokens: number;
    /** Most tokens of an answer scored for likelihood. */
    likelihoodTokens: number;
    identityPrompts: number;
    behaviourPrompts: number;
    embeddingModel?: string;
  };
  identity: {
    rows: IdentityRow[];
    /** Answers per claimed identity (`none` when no known name is claimed), most first. */
    distribution: {
      a: Array<{ identity: string; count: number }>;
      b: Array<{ identity: string; count: number }>;
    };
  };
  behaviour: {
    rows: BehaviourRow[];
    overlap?: SummaryStats;
    embedding?: SummaryStats;
    /** Prompts both models answered with exactly the same text. */
    identicalAnswers: number;
  };
  likelihood: LikelihoodPart;
}
