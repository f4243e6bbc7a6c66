/**
 * An app turn, end to end: builds the reply's request (reply-request.ts, the same one replay
 * rebuilds), calls the model through the engine (the router), runs the tools qiusuo owns when the
 * model calls them and calls the model again with their results, until it answers, the step
 * limit, the deadline or an abort. The reply is saved as it streams, so a turn cut off by a stop,
 * a crash or `kill -9` keeps what was written. Yields TurnEvents (turn-events.ts) that a route
 * only serialises.
 */
import { RequestMeter } from "../auth/request-meter.js";
import type { ChatEvent, ChatRequest, ToolCall, Usage } from "../core/chat.js";
import type { Engine } from "../core/engine.js";
import { QiusuoError } from "../core/errors.js";
import { systemFingerprint } from "../core/fingerprint.js";
import { ReplyParts, wireToolCall } from "../core/reply-parts.js";
import { KEEP_ALIVE, withKeepAlive } from "../protocol/keep-alive.js";
import type { Conversation, JsonObject, Message, ToolCallRecord } from "../store/conversations.js";
import type { SessionUser } from "../store/sessions.js";
import type { Store } from "../store/store.js";
import type { Tool, ToolContext, ToolResult } from "../tools/tool.js";
import { loadReplyContext } from "./reply-context.js";
import { promptSha256, replyRequest } from "./reply-request.js";
import type { TurnEvent, TurnFinishReason } from "./turn-events.js";

/** A streaming reply is written to the database at most this often, and once at its end. */
const SAVE_INTERVAL_MS = 500;

export interface TurnLimits {
  /** Model calls per turn; a model still calling tools at the last one is stopped. Default 6. */
  maxSteps: number;
  /** How long a whole turn may run, tools included, in ms. Default 10 minutes. */
  deadlineMs: number;
}

export const DEFAULT_TURN_LIMITS: TurnLimits = { maxSteps: 6, deadlineMs: 10 * 60_000 };

/** What the user asked for this reply; the conversation's settings fill the gaps. */
export interface Generation {
  model?: string | undefined;
  thinking?: boolean | undefined;
  temperature?: number | undefined;
}

export interface TurnOptions {
  /** The engine the model is called through (the router). */
  engine: Engine;
  store: Store;
  user: SessionUser;
  conversation: Conversation;
  /** The messages from the root down to the one this turn answers. */
  branch: readonly Message[];
  /** The user message the request just added, sent first as a `user` event. */
  newUserMessage?: Message | undefined;
  generation: Generation;
  /** Tools qiusuo runs in this turn, offered to the model. Default none. */
  tools?: readonly Tool[] | undefined;
  /**
   * Continues a reply that ended for approval (the last message of `branch`): its tool calls are
   * run, or, refused, answered with the user's refusal, and the model is called with the results.
   */
  resume?: { calls: readonly ToolCall[]; approved: boolean } | undefined;
  limits?: Partial<TurnLimits> | undefined;
  /** Aborts the turn: the user stopped it or went away. */
  signal: AbortSignal;
  /** A `keep-alive` event each time the model or a tool is silent this long; none when unset. */
  keepAliveMs?: number | undefined;
  /** This server's instance id, recorded on the reply while it streams. */
  instanceId?: string | undefined;
  /** Where failures nobody else sees are reported (a lost usage row, a late provenance write). */
  onError?: ((error: unknown, what: string) => void) | undefined;
}

/** A tool call the turn ran (or was asked to), as the reply's `provenance.turn.steps` records it. */
interface ToolStep {
  /** Which model call asked for it, from 1. */
  step: number;
  id: string;
  name: string;
  arguments: string;
  /** Absent when it was not run: it needs approval, or the turn stopped while it ran. */
  result?: ToolResult;
  awaitingApproval?: true;
  /** What the user decided for an "ask me first" call this turn continued from. */
  approval?: "approved" | "denied";
}

/** What the model reads for an "ask me first" call the user refused. */
export const REFUSED_RESULT = "The user declined to run this tool call.";

/**
 * Starts a turn. Like `Engine.chat`, what can be refused (an unknown model, a prompt too long, a
 * full queue) is thrown before any event, so the route can still answer with a plain HTTP error;
 * the reply is started only once the model has accepted the request.
 */
export async function runTurn(options: TurnOptions): Promise<AsyncIterable<TurnEvent>> {
  const { engine, store, user, conversation, generation } = options;
  const parent = options.branch.at(-1)!;
  const tools = new Map((options.tools ?? []).map((tool) => [tool.definition.name, tool]));
  const limits = { ...DEFAULT_TURN_LIMITS, ...options.limits };
  const model =
    generation.model ?? conversation.settings.model ?? engine.listModels()[0]?.id ?? "deepseek-chat";
  // Custom instructions and the project come first in the system prompt, recorded for replay.
  const given = await loadReplyContext(store, user.id, conversation);
  const request = await replyRequest(options.branch, {
    model,
    systemPrompt: conversation.settings.systemPrompt,
    context: given.context,
    temperature: generation.temperature ?? conversation.settings.temperature,
    thinking: generation.thinking,
  });
  if (tools.size > 0) {
    request.tools = [...tools.values()].map((tool) => tool.definition);
    request.toolChoice = { type: "auto" };
  }
  const deadline = Date.now() + limits.deadlineMs;
  const timeUp = new AbortController();
  const timer = setTimeout(() => timeUp.abort(), limits.deadlineMs);
  const signal = AbortSignal.any([options.signal, timeUp.signal]);
  const call = (chatRequest: ChatRequest) => callModel(options, model, chatRequest, signal);
  const toolContext: ToolContext = { userId: user.id, conversationId: conversation.id, signal, deadline };
  try {
    const resumed = options.resume ? await decided(options.resume, tools, toolContext) : [];
    for (const step of resumed) {
      request.messages.push({ role: "tool", content: step.result!.content, toolCallId: step.id });
    }
    const first = await call(request);
    // The model file's digest may still be computing (a large file's first hash takes a minute):
    // the reply does not wait for it; it is recorded on the reply once the file is hashed.
    const provenance = engine.provenance
      ? await engine.provenance(model, { waitForDigest: false }).catch(() => undefined)
      : undefined;
    // What replay needs beyond the weights: the seed this reply (a regenerate too) really used,
    // the name asked for (DeepSeek's names imply thinking), the prompt's hash, and when it started.
    const recorded: JsonObject = {
      ...provenance,
      seed: request.sampling.seed,
      requestedModel: model,
      promptSha256: promptSha256(request),
      context: { ...given.recorded },
      startedAt: new Date().toISOString(),
      ...(provenance ? { systemFingerprint: systemFingerprint(provenance) } : {}),
    };
    const started = await store.conversations.startReply(user.id, conversation.id, parent.id, {
      ...(options.instanceId === undefined ? {} : { owner: options.instanceId }),
      model: provenance?.model ?? model,
      settings: {
        thinking: request.thinking ?? null,
        temperature: request.sampling.temperature,
        topP: request.sampling.topP,
        ...(tools.size > 0 ? { tools: [...tools.keys()] } : {}),
      },
      provenance: recorded,
    });
    if (!started) {
      throw new QiusuoError(
        "not_found",
        "conversation_not_found",
        `Conversation '${conversation.id}' does not exist.`,
      );
    }
    const record = new ProvenanceRecord(store, started.id, recorded, options.onError);
    // An upstream model has no file to hash; which replica answered is recorded when it finishes.
    if (provenance?.modelSha256 === null && provenance.pool === undefined && engine.provenance) {
      void engine
        .provenance(model)
        .then((known) => record.update({ ...known, systemFingerprint: systemFingerprint(known) }))
        .catch((error: unknown) => options.onError?.(error, "the reply's model digest was not recorded"));
    }
    const turn: Turn = {
      options,
      tools,
      limits,
      timer,
      signal,
      toolContext,
      request,
      call,
      started,
      record,
      resumed,
    };
    return turnEvents(turn, first);
  } catch (error) {
    clearTimeout(timer);
    timeUp.abort(); // frees the model call when the reply could not be started
    throw error;
  }
}

interface Turn {
  options: TurnOptions;
  tools: ReadonlyMap<string, Tool>;
  limits: TurnLimits;
  /** Aborts the turn at its deadline; cleared when it ends. */
  timer: NodeJS.Timeout;
  /** The user's abort and the deadline together. */
  signal: AbortSignal;
  /** What each tool call runs for. */
  toolContext: ToolContext;
  request: ChatRequest;
  /** The approved (or refused) calls this turn continued from, already run. */
  resumed: ToolStep[];
  call(request: ChatRequest): Promise<AsyncIterable<ChatEvent>>;
  started: Message;
  record: ProvenanceRecord;
}

/** One model call, metered on its own (a usage row per call, as for an API request). */
async function callModel(
  options: TurnOptions,
  model: string,
  request: ChatRequest,
  signal: AbortSignal,
): Promise<AsyncIterable<ChatEvent>> {
  const meter = new RequestMeter(options.store, { user: options.user, apiKey: null }, undefined, (error) =>
    options.onError?.(error, "usage was not recorded"),
  );
  try {
    return meter.watch(model, await options.engine.chat(request, signal));
  } catch (error) {
    await meter.settle(error instanceof QiusuoError ? error.code : "internal_error", undefined, model);
    throw error;
  }
}

/** The events of a started turn: every step's model call and tool runs, then how it ended. */
async function* turnEvents(turn: Turn, first: AsyncIterable<ChatEvent>): AsyncGenerator<TurnEvent> {
  const { options, started, signal } = turn;
  const conversations = options.store.conversations;
  if (options.newUserMessage) yield { type: "user", message: options.newUserMessage };
  yield { type: "assistant", message: started };
  const reply = new ReplyText();
  const steps: ToolStep[] = [...turn.resumed];
  for (const step of turn.resumed) yield* toolEvents(step, step.result!);
  const messages = [...turn.request.messages];
  let usage: Usage | undefined;
  let lastFinish: Extract<ChatEvent, { type: "finish" }> | undefined;
  let lastSave = performance.now();
  let finished = false;
  /** The connection is kept alive while the model or a tool is silent, as for an API stream. */
  const keptAlive = <Item>(source: AsyncIterable<Item>): AsyncIterable<Item | typeof KEEP_ALIVE> =>
    options.keepAliveMs === undefined ? source : withKeepAlive(source, options.keepAliveMs);

  /** Saves the reply as it ends and says so; `note` is added to its text first. */
  async function* end(
    reason: TurnFinishReason,
    details: { note?: string; error?: unknown; toolCalls?: ToolCallRecord[] } = {},
  ): AsyncGenerator<TurnEvent> {
    if (details.note) yield { type: "text", text: reply.addNote(details.note) };
    const complete = reason !== "deadline" && reason !== "aborted" && reason !== "error";
    const servedBy = lastFinish?.servedBy;
    // What a redacting pool replaced before the request left: counts by kind, never values.
    const redactions = lastFinish?.redactions;
    if (servedBy || steps.length > 0) {
      await turn.record.update({
        ...(servedBy ? { servedBy: { ...servedBy } } : {}),
        ...(redactions === undefined ? {} : { redactions: { ...redactions } }),
        ...(steps.length > 0 ? { turn: { steps, finish: reason } } : {}),
      });
    }
    const saved = await conversations.finishReply(started.id, {
      status: complete ? "complete" : "interrupted",
      ...reply.progress(),
      ...(complete
        ? {
            toolCalls: details.toolCalls && details.toolCalls.length > 0 ? details.toolCalls : null,
            usage: usage ? usageRecord(usage, reply.reasoningMs) : null,
          }
        : {}),
    });
    finished = true;
    const wire = details.error instanceof QiusuoError ? details.error : undefined;
    yield {
      type: "finish",
      reason,
      reply: saved ?? { ...started, ...reply.progress() },
      ...(details.note ? { message: details.note } : {}),
      ...(reason === "error"
        ? {
            message: wire?.message ?? "The reply failed; see the server log.",
            code: wire?.code ?? "internal_error",
          }
        : {}),
    };
  }

  /** How a turn cut short by its signal ends: the user's stop, or the deadline. */
  const cutShort = () =>
    options.signal.aborted
      ? end("aborted")
      : end("deadline", {
          note: `Stopped: this turn ran past its time limit of ${seconds(turn.limits.deadlineMs)}.`,
        });

  try {
    let events: AsyncIterable<ChatEvent> = first;
    for (let step = 1; ; step++) {
      const parts = new ReplyParts();
      reply.startStep();
      for await (const part of keptAlive(events)) {
        if (part === KEEP_ALIVE) {
          yield { type: "keep-alive" };
          continue;
        }
        parts.add(part);
        if (part.type === "reasoning-delta") yield { type: "reasoning", text: reply.addReasoning(part.text) };
        if (part.type === "text-delta") yield { type: "text", text: reply.addText(part.text) };
        if (performance.now() - lastSave >= SAVE_INTERVAL_MS) {
          lastSave = performance.now();
          await conversations.saveReplyProgress(started.id, reply.progress());
        }
      }
      if (signal.aborted) return yield* cutShort();
      reply.endStep();
      if (parts.finish) {
        lastFinish = parts.finish;
        usage = addUsage(usage, parts.finish.usage);
        yield { type: "usage", step, usage: parts.finish.usage };
      }
      const calls = parts.toolCalls.filter(Boolean);
      if (calls.length === 0) return yield* end(parts.finish?.finishReason === "length" ? "length" : "stop");
      // A call of a tool qiusuo does not run stays on the reply, as the model made it.
      if (calls.some((call) => !turn.tools.has(call.name))) {
        return yield* end("stop", { toolCalls: calls.map(wireToolCall) });
      }
      const needApproval = calls.filter((call) => turn.tools.get(call.name)!.askFirst === true);
      if (needApproval.length > 0) {
        for (const call of needApproval) {
          steps.push({ step, ...call, awaitingApproval: true });
          yield { type: "tool-call", ...call };
          yield { type: "approval-needed", ...call };
        }
        // The reply keeps the calls, so approving them continues from exactly this request.
        return yield* end("approval-needed", { toolCalls: calls.map(wireToolCall) });
      }
      if (step >= turn.limits.maxSteps) {
        return yield* end("tool-limit", {
          note: `Stopped: the model was still calling tools after ${turn.limits.maxSteps} steps.`,
        });
      }
      messages.push({ role: "assistant", content: parts.content, toolCalls: calls });
      for (const call of calls) {
        yield { type: "tool-call", ...call };
        const toolStep: ToolStep = { step, ...call };
        steps.push(toolStep);
        const running = runTool(turn.toolContext, turn.tools.get(call.name)!, call);
        for await (const item of keptAlive(settled(running))) {
          if (item === KEEP_ALIVE) yield { type: "keep-alive" };
        }
        const result = await running;
        if (signal.aborted) return yield* cutShort();
        toolStep.result = result;
        yield* toolEvents(toolStep, result, { call: false });
        messages.push({ role: "tool", content: result.content, toolCallId: call.id });
      }
      events = await turn.call({ ...turn.request, messages: [...messages] });
    }
  } catch (error) {
    if (signal.aborted) return yield* cutShort();
    return yield* end("error", { error });
  } finally {
    clearTimeout(turn.timer);
    // The client went away while an event was waiting to be written: keep what was written.
    if (!finished) {
      await conversations.finishReply(started.id, { status: "interrupted", ...reply.progress() });
    }
  }
}

/** A run call's events: the call (unless already sent), its result, and the sources it gave. */
function* toolEvents(step: ToolStep, result: ToolResult, options = { call: true }): Generator<TurnEvent> {
  if (options.call) yield { type: "tool-call", id: step.id, name: step.name, arguments: step.arguments };
  yield {
    type: "tool-result",
    id: step.id,
    name: step.name,
    content: result.content,
    isError: result.isError,
  };
  if (result.sources && result.sources.length > 0) {
    yield { type: "sources", toolCallId: step.id, sources: result.sources };
  }
}

/**
 * The calls a reply stopped at, decided: approved, each is run (one after another, as the model
 * made them); refused, the "ask me first" ones are answered with the refusal and the rest run.
 */
async function decided(
  resume: NonNullable<TurnOptions["resume"]>,
  tools: ReadonlyMap<string, Tool>,
  context: ToolContext,
): Promise<ToolStep[]> {
  const steps: ToolStep[] = [];
  for (const call of resume.calls) {
    const tool = tools.get(call.name);
    const step: ToolStep = { step: 1, id: call.id, name: call.name, arguments: call.arguments };
    if (tool?.askFirst === true) step.approval = resume.approved ? "approved" : "denied";
    step.result = !tool
      ? { content: `The tool ${call.name} is no longer available in this conversation.`, isError: true }
      : step.approval === "denied"
        ? { content: REFUSED_RESULT, isError: true }
        : await runTool(context, tool, call);
    steps.push(step);
  }
  return steps;
}

/**
 * Runs one call. Bad arguments and a tool that throws become error results the model reads; a
 * tool that does not stop when the turn's signal aborts is left behind.
 */
async function runTool(context: ToolContext, tool: Tool, call: ToolCall): Promise<ToolResult> {
  let args: unknown;
  try {
    args = call.arguments.trim() === "" ? {} : JSON.parse(call.arguments);
  } catch {
    return { content: `The arguments for ${call.name} are not valid JSON.`, isError: true };
  }
  const { signal } = context;
  let stopListening = () => {};
  const aborted = new Promise<never>((_, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    stopListening = () => signal.removeEventListener("abort", onAbort);
    if (signal.aborted) onAbort();
  });
  try {
    return await Promise.race([tool.run(args, context), aborted]);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { content: `The tool ${call.name} failed: ${message}`, isError: true };
  } finally {
    stopListening();
  }
}

/**
 * The reply's text and reasoning over all steps. A step's text starts a new paragraph after the
 * text of the steps before it, so "Let me look that up." and the answer do not run together.
 */
class ReplyText {
  content = "";
  reasoning = "";
  /** From the start to the first answer text after reasoning, for the thread's "thought for". */
  reasoningMs: number | undefined;
  private readonly startedAt = performance.now();
  private textInStep = false;

  startStep(): void {
    this.textInStep = false;
  }

  endStep(): void {
    if (this.reasoning && this.reasoningMs === undefined)
      this.reasoningMs = performance.now() - this.startedAt;
  }

  addReasoning(text: string): string {
    this.reasoning += text;
    return text;
  }

  /** Adds a text delta; returns it as it goes out, with a paragraph break when a step begins. */
  addText(text: string): string {
    if (this.reasoning && this.reasoningMs === undefined)
      this.reasoningMs = performance.now() - this.startedAt;
    const delta = !this.textInStep && this.content !== "" ? `\n\n${text}` : text;
    this.textInStep = true;
    this.content += delta;
    return delta;
  }

  addNote(note: string): string {
    const delta = this.content === "" ? note : `\n\n${note}`;
    this.content += delta;
    return delta;
  }

  progress() {
    return { content: this.content, reasoning: this.reasoning || null };
  }
}

/**
 * A reply's provenance, written whole on each change. Writes go one after another, so a late
 * model digest and the turn's own record (servedBy, tool steps) never overwrite each other.
 */
class ProvenanceRecord {
  private writes: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly messageId: string,
    private readonly recorded: JsonObject,
    private readonly onError: TurnOptions["onError"],
  ) {}

  update(patch: JsonObject): Promise<unknown> {
    Object.assign(this.recorded, patch);
    const snapshot = { ...this.recorded };
    this.writes = this.writes
      .then(() => this.store.conversations.recordProvenance(this.messageId, snapshot))
      .catch((error: unknown) => this.onError?.(error, "the reply's provenance was not recorded"));
    return this.writes;
  }
}

/** A promise as a one-item stream, so a tool run gets keep-alives like a model call. */
async function* settled<Item>(promise: Promise<Item>): AsyncGenerator<Item> {
  yield await promise;
}

function addUsage(total: Usage | undefined, usage: Usage): Usage {
  if (!total) return { ...usage };
  return {
    promptTokens: total.promptTokens + usage.promptTokens,
    promptCacheHitTokens: total.promptCacheHitTokens + usage.promptCacheHitTokens,
    completionTokens: total.completionTokens + usage.completionTokens,
    reasoningTokens: total.reasoningTokens + usage.reasoningTokens,
    ...(usage.source === undefined ? {} : { source: usage.source }),
  };
}

/** The reply's usage as DeepSeek reports it, plus how long the model reasoned. */
function usageRecord(usage: Usage, reasoningMs: number | undefined): JsonObject {
  return {
    prompt_tokens: usage.promptTokens,
    prompt_cache_hit_tokens: usage.promptCacheHitTokens,
    prompt_cache_miss_tokens: usage.promptTokens - usage.promptCacheHitTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    completion_tokens_details: { reasoning_tokens: usage.reasoningTokens },
    ...(reasoningMs === undefined ? {} : { reasoningMs: Math.round(reasoningMs) }),
  };
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
