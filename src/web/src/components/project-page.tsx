// A project's page (/p/:id): its name, the instructions and files every chat in it gets, its
// chats, a new chat in it, and deleting it (its chats moved out, or deleted too when asked).
import { useSignal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import { ApiError, projectApi } from "../api/client.ts";
import type { ProjectDetail } from "../api/types.ts";
import { formatBytes, readAttachment } from "../files.ts";
import { displayChinese, t } from "../i18n/i18n.ts";
import { PROJECT_LIMITS } from "../../../protocol/app/projects.ts";
import {
  conversations,
  describeError,
  draftProjectId,
  loadConversations,
  newChat,
  notice,
} from "../state/chat.ts";
import { projects, replaceProject } from "../state/projects.ts";
import { navigate } from "../state/router.ts";
import { Icon } from "./icons.tsx";

/** The header's title on a project's page. */
export function projectTitle(id: string): string {
  return projects.value.find((project) => project.id === id)?.name ?? t("project");
}

/** The header's title of a chat not yet sent: says which project it will be in. */
export function newChatTitle(): string {
  const project = projects.value.find((entry) => entry.id === draftProjectId.value);
  return project ? t("newChatIn", { name: project.name }) : t("newChat");
}

function fileProblem(result: Exclude<Awaited<ReturnType<typeof readAttachment>>, { text: string }>): string {
  if (result.kind === "unsupported") return t("fileUnsupported", { name: result.name });
  if (result.kind === "too-large")
    return t(result.of === "pdf" ? "pdfTooLarge" : "fileTooLarge", {
      name: result.name,
      size: formatBytes(result.size),
      limit: formatBytes(result.limit),
    });
  return t("fileUnreadable", { name: result.name, reason: result.reason });
}

function textBytes(text: string): number {
  return new TextEncoder().encode(text).length;
}

export function ProjectPage({ id }: { id: string }) {
  const project = useSignal<ProjectDetail | null>(null);
  const missing = useSignal(false);
  const name = useSignal("");
  const instructions = useSignal("");
  const saved = useSignal<string | null>(null);
  const reading = useSignal(false);
  const deleteChats = useSignal(false);
  const picker = useRef<HTMLInputElement>(null);
  const confirmDialog = useRef<HTMLDialogElement>(null);

  const show = (detail: ProjectDetail) => {
    project.value = detail;
    name.value = detail.name;
    instructions.value = detail.instructions;
    replaceProject(detail);
  };

  useEffect(() => {
    project.value = null;
    missing.value = false;
    saved.value = null;
    projectApi.get(id).then(show, (error: unknown) => {
      if (error instanceof ApiError && error.status === 404) missing.value = true;
      else notice.value = describeError(error);
    });
  }, [id]);

  if (missing.value) return <p class="page project-page">{t("notFound")}</p>;
  const current = project.value;
  if (!current) return <p class="page project-page">{t("loading")}</p>;
  const chats = conversations.value.filter((conversation) => conversation.projectId === id);

  const save = async (changes: { name?: string; instructions?: string }, message: string) => {
    try {
      show(await projectApi.update(id, changes));
      saved.value = message;
    } catch (error) {
      notice.value = describeError(error);
    }
  };

  const addFiles = async (list: FileList | null) => {
    const read = [];
    reading.value = true;
    for (const file of Array.from(list ?? [])) {
      const result = await readAttachment(file);
      if ("text" in result) read.push(result);
      else notice.value = fileProblem(result);
    }
    reading.value = false;
    if (picker.current) picker.current.value = "";
    if (read.length === 0) return;
    // The server's limits, checked first so the message is in the user's language.
    if (current.files.length + read.length > PROJECT_LIMITS.files) {
      notice.value = t("projectTooManyFiles", { limit: PROJECT_LIMITS.files });
      return;
    }
    const bytes = [...current.files.map((file) => file.bytes), ...read.map((file) => textBytes(file.text))];
    if (bytes.reduce((sum, size) => sum + size, 0) > PROJECT_LIMITS.totalTextBytes) {
      notice.value = t("projectFilesTooLarge", { limit: formatBytes(PROJECT_LIMITS.totalTextBytes) });
      return;
    }
    try {
      await projectApi.addFiles(id, read);
      show(await projectApi.get(id));
    } catch (error) {
      notice.value = describeError(error);
    }
  };

  const removeFile = async (fileId: string) => {
    try {
      await projectApi.removeFile(id, fileId);
      show(await projectApi.get(id));
    } catch (error) {
      notice.value = describeError(error);
    }
  };

  const remove = async () => {
    try {
      await projectApi.remove(id, deleteChats.value ? "delete" : "keep");
      replaceProject({ id, deleted: true });
      await loadConversations();
      navigate("/");
    } catch (error) {
      notice.value = describeError(error);
    }
  };

  return (
    <div class="page project-page">
      <button type="button" class="primary" onClick={() => newChat(id)}>
        <Icon name="plus" /> {t("newChatInProject")}
      </button>
      {saved.value && (
        <p class="hint" role="status">
          {saved.value}
        </p>
      )}
      <form
        class="project-form"
        onSubmit={(event) => {
          event.preventDefault();
          if (name.value.trim()) void save({ name: name.value.trim() }, t("projectRenamed"));
        }}
      >
        <label>
          {t("projectName")}
          <input
            value={name.value}
            maxLength={PROJECT_LIMITS.nameChars}
            required
            onInput={(event) => (name.value = event.currentTarget.value)}
          />
        </label>
        <button type="submit" class="secondary">
          {t("rename")}
        </button>
      </form>
      <form
        class="project-form"
        onSubmit={(event) => {
          event.preventDefault();
          void save({ instructions: instructions.value }, t("projectInstructionsSaved"));
        }}
      >
        <label>
          {t("projectInstructions")}
          <textarea
            rows={5}
            maxLength={PROJECT_LIMITS.instructionsChars}
            aria-describedby="project-instructions-hint"
            value={instructions.value}
            onInput={(event) => (instructions.value = event.currentTarget.value)}
          />
        </label>
        <p id="project-instructions-hint" class="hint">
          {t("projectInstructionsHint")}
        </p>
        <button type="submit" class="secondary">
          {t("save")}
        </button>
      </form>
      <section aria-labelledby="project-files-title">
        <h2 id="project-files-title">{t("projectFiles")}</h2>
        <p class="hint">
          {t("projectFilesHint", {
            files: PROJECT_LIMITS.files,
            size: formatBytes(PROJECT_LIMITS.totalTextBytes),
          })}
        </p>
        <ul class="project-files">
          {current.files.length === 0 && <li class="empty">{t("projectNoFiles")}</li>}
          {current.files.map((file) => (
            <li key={file.id}>
              <span class="file-name">{file.name}</span>
              <span class="hint">{formatBytes(file.bytes)}</span>
              <button
                type="button"
                class="icon-button"
                aria-label={t("removeFile", { name: file.name })}
                title={t("removeFile", { name: file.name })}
                onClick={() => void removeFile(file.id)}
              >
                <Icon name="trash" />
              </button>
            </li>
          ))}
        </ul>
        <label class="secondary file-picker">
          <Icon name="attach" /> {reading.value ? t("loading") : t("addProjectFiles")}
          <input
            ref={picker}
            type="file"
            multiple
            class="visually-hidden"
            onChange={(event) => void addFiles(event.currentTarget.files)}
          />
        </label>
      </section>
      <section aria-labelledby="project-chats-title">
        <h2 id="project-chats-title">{t("projectChats")}</h2>
        <ul class="project-chat-list">
          {chats.length === 0 && <li class="empty">{t("noConversations")}</li>}
          {chats.map((chat) => (
            <li key={chat.id}>
              <a
                href={`/c/${encodeURIComponent(chat.id)}`}
                onClick={(event) => {
                  event.preventDefault();
                  navigate(`/c/${encodeURIComponent(chat.id)}`);
                }}
              >
                {displayChinese(chat.title)}
              </a>
            </li>
          ))}
        </ul>
      </section>
      <button type="button" class="secondary danger" onClick={() => confirmDialog.current?.showModal()}>
        <Icon name="trash" /> {t("deleteProject")}
      </button>
      <dialog ref={confirmDialog} class="dialog" aria-labelledby="delete-project-title">
        <form
          method="dialog"
          onSubmit={(event) => {
            if ((event.submitter as HTMLButtonElement | null)?.value === "delete") void remove();
          }}
        >
          <h2 id="delete-project-title">{t("deleteProjectTitle", { name: current.name })}</h2>
          <p>{t("deleteProjectKeeps")}</p>
          <label class="checkbox">
            <input
              type="checkbox"
              checked={deleteChats.value}
              onChange={(event) => (deleteChats.value = event.currentTarget.checked)}
            />
            {t("deleteProjectChats", { count: chats.length })}
          </label>
          <div class="dialog-actions">
            <button type="submit" value="cancel" class="secondary">
              {t("cancel")}
            </button>
            <button type="submit" value="delete" class="secondary danger">
              {t("deleteProject")}
            </button>
          </div>
        </form>
      </dialog>
    </div>
  );
}
