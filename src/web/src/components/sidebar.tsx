// Pinned chats, projects (each with its chats), the other chats grouped by date; search (in all
// chats or one project's), rename, delete, pin and move per chat, new chat and new project.
import { useSignal, type Signal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import { projectApi } from "../api/client.ts";
import type { Conversation, SearchHit } from "../api/types.ts";
import { displayChinese, t } from "../i18n/i18n.ts";
import type { MessageKey } from "../i18n/strings.ts";
import { conversations, deleteConversation, newChat, openChat, renameConversation } from "../state/chat.ts";
import {
  createProject,
  instructionsOpen,
  loadInstructions,
  loadProjects,
  moveConversation,
  pinConversation,
  projects,
} from "../state/projects.ts";
import { navigate, route } from "../state/router.ts";
import { Icon } from "./icons.tsx";
import { InstructionsDialog } from "./instructions-dialog.tsx";

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

/** Pin and move for one chat: a button that opens a short list of actions; Esc closes it. */
function ChatMenu({ conversation }: { conversation: Conversation }) {
  const open = useSignal(false);
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (open.value) menu.current?.querySelector("button")?.focus();
  }, [open.value]);
  const close = (refocus: boolean) => {
    open.value = false;
    if (refocus) button.current?.focus();
  };
  const act = (action: () => Promise<void>) => () => {
    close(true);
    void action();
  };
  const pinned = Boolean(conversation.pinnedAt);
  const menuId = `chat-menu-${conversation.id}`;
  return (
    <span
      class="chat-menu-wrap"
      onKeyDown={(event) => {
        if (event.key === "Escape" && open.value) {
          event.stopPropagation();
          close(true);
        }
      }}
      onFocusOut={(event) => {
        const next = event.relatedTarget as Node | null;
        if (open.value && next && !event.currentTarget.contains(next)) close(false);
      }}
    >
      <button
        ref={button}
        type="button"
        class="icon-button"
        aria-label={`${t("chatActions")}: ${conversation.title}`}
        title={t("chatActions")}
        aria-expanded={open.value}
        aria-controls={menuId}
        onClick={() => (open.value ? close(false) : (open.value = true))}
      >
        <Icon name="more" />
      </button>
      {open.value && (
        <div class="chat-menu" id={menuId} ref={menu}>
          <button type="button" onClick={act(() => pinConversation(conversation.id, !pinned))}>
            <Icon name="pin" /> {pinned ? t("unpin") : t("pin")}
          </button>
          {projects.value
            .filter((project) => project.id !== conversation.projectId)
            .map((project) => (
              <button
                key={project.id}
                type="button"
                onClick={act(() => moveConversation(conversation.id, project.id))}
              >
                <Icon name="folder" /> {t("moveTo", { name: displayChinese(project.name) })}
              </button>
            ))}
          {conversation.projectId && (
            <button type="button" onClick={act(() => moveConversation(conversation.id, null))}>
              <Icon name="folder" /> {t("removeFromProject")}
            </button>
          )}
        </div>
      )}
    </span>
  );
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
        <ChatMenu conversation={conversation} />
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

/** The Projects section: each project links to its page and opens to show its chats. */
function ProjectsSection({
  chats,
  expanded,
  onNavigate,
}: {
  chats: Conversation[];
  /** The projects shown open; kept by the sidebar, so a search in between leaves them open. */
  expanded: Signal<ReadonlySet<string>>;
  onNavigate: () => void;
}) {
  const naming = useSignal(false);
  const name = useSignal("");
  const current = route.value;
  const toggle = (id: string) => {
    const next = new Set(expanded.value);
    if (!next.delete(id)) next.add(id);
    expanded.value = next;
  };
  const create = async () => {
    const trimmed = name.value.trim();
    naming.value = false;
    name.value = "";
    if (!trimmed) return;
    const id = await createProject(trimmed);
    if (id) {
      navigate(`/p/${encodeURIComponent(id)}`);
      onNavigate();
    }
  };
  return (
    <section class="projects" aria-labelledby="projects-label">
      <div class="group-heading">
        <h2 class="group-label" id="projects-label">
          {t("projects")}
        </h2>
        <button
          type="button"
          class="icon-button"
          aria-label={t("newProject")}
          title={t("newProject")}
          onClick={() => (naming.value = true)}
        >
          <Icon name="plus" />
        </button>
      </div>
      {naming.value && (
        <input
          class="project-name-input"
          aria-label={t("projectName")}
          placeholder={t("projectName")}
          maxLength={100}
          value={name.value}
          ref={(element) => element?.focus()}
          onInput={(event) => (name.value = event.currentTarget.value)}
          onKeyDown={(event) => {
            if (event.key === "Enter") void create();
            if (event.key === "Escape") naming.value = false;
          }}
          onBlur={() => void create()}
        />
      )}
      <ul>
        {projects.value.length === 0 && !naming.value && <li class="empty">{t("noProjects")}</li>}
        {projects.value.map((project) => {
          const open = expanded.value.has(project.id);
          const inside = chats.filter((chat) => chat.projectId === project.id);
          const href = `/p/${encodeURIComponent(project.id)}`;
          const active = current.name === "project" && current.id === project.id;
          return (
            <li key={project.id} class="project-item">
              <div class={`project-row ${active ? "active" : ""}`}>
                <button
                  type="button"
                  class="icon-button"
                  aria-expanded={open}
                  aria-label={`${t("projectChats")}: ${project.name}`}
                  title={t("projectChats")}
                  onClick={() => toggle(project.id)}
                >
                  <Icon name="folder" />
                </button>
                <a
                  href={href}
                  aria-current={active ? "page" : undefined}
                  onClick={(event) => {
                    if (event.button !== 0 || event.metaKey || event.ctrlKey) return;
                    event.preventDefault();
                    navigate(href);
                    onNavigate();
                  }}
                >
                  {displayChinese(project.name)}
                </a>
              </div>
              {open && (
                <ul class="project-chats" aria-label={project.name}>
                  {inside.length === 0 && <li class="empty">{t("noConversations")}</li>}
                  {inside.map((chat) => (
                    <ConversationItem key={chat.id} conversation={chat} onOpen={onNavigate} />
                  ))}
                </ul>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

export function Sidebar({ onNavigate }: { onNavigate: () => void }) {
  const query = useSignal("");
  const scope = useSignal<string>("");
  const hits = useSignal<SearchHit[] | null>(null);
  const expanded = useSignal<ReadonlySet<string>>(new Set());
  const timer = useRef(0);

  useEffect(() => {
    void loadProjects();
    void loadInstructions();
  }, []);

  // A project deleted while it was the search's scope leaves it: all chats again.
  if (scope.value && !projects.value.some((project) => project.id === scope.value)) scope.value = "";

  const search = (value: string, project = scope.value) => {
    query.value = value;
    scope.value = project;
    clearTimeout(timer.current);
    if (!value.trim()) {
      hits.value = null;
      return;
    }
    timer.current = window.setTimeout(() => {
      projectApi.search(value.trim(), project || null).then(
        (answer) => {
          if (query.value === value && scope.value === project) hits.value = answer.data;
        },
        () => (hits.value = []),
      );
    }, 200);
  };

  const all = conversations.value;
  const pinned = all
    .filter((conversation) => conversation.pinnedAt)
    .sort((a, b) => (b.pinnedAt ?? 0) - (a.pinnedAt ?? 0));
  const unpinned = all.filter((conversation) => !conversation.pinnedAt);
  const loose = unpinned.filter((conversation) => !conversation.projectId);

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
      <div class="search-row">
        <input
          type="search"
          class="search"
          aria-label={t("search")}
          placeholder={t("search")}
          value={query.value}
          onInput={(event) => search(event.currentTarget.value)}
        />
        {projects.value.length > 0 && (
          <select
            class="search-scope"
            aria-label={t("searchIn")}
            value={scope.value}
            onChange={(event) => search(query.value, event.currentTarget.value)}
          >
            <option value="">{t("allChats")}</option>
            {projects.value.map((project) => (
              <option key={project.id} value={project.id}>
                {displayChinese(project.name)}
              </option>
            ))}
          </select>
        )}
      </div>
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
        <div class="sidebar-scroll">
          {pinned.length > 0 && (
            <section aria-labelledby="pinned-label">
              <h2 class="group-label" id="pinned-label">
                {t("pinned")}
              </h2>
              <ul>
                {pinned.map((conversation) => (
                  <ConversationItem key={conversation.id} conversation={conversation} onOpen={onNavigate} />
                ))}
              </ul>
            </section>
          )}
          <ProjectsSection chats={unpinned} expanded={expanded} onNavigate={onNavigate} />
          <div class="conversation-groups">
            {all.length === 0 && <p class="empty">{t("noConversations")}</p>}
            {groupByDate(loose).map((group) => (
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
        </div>
      )}
      <a
        href="/knowledge"
        class="knowledge-link"
        aria-current={route.value.name === "knowledge" ? "page" : undefined}
        onClick={(event) => {
          event.preventDefault();
          navigate("/knowledge");
          onNavigate();
        }}
      >
        <Icon name="book" /> {t("kbTitle")}
      </a>
      <button
        type="button"
        class="secondary instructions-button"
        onClick={() => (instructionsOpen.value = true)}
      >
        {t("customInstructions")}
      </button>
      <InstructionsDialog />
    </nav>
  );
}
