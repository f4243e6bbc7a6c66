// One message of the thread: the user's text (editable, making a branch) or a reply with its
// reasoning, usage and actions. The reply being streamed reads the live signal.
import { useSignal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import type { AttachedFile, AttachedImage, Message } from "../api/types.ts";
import { splitFileTemplate } from "../files.ts";
import { isSafeImageUrl } from "../images.ts";
import { displayChinese, t } from "../i18n/i18n.ts";
import { busy, live, openChat, regenerate, sendMessage, switchBranch } from "../state/chat.ts";
import { CopyButton } from "./copy-button.tsx";
import { MarkdownView } from "./markdown-view.tsx";
import { ProvenanceButton } from "./provenance-panel.tsx";
import { savedSteps, SourcesList, sourcesOf, ToolBlocks } from "./tool-blocks.tsx";

export interface Branches {
  index: number;
  count: number;
  previous: string | null;
  next: string | null;
}

function BranchSwitcher({ branches }: { branches: Branches }) {
  if (branches.count < 2) return null;
  return (
    <span
      class="branches"
      role="group"
      aria-label={t("branchOf", { index: branches.index + 1, count: branches.count })}
    >
      <button
        type="button"
        class="icon-button"
        aria-label={t("previousBranch")}
        disabled={!branches.previous || busy.value}
        onClick={() => branches.previous && void switchBranch(branches.previous)}
      >
        ‹
      </button>
      <span class="branch-position">
        {branches.index + 1} / {branches.count}
      </span>
      <button
        type="button"
        class="icon-button"
        aria-label={t("nextBranch")}
        disabled={!branches.next || busy.value}
        onClick={() => branches.next && void switchBranch(branches.next)}
      >
        ›
      </button>
    </span>
  );
}

function UserMessage({ message, branches }: { message: Message; branches: Branches }) {
  // The server keeps attachments in the message's settings; older or imported messages may hold
  // them inline in DeepSeek's file template instead.
  const parsed = splitFileTemplate(message.content);
  const settings = message.settings as
    { files?: AttachedFile[]; images?: AttachedImage[] } | null | undefined;
  const saved = settings?.files;
  const files = Array.isArray(saved) && saved.length > 0 ? saved : parsed.files;
  // Only inline images of the allowed types are shown; anything else in the saved JSON is not.
  const images = (Array.isArray(settings?.images) ? settings.images : []).filter((image) =>
    isSafeImageUrl(image?.url),
  );
  const question = parsed.question;
  const editing = useSignal(false);
  const draft = useSignal(question);
  const input = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    if (editing.value) input.current?.focus();
  }, [editing.value]);

  const submit = () => {
    const text = draft.value.trim();
    if (!text) return;
    editing.value = false;
    void sendMessage(text, { files, images }, message.parentId);
  };

  return (
    <article class="message user" aria-label={t("you")} data-message-id={message.id}>
      <UserAttachments files={files} images={images} />
      {editing.value ? (
        <div class="edit-box">
          <textarea
            ref={input}
            aria-label={t("edit")}
            value={draft.value}
            rows={3}
            onInput={(event) => (draft.value = event.currentTarget.value)}
            onKeyDown={(event) => {
              if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
                event.preventDefault();
                submit();
              } else if (event.key === "Escape") editing.value = false;
            }}
          />
          <div class="edit-actions">
            <button type="button" class="secondary" onClick={() => (editing.value = false)}>
              {t("cancel")}
            </button>
            <button type="button" class="primary" onClick={submit} disabled={busy.value}>
              {t("sendEdit")}
            </button>
          </div>
        </div>
      ) : (
        <div class="bubble">{displayChinese(question)}</div>
      )}
      {!editing.value && (
        <div class="actions">
          <BranchSwitcher branches={branches} />
          <CopyButton text={question} class="action" />
          <button
            type="button"
            class="action"
            disabled={busy.value}
            onClick={() => {
              draft.value = question;
              editing.value = true;
            }}
          >
            {t("edit")}
          </button>
        </div>
      )}
    </article>
  );
}

function usageLine(message: Message): string | null {
  const usage = message.usage;
  if (!usage || usage.prompt_tokens === undefined) return null;
  return t("usage", {
    prompt: usage.prompt_tokens,
    hits: usage.prompt_cache_hit_tokens ?? 0,
    completion: usage.completion_tokens ?? 0,
  });
}

function Reasoning({ text, seconds, thinking }: { text: string; seconds: number | null; thinking: boolean }) {
  const open = useSignal(true);
  if (!text) return null;
  return (
    <details
      class="reasoning"
      open={open.value}
      onToggle={(event) => (open.value = event.currentTarget.open)}
    >
      <summary>
        {thinking ? t("thinking") : seconds !== null ? t("thoughtFor", { seconds }) : t("thoughtProcess")}
      </summary>
      <div class="reasoning-text">{displayChinese(text)}</div>
    </details>
  );
}

function AssistantMessage({
  message,
  branches,
  isLive,
}: {
  message: Message;
  branches: Branches;
  isLive: boolean;
}) {
  // Only the reply being written subscribes to the live signal; the rest of the thread stays still.
  const current = isLive && live.value?.messageId === message.id ? live.value : null;
  const content = current ? current.content : message.content;
  const reasoning = current ? current.reasoning : (message.reasoning ?? "");
  const thinking =
    current !== null && current.reasoningStartedAt !== null && current.reasoningEndedAt === null;
  let seconds: number | null = null;
  if (current?.reasoningStartedAt != null && current.reasoningEndedAt != null)
    seconds = Math.max(1, Math.round((current.reasoningEndedAt - current.reasoningStartedAt) / 1000));
  else if (message.usage?.reasoningMs !== undefined)
    seconds = Math.max(1, Math.round(message.usage.reasoningMs / 1000));
  const usage = current ? null : usageLine(message);
  const steps = current ? current.steps : savedSteps(message);
  const sources = sourcesOf(steps);
  // A reply that stopped for approval waits until a reply under it answers the decision.
  const waiting =
    !current &&
    (message.provenance as { turn?: { finish?: unknown } } | null | undefined)?.turn?.finish ===
      "approval-needed" &&
    !(openChat.value?.messages ?? []).some((other) => other.parentId === message.id);

  return (
    <article
      class="message assistant"
      aria-label={t("assistant")}
      aria-busy={current ? "true" : "false"}
      data-message-id={message.id}
      data-status={current ? "streaming" : message.status}
    >
      <Reasoning text={reasoning} seconds={seconds} thinking={thinking} />
      <ToolBlocks message={message} steps={steps} streaming={current !== null} waiting={waiting} />
      <MarkdownView source={content} streaming={current !== null} sources={sources} />
      <SourcesList sources={sources} />
      {!current && (
        <div class="actions">
          <BranchSwitcher branches={branches} />
          <CopyButton text={content} class="action" />
          <button type="button" class="action" disabled={busy.value} onClick={() => void regenerate(message)}>
            {t("regenerate")}
          </button>
          {message.provenance != null && <ProvenanceButton message={message} />}
          {message.status === "interrupted" && <span class="badge">{t("interrupted")}</span>}
          {message.model && <span class="meta">{message.model}</span>}
          {usage && <span class="meta usage">{usage}</span>}
        </div>
      )}
    </article>
  );
}

export function MessageView(props: { message: Message; branches: Branches; isLive: boolean }) {
  return props.message.role === "user" ? (
    <UserMessage message={props.message} branches={props.branches} />
  ) : (
    <AssistantMessage {...props} />
  );
}

/** A user message's attached file names and images (already checked by isSafeImageUrl). */
export function UserAttachments({
  files,
  images,
}: {
  files: ReadonlyArray<{ name: string }>;
  images: ReadonlyArray<{ url: string; name?: unknown }>;
}) {
  return (
    <>
      {files.length > 0 && (
        <ul class="file-chips">
          {files.map((file, index) => (
            <li class="file-chip" key={index}>
              {file.name}
            </li>
          ))}
        </ul>
      )}
      {images.length > 0 && (
        <ul class="message-images">
          {images.map((image, index) => (
            <li key={index}>
              <img
                src={image.url}
                alt={typeof image.name === "string" ? t("imageAlt", { name: image.name }) : t("image")}
              />
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
