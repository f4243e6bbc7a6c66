// Share links for the open conversation, in a native modal dialog: make a read-only copy of the
// branch shown, up to a chosen message, with or without the sharer's name; copy it; revoke links.
import { useSignal } from "@preact/signals";
import { useRef } from "preact/hooks";
import { api } from "../api/client.ts";
import type { ShareLink } from "../api/types.ts";
import { t } from "../i18n/i18n.ts";
import { busy, openChat } from "../state/chat.ts";
import { session } from "../state/session.ts";
import { buildTree, threadTo } from "../state/tree.ts";
import { CopyButton } from "./copy-button.tsx";
import { FormError } from "./form-error.tsx";
import { Icon } from "./icons.tsx";

/** How a message is named in the "share up to" list: its place, who wrote it, how it starts. */
function excerpt(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 48 ? `${line.slice(0, 48)}…` : line;
}

const linkUrl = (link: ShareLink) => `${location.origin}${link.path}`;

export function ShareButton() {
  const dialog = useRef<HTMLDialogElement>(null);
  const upTo = useSignal("");
  const showName = useSignal(false);
  const links = useSignal<ShareLink[]>([]);
  const created = useSignal<ShareLink | null>(null);
  const error = useSignal<string | null>(null);
  const working = useSignal(false);
  const chat = openChat.value;
  if (!chat) return null;
  const conversationId = chat.conversation.id;
  const thread = threadTo(buildTree(chat.messages), chat.leafId).filter(
    (message) => message.role === "user" || message.role === "assistant",
  );
  if (thread.length === 0) return null;
  const accounts = session.value?.mode === "accounts";

  const run = async (work: () => Promise<void>) => {
    working.value = true;
    error.value = null;
    try {
      await work();
    } catch (failure) {
      error.value = t("errorGeneric", { message: (failure as Error).message });
    } finally {
      working.value = false;
    }
  };

  const open = () => {
    upTo.value = thread[thread.length - 1]!.id;
    showName.value = false;
    created.value = null;
    error.value = null;
    links.value = [];
    dialog.current?.showModal();
    void run(async () => {
      links.value = (await api.conversationShares(conversationId)).data;
    });
  };

  const create = () =>
    run(async () => {
      const link = await api.createShare(conversationId, {
        messageId: upTo.value,
        ...(accounts ? { showName: showName.value } : {}),
      });
      created.value = link;
      links.value = [link, ...links.value];
    });

  const revoke = (link: ShareLink) =>
    run(async () => {
      await api.revokeShare(link.token);
      links.value = links.value.filter((other) => other.token !== link.token);
      if (created.value?.token === link.token) created.value = null;
    });

  const revokeAll = () =>
    run(async () => {
      await api.revokeConversationShares(conversationId);
      links.value = [];
      created.value = null;
    });

  const revokeEverywhere = () => {
    if (!confirm(t("shareRevokeEverywhereConfirm"))) return;
    void run(async () => {
      await api.revokeAllShares();
      links.value = [];
      created.value = null;
    });
  };

  return (
    <>
      <button type="button" class="secondary share-button" onClick={open} disabled={busy.value}>
        <Icon name="share" />
        {t("share")}
      </button>
      <dialog ref={dialog} class="dialog share-dialog" aria-labelledby="share-title">
        <h2 id="share-title">{t("shareTitle")}</h2>
        <p class="hint">{t("shareHint")}</p>
        <label>
          {t("shareUpTo")}
          <select value={upTo.value} onChange={(event) => (upTo.value = event.currentTarget.value)}>
            {thread.map((message, index) => (
              <option key={message.id} value={message.id}>
                {`${index + 1}. ${message.role === "user" ? t("you") : t("assistant")}: ${excerpt(message.content)}`}
              </option>
            ))}
          </select>
        </label>
        {accounts && (
          <label class="checkbox-label">
            <input
              type="checkbox"
              checked={showName.value}
              onChange={(event) => (showName.value = event.currentTarget.checked)}
            />
            {t("shareShowName")}
          </label>
        )}
        <div class="dialog-actions">
          <button type="button" class="primary" disabled={working.value} onClick={() => void create()}>
            {t("shareCreate")}
          </button>
        </div>
        {created.value && (
          <div class="share-created">
            <label>
              {t("shareLink")}
              <input
                type="text"
                readOnly
                value={linkUrl(created.value)}
                onFocus={(event) => event.currentTarget.select()}
              />
            </label>
            <CopyButton text={linkUrl(created.value)} class="secondary" />
          </div>
        )}
        <FormError message={error.value} />
        <h3>{t("shareLinks")}</h3>
        {links.value.length === 0 ? (
          <p class="hint">{t("shareNoLinks")}</p>
        ) : (
          <ul class="share-links">
            {links.value.map((link) => (
              <li key={link.token}>
                <a href={link.path} target="_blank" rel="noopener noreferrer">
                  {linkUrl(link)}
                </a>
                <span class="meta">
                  {t("shareLinkMeta", {
                    count: link.messageCount,
                    date: new Date(link.createdAt).toLocaleString(),
                  })}
                  {link.showName ? ` · ${t("shareNameShown")}` : ""}
                </span>
                <button
                  type="button"
                  class="secondary"
                  disabled={working.value}
                  onClick={() => void revoke(link)}
                >
                  {t("shareRevoke")}
                </button>
              </li>
            ))}
          </ul>
        )}
        <div class="dialog-actions">
          {links.value.length > 0 && (
            <button type="button" class="secondary" disabled={working.value} onClick={() => void revokeAll()}>
              {t("shareRevokeAll")}
            </button>
          )}
          <button type="button" class="secondary" disabled={working.value} onClick={revokeEverywhere}>
            {t("shareRevokeEverywhere")}
          </button>
          <button type="button" class="secondary" onClick={() => dialog.current?.close()}>
            {t("close")}
          </button>
        </div>
      </dialog>
    </>
  );
}
