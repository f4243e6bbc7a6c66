// The app's frame: sidebar, header with language / script / theme switches, and the routed screen.
import { useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { displayChinese, LANGUAGES, language, setLanguage, t, type Language } from "../i18n/i18n.ts";
import {
  busy,
  chatLoading,
  loadConversations,
  notice,
  openChat,
  openConversation,
  stop,
} from "../state/chat.ts";
import { effectiveTheme, theme } from "../state/prefs.ts";
import { navigate, route } from "../state/router.ts";
import { logout, session, sessionError } from "../state/session.ts";
import { LoginPage, SetupPage } from "./auth-pages.tsx";
import { ChatSettingsButton } from "./chat-settings.tsx";
import { Composer, loadModels, suggestedPrompt } from "./composer.tsx";
import { AdminPage } from "./admin-page.tsx";
import { ModelsPage } from "./models-page.tsx";
import { KeysPage, UsagePage } from "./settings-pages.tsx";
import { ShareButton } from "./share-dialog.tsx";
import { SharePage } from "./share-page.tsx";
import { newChatTitle, ProjectPage, projectTitle } from "./project-page.tsx";
import { KnowledgePage, knowledgeTitle } from "./knowledge-page.tsx";
import { Sidebar } from "./sidebar.tsx";
import { Thread } from "./thread.tsx";
import { Icon } from "./icons.tsx";

/** The language, script and theme switches: all a shared page keeps of the app's controls. */
function DisplayControls() {
  const scriptSwitch = language.value === "zh-Hant" ? "正→简" : "简→正";
  return (
    <>
      <select
        aria-label={t("language")}
        value={language.value}
        onChange={(event) => setLanguage(event.currentTarget.value as Language)}
      >
        {LANGUAGES.map((option) => (
          <option key={option.id} value={option.id}>
            {option.label}
          </option>
        ))}
      </select>
      <button
        type="button"
        class="secondary script-switch"
        // The accessible name starts with the visible text, as WCAG's "label in name" asks.
        aria-label={`${scriptSwitch} ${t("scriptSwitchLabel")}`}
        title={t("scriptSwitchLabel")}
        onClick={() => setLanguage(language.value === "zh-Hant" ? "zh-Hans" : "zh-Hant")}
      >
        {scriptSwitch}
      </button>
      <button
        type="button"
        class="secondary"
        aria-label={t("toggleTheme")}
        title={t("toggleTheme")}
        onClick={() => (theme.value = effectiveTheme() === "dark" ? "light" : "dark")}
      >
        <Icon name={effectiveTheme() === "dark" ? "sun" : "moon"} />
      </button>
    </>
  );
}

function Controls() {
  const accounts = session.value?.mode === "accounts";
  const link = (path: string, label: string) => (
    <a
      href={path}
      class="nav-link"
      aria-current={location.pathname === path ? "page" : undefined}
      onClick={(event) => {
        event.preventDefault();
        navigate(path);
      }}
    >
      {label}
    </a>
  );
  return (
    <div class="controls">
      <DisplayControls />
      {link("/settings/models", t("models"))}
      {accounts && link("/settings/keys", t("apiKeys"))}
      {accounts && link("/settings/usage", t("usagePage"))}
      {accounts && session.value?.user?.role === "admin" && link("/settings/admin", t("adminPanel"))}
      {accounts && session.value?.user && (
        <button type="button" class="secondary" onClick={() => void logout()}>
          {t("logout")}
        </button>
      )}
    </div>
  );
}

const SUGGESTIONS = ["suggestion1", "suggestion2", "suggestion3", "suggestion4"] as const;

/** The start page's prompts, in the user's language: a click puts one in the composer. */
function Suggestions() {
  return (
    <ul class="suggestions" aria-label={t("suggestionsLabel")}>
      {SUGGESTIONS.map((key) => (
        <li key={key}>
          <button type="button" class="suggestion" onClick={() => (suggestedPrompt.value = t(key))}>
            {t(key)}
          </button>
        </li>
      ))}
    </ul>
  );
}

function ChatScreen() {
  const chat = openChat.value;
  return (
    <>
      {chat ? (
        <Thread />
      ) : (
        <div class="empty-chat">
          <h1>{chatLoading.value ? t("loading") : t("emptyTitle")}</h1>
          {!chatLoading.value && <Suggestions />}
        </div>
      )}
      <div class="composer-wrap">
        <Composer />
      </div>
    </>
  );
}

export function App() {
  const current = route.value;
  // A shared conversation's page is for anyone with the link: none of the app around it.
  return current.name === "shared" ? (
    <SharePage token={current.token} controls={<DisplayControls />} />
  ) : (
    <ChatApp />
  );
}

function ChatApp() {
  const sidebarOpen = useSignal(false);
  const current = route.value;
  const ready = session.value !== null;
  const signedOut =
    session.value?.mode === "accounts" && (session.value.setupRequired || session.value.user === null);

  useEffect(() => {
    if (ready && !signedOut) {
      void loadConversations();
      loadModels();
    }
  }, [ready, signedOut]);

  useEffect(() => {
    if (ready && !signedOut && current.name === "chat") void openConversation(current.id);
  }, [ready, signedOut, current]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape" && busy.value) {
        event.preventDefault();
        stop();
      }
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);

  useEffect(() => {
    const title = openChat.value?.conversation.title;
    document.title = title && current.name === "chat" ? `${title} · ${t("appName")}` : t("appName");
  });

  if (sessionError.value)
    return (
      <p class="fatal" role="alert">
        {t("errorGeneric", { message: sessionError.value })}
      </p>
    );
  if (!ready) return <p class="fatal">{t("loading")}</p>;
  if (current.name === "setup") return <SetupPage />;
  if (current.name === "login" || signedOut) return <LoginPage />;

  const title =
    current.name === "chat"
      ? (openChat.value?.conversation.title ?? newChatTitle())
      : current.name === "project"
        ? projectTitle(current.id)
        : current.name === "knowledge"
          ? knowledgeTitle(current)
          : t("settings");
  return (
    <div class={`layout ${sidebarOpen.value ? "sidebar-open" : ""}`}>
      {current.name === "chat" && (
        <a
          class="skip-link"
          href="#composer-input"
          onClick={(event) => {
            // Focus the box without a #fragment in the URL (the router owns the path).
            const composer = document.getElementById("composer-input");
            if (!composer) return;
            event.preventDefault();
            composer.focus();
          }}
        >
          {t("skipToComposer")}
        </a>
      )}
      <aside class="sidebar" id="sidebar">
        <div class="brand">
          <span class="logo" aria-hidden="true">
            求
          </span>
          {t("appName")}
        </div>
        <Sidebar onNavigate={() => (sidebarOpen.value = false)} />
      </aside>
      <div class="scrim" hidden={!sidebarOpen.value} onClick={() => (sidebarOpen.value = false)} />
      <main class="main">
        <header class="header">
          <button
            type="button"
            class="icon-button menu-button"
            aria-label={t("menu")}
            aria-expanded={sidebarOpen.value}
            aria-controls="sidebar"
            onClick={() => (sidebarOpen.value = !sidebarOpen.value)}
          >
            <Icon name="menu" />
          </button>
          <h1 class="title">{displayChinese(title)}</h1>
          {current.name === "chat" && <ChatSettingsButton />}
          {current.name === "chat" && <ShareButton />}
          {current.name !== "chat" && (
            <a
              href="/"
              class="nav-link"
              onClick={(event) => {
                event.preventDefault();
                navigate(openChat.value ? `/c/${encodeURIComponent(openChat.value.conversation.id)}` : "/");
              }}
            >
              {t("back")}
            </a>
          )}
          <Controls />
        </header>
        {notice.value && (
          <div class="notice" role="alert">
            <span>{notice.value}</span>
            <button
              type="button"
              class="icon-button"
              aria-label={t("close")}
              onClick={() => (notice.value = null)}
            >
              ×
            </button>
          </div>
        )}
        {current.name === "chat" && <ChatScreen />}
        {current.name === "settings" && current.page === "models" && <ModelsPage />}
        {current.name === "settings" && current.page === "keys" && <KeysPage />}
        {current.name === "settings" && current.page === "usage" && <UsagePage />}
        {current.name === "admin" && <AdminPage />}
        {current.name === "project" && <ProjectPage id={current.id} />}
        {current.name === "knowledge" && <KnowledgePage id={current.id} />}
      </main>
    </div>
  );
}
