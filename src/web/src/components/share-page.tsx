// A shared conversation, for anyone with the link (no login): the snapshot rendered by the same
// Markdown, code and math renderer and sanitiser as the thread, reasoning collapsed, and nothing
// else of the app but the language and theme switches.
import { useSignal } from "@preact/signals";
import type { ComponentChildren } from "preact";
import { useEffect } from "preact/hooks";
import { ApiError, api } from "../api/client.ts";
import type { SharedConversation, SharedMessage } from "../api/types.ts";
import { splitFileTemplate } from "../files.ts";
import { displayChinese, language, t } from "../i18n/i18n.ts";
import { isSafeImageUrl } from "../images.ts";
import { MarkdownView } from "./markdown-view.tsx";
import { UserAttachments } from "./message-view.tsx";

type PageState =
  | { kind: "loading" }
  | { kind: "missing" }
  | { kind: "failed"; message: string }
  | { kind: "ready"; share: SharedConversation };

function SharedQuestion({ message }: { message: SharedMessage }) {
  // Older and imported messages hold their files inline, in DeepSeek's file template.
  const parsed = splitFileTemplate(message.content);
  const files = message.files.length > 0 ? message.files : parsed.files;
  const images = message.images.filter((image) => isSafeImageUrl(image?.url));
  return (
    <article class="message user" aria-label={t("sharedAsker")}>
      <UserAttachments files={files} images={images} />
      {parsed.question && <div class="bubble">{displayChinese(parsed.question)}</div>}
    </article>
  );
}

function SharedReply({ message }: { message: SharedMessage }) {
  const seconds = message.reasoningMs === null ? null : Math.max(1, Math.round(message.reasoningMs / 1000));
  return (
    <article class="message assistant" aria-label={t("assistant")} data-status="complete">
      {message.reasoning && (
        <details class="reasoning">
          <summary>{seconds === null ? t("thoughtProcess") : t("thoughtFor", { seconds })}</summary>
          <div class="reasoning-text">{displayChinese(message.reasoning)}</div>
        </details>
      )}
      <MarkdownView source={message.content} streaming={false} />
    </article>
  );
}

export function SharePage({ token, controls }: { token: string; controls: ComponentChildren }) {
  const state = useSignal<PageState>({ kind: "loading" });

  useEffect(() => {
    state.value = { kind: "loading" };
    api.shared(token).then(
      (share) => (state.value = { kind: "ready", share }),
      (error: unknown) =>
        (state.value =
          error instanceof ApiError && error.status === 404
            ? { kind: "missing" }
            : { kind: "failed", message: (error as Error).message }),
    );
  }, [token]);

  const current = state.value;
  const title = current.kind === "ready" ? displayChinese(current.share.title) : t("sharedConversation");
  useEffect(() => {
    document.title = `${title} · ${t("appName")}`;
  });

  const date = (ms: number) =>
    new Date(ms).toLocaleDateString(language.value, { year: "numeric", month: "long", day: "numeric" });

  return (
    <div class="share-page">
      <header class="header">
        <span class="brand">
          <span class="logo" aria-hidden="true">
            求
          </span>
          {t("appName")}
        </span>
        <div class="controls">{controls}</div>
      </header>
      <main class="thread-scroll">
        {current.kind === "loading" && <p class="share-status">{t("loading")}</p>}
        {current.kind === "missing" && (
          <div class="share-status">
            <h1>{t("shareMissing")}</h1>
            <p>{t("shareMissingHint")}</p>
          </div>
        )}
        {current.kind === "failed" && (
          <p class="share-status" role="alert">
            {t("errorGeneric", { message: current.message })}
          </p>
        )}
        {current.kind === "ready" && (
          <div class="thread">
            <div class="share-intro">
              <h1>{title}</h1>
              <p class="meta">
                {current.share.author
                  ? t("sharedBy", { name: current.share.author, date: date(current.share.createdAt) })
                  : t("sharedOn", { date: date(current.share.createdAt) })}
              </p>
            </div>
            {current.share.messages.map((message, index) =>
              message.role === "user" ? (
                <SharedQuestion key={index} message={message} />
              ) : (
                <SharedReply key={index} message={message} />
              ),
            )}
          </div>
        )}
      </main>
    </div>
  );
}
