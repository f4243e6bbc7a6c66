// Conversations grouped by date, search, rename, delete and new chat.
import { useSignal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import { api } from "../api/client.ts";
import type { Conversation, SearchHit } from "../api/types.ts";
import { displayChinese, t } from "../i18n/i18n.ts";
import type { MessageKey } from "../i18n/strings.ts";
import { conversations, deleteConversation, newChat, openChat, renameConversation } from "../state/chat.ts";
import { navigate } from "../state/router.ts";
import { Icon } from "./icons.tsx";

const DAY = 24 * 60 * 60 * 1000;

/** Buckets like chat.deepseek.com's: today, yesterday, 7 days, 30 days, older (local midnight). */
export function groupByDate(
  items: readonly Conversation[],
  now = new Date(),
): Array<{ label: MessageKey; items: Conversation[] }> {
  const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  const groups: Array<{ label: MessageKey; after: number; items: Conversation[] }> = [
    { label: "today", after: midnight, items: [] },
    { label: "yesterday", after: midnight - DAY, items: [] },
    { label: "last7Days", after: midnight - 7 * DAY, items: [] },
    { label: "last30Days", after: midnight - 30 * DAY, items: [] },
    { label: "older", after: -Infinity, items: [] },
  ];
  for (const item of [...items].sort((a, b) => b.updatedAt - a.updatedAt))
    groups.find((group) => item.updatedAt >= group.after)!.items.push(item);
  return groups.filter((group) => group.items.length > 0);
}

function ConversationItem({ conversation, onOpen }: { conversation: Conversation; onOpen: () => void }) {
  const renaming = useSignal(false);
  const title = useSignal(conversation.title);
  const input = useRef<HTMLInputElement>(null);
  const active = openChat.value?.conversation.id === conversation.id;
  useEffect(() => {
    if (renaming.value) input.current?.select();
  }, [renaming.value]);

  if (renaming.value) {
    const save = () => {
      // Enter and Escape end the edit; the input's blur as it goes must not save (again).
      if (!renaming.value) return;
      renaming.value = false;
      const next = title.value.trim();
      if (next && next !== conversation.title) void renameConversation(conversation.id, next);
    };
    return (
      <li class="conversation renaming">
        <input
          ref={input}
          aria-label={t("rename")}
          value={title.value}
          onInput={(event) => (title.value = event.currentTarget.value)}
          onKeyDown={(event) => {
            if (event.key === "Enter") save();
            if (event.key === "Escape") renaming.value = false;
          }}
          onBlur={save}
        />
      </li>
    );
  }
  const href = `/c/${encodeURIComponent(conversation.id)}`;
  return (
    <li class={`conversation ${active ? "active" : ""}`}>
      <a
        href={href}
        aria-current={active ? "page" : undefined}
        onClick={(event) => {
          if (event.button !== 0 || event.metaKey || event.ctrlKey) return;
          event.preventDefault();
          navigate(href);
          onOpen();
        }}
      >
        {displayChinese(conversation.title)}
      </a>
      <span class="conversation-actions">
        <button
          type="button"
          class="icon-button"
          aria-label={`${t("rename")}: ${conversation.title}`}
          title={t("rename")}
          onClick={() => {
            title.value = conversation.title;
            renaming.value = true;
          }}
        >
          <Icon name="edit" />
        </button>
        <button
          type="button"
          class="icon-button"
          aria-label={`${t("delete")}: ${conversation.title}`}
          title={t("delete")}
          onClick={() => {
            if (confirm(t("confirmDelete"))) void deleteConversation(conversation.id);
          }}
        >
          <Icon name="trash" />
        </button>
      </span>
    </li>
  );
}

export function Sidebar({ onNavigate }: { onNavigate: () => void }) {
  const query = useSignal("");
  const hits = useSignal<SearchHit[] | null>(null);
  const timer = useRef(0);

  const search = (value: string) => {
    query.value = value;
    clearTimeout(timer.current);
    if (!value.trim()) {
      hits.value = null;
      return;
    }
    timer.current = window.setTimeout(() => {
      api.search(value.trim()).then(
        (answer) => {
          if (query.value === value) hits.value = answer.data;
        },
        () => (hits.value = []),
      );
    }, 200);
  };

  return (
    <nav class="sidebar-content" aria-label={t("conversations")}>
      <button
        type="button"
        class="new-chat primary"
        onClick={() => {
          newChat();
          onNavigate();
        }}
      >
        + {t("newChat")}
      </button>
      <input
        type="search"
        class="search"
        aria-label={t("search")}
        placeholder={t("search")}
        value={query.value}
        onInput={(event) => search(event.currentTarget.value)}
      />
      {hits.value !== null ? (
        <ul class="search-results" aria-label={t("search")}>
          {hits.value.length === 0 && <li class="empty">{t("searchNoResults")}</li>}
          {hits.value.map((hit) => (
            <li key={`${hit.conversationId}:${hit.messageId}`}>
              <a
                href={`/c/${encodeURIComponent(hit.conversationId)}`}
                onClick={(event) => {
                  event.preventDefault();
                  navigate(`/c/${encodeURIComponent(hit.conversationId)}`);
                  onNavigate();
                }}
              >
                <strong>{displayChinese(hit.title)}</strong>
                <span class="snippet">{displayChinese(hit.snippet)}</span>
              </a>
            </li>
          ))}
        </ul>
      ) : (
        <div class="conversation-groups">
          {conversations.value.length === 0 && <p class="empty">{t("noConversations")}</p>}
          {groupByDate(conversations.value).map((group) => (
            <section key={group.label} aria-label={t(group.label)}>
              <h2 class="group-label">{t(group.label)}</h2>
              <ul>
                {group.items.map((conversation) => (
                  <ConversationItem key={conversation.id} conversation={conversation} onOpen={onNavigate} />
                ))}
              </ul>
            </section>
          ))}
        </div>
      )}
    </nav>
  );
}
