// A reply's tool calls and sources: each call as a collapsible block (name, arguments, result;
// failures marked) in the order they happened, the buttons for a call waiting for approval, and the
// sources the reply may cite as `[citation:N]`, with the passage the model was given.
import type { Message, Source, ToolStep } from "../api/types.ts";
import { displayChinese, t } from "../i18n/i18n.ts";
import { busy, decideToolCall } from "../state/chat.ts";
import { Icon } from "./icons.tsx";

/** Longest part of a tool's result shown in the thread; the model was given all of it. */
const RESULT_CHARS = 4_000;
const PASSAGE_CHARS = 1_500;

const clip = (text: string, chars: number) => (text.length > chars ? `${text.slice(0, chars)}…` : text);

/** The tool calls a saved reply records (`provenance.turn.steps`), checked for shape. */
export function savedSteps(message: Message): ToolStep[] {
  const steps = (message.provenance as { turn?: { steps?: unknown } } | null | undefined)?.turn?.steps;
  if (!Array.isArray(steps)) return [];
  return steps.filter(
    (step): step is ToolStep =>
      typeof step === "object" &&
      step !== null &&
      typeof (step as ToolStep).id === "string" &&
      typeof (step as ToolStep).name === "string" &&
      typeof (step as ToolStep).arguments === "string",
  );
}

/** Every source of the steps, by N, first one kept when two share a number. */
export function sourcesOf(steps: readonly ToolStep[]): Source[] {
  const byIndex = new Map<number, Source>();
  for (const step of steps)
    for (const source of step.result?.sources ?? [])
      if (Number.isInteger(source?.index) && !byIndex.has(source.index)) byIndex.set(source.index, source);
  return [...byIndex.values()].sort((a, b) => a.index - b.index);
}

/** A URL that may be a link: http(s) only. */
export function safeHref(url: unknown): string | undefined {
  if (typeof url !== "string") return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

function parsedArguments(text: string): { pretty: string; query?: string } {
  try {
    const value = JSON.parse(text) as unknown;
    const query = (value as { query?: unknown } | null)?.query;
    return {
      pretty: JSON.stringify(value, null, 2),
      ...(typeof query === "string" ? { query } : {}),
    };
  } catch {
    return { pretty: text };
  }
}

function ToolBlock({ step, running }: { step: ToolStep; running: boolean }) {
  const { pretty, query } = parsedArguments(step.arguments);
  const failed = step.result?.isError === true;
  const web = step.name === "web_search" || step.name === "fetch_url";
  const label =
    step.name === "web_search" && query !== undefined
      ? t(running ? "searchingWeb" : "searchedWeb", { query })
      : step.awaitingApproval && !step.result
        ? t("toolWaiting", { name: step.name })
        : running
          ? t("toolRunning", { name: step.name })
          : failed
            ? t("toolFailed", { name: step.name })
            : t("toolCalled", { name: step.name });
  return (
    <details class={`tool-call${failed ? " failed" : ""}`} data-tool={step.name}>
      <summary>
        <Icon name={web ? "globe" : "tool"} size={14} />
        <span>{label}</span>
        {step.approval && <span class="badge">{t(step.approval)}</span>}
      </summary>
      <div class="tool-call-body">
        <div class="tool-call-label">{t("toolArguments")}</div>
        {/* Long text scrolls inside the block: focusable, so the keyboard can scroll it too. */}
        <pre tabIndex={0}>{pretty}</pre>
        {step.result && (
          <>
            <div class="tool-call-label">{t("toolResult")}</div>
            <pre tabIndex={0}>{clip(step.result.content, RESULT_CHARS)}</pre>
          </>
        )}
      </div>
    </details>
  );
}

/**
 * The reply's tool calls. `waiting` (a saved reply that stopped for approval and has no answer
 * yet) shows Approve and Deny under the calls that need it.
 */
export function ToolBlocks({
  message,
  steps,
  streaming,
  waiting,
}: {
  message: Message;
  steps: readonly ToolStep[];
  streaming: boolean;
  waiting: boolean;
}) {
  if (steps.length === 0) return null;
  const pending = steps.filter((step) => step.awaitingApproval);
  return (
    <div class="tool-calls">
      {steps.map((step) => (
        <ToolBlock key={step.id} step={step} running={streaming && !step.result && !step.awaitingApproval} />
      ))}
      {waiting && pending.length > 0 && (
        <div class="approval" role="group" aria-label={t("approvalNeeded", { name: pending[0]!.name })}>
          <p>{t("approvalNeeded", { name: pending.map((step) => step.name).join(", ") })}</p>
          <button
            type="button"
            class="primary"
            disabled={busy.value}
            onClick={() => void decideToolCall(message, true)}
          >
            {t("approve")}
          </button>
          <button
            type="button"
            class="secondary"
            disabled={busy.value}
            onClick={() => void decideToolCall(message, false)}
          >
            {t("deny")}
          </button>
        </div>
      )}
    </div>
  );
}

/** Where a source is from: the web site's host, or the knowledge file's name. */
function origin(source: Source): string {
  const href = safeHref(source.url);
  if (href) return new URL(href).host;
  return typeof source.file === "string" ? source.file : "";
}

/** The sources under a reply, numbered as the reply cites them. */
export function SourcesList({ sources }: { sources: readonly Source[] }) {
  if (sources.length === 0) return null;
  return (
    <section class="sources" aria-label={t("sources")}>
      <div class="sources-title">{t("sources")}</div>
      <ol>
        {sources.map((source) => {
          const href = safeHref(source.url);
          const title = displayChinese(String(source.title ?? ""));
          return (
            <li key={source.index} data-source-index={source.index}>
              <span class="source-index">{source.index}</span>
              {href ? (
                <a href={href} target="_blank" rel="noopener noreferrer nofollow">
                  {title || href}
                </a>
              ) : (
                <span class="source-title">{title}</span>
              )}
              <span class="source-origin">{origin(source)}</span>
              {typeof source.passage === "string" && source.passage !== "" && (
                <details class="source-passage">
                  <summary>{t("showPassage")}</summary>
                  <p>{displayChinese(clip(source.passage, PASSAGE_CHARS))}</p>
                </details>
              )}
            </li>
          );
        })}
      </ol>
    </section>
  );
}
