// The message box: Enter sends, Shift+Enter breaks the line, Esc stops; DeepThink, model, files,
// and images when the chosen model accepts them.
import { signal, useSignal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import { api } from "../api/client.ts";
import type { AppModel, AttachedFile, AttachedImage } from "../api/types.ts";
import { formatBytes, MAX_FILES, readAttachment } from "../files.ts";
import {
  acceptsImages,
  IMAGE_ACCEPT,
  isImageFile,
  isSafeImageUrl,
  MAX_IMAGES,
  modelFor,
  readImage,
} from "../images.ts";
import { t } from "../i18n/i18n.ts";
import { toolsApi } from "../api/tools.ts";
import type { Collection, McpServerSummary, WebSearchStatus } from "../api/types.ts";
import {
  busy,
  currentTools,
  lastToolChoice,
  notice,
  openChat,
  sendMessage,
  setTools,
  stop,
  updateSettings,
} from "../state/chat.ts";
import { deepThink, preferredModel } from "../state/prefs.ts";
import { Icon } from "./icons.tsx";

export const models = signal<AppModel[]>([]);
let modelsRequested = false;
export function loadModels(force = false): void {
  if (modelsRequested && !force) return;
  modelsRequested = true;
  api.models().then(
    (answer) => (models.value = answer.data),
    () => (modelsRequested = false),
  );
}

/** The model the next message goes to, as the picker shows it ("" for the server's default). */
function chosenModel(): string {
  return openChat.value?.conversation.settings.model || preferredModel.value;
}

/** One model in the picker: a model whose upstream cannot be reached is shown, but not offered. */
function ModelOption({ model }: { model: AppModel }) {
  const unavailable = model.state === "failed";
  return (
    <option value={model.id} disabled={unavailable} title={unavailable ? model.reason : undefined}>
      {unavailable ? t("modelUnavailable", { model: model.id }) : model.id}
    </option>
  );
}

/** The models by where they run: this server's first, then one group per upstream pool. */
function groupedByPool(list: readonly AppModel[]): Array<{ pool: string | undefined; models: AppModel[] }> {
  const groups = new Map<string | undefined, AppModel[]>();
  for (const model of list) groups.set(model.pool, [...(groups.get(model.pool) ?? []), model]);
  return [...groups].map(([pool, models]) => ({ pool, models }));
}

function ModelPicker() {
  const chat = openChat.value;
  const value = chosenModel();
  // Rerankers only score documents (/v1/rerank); a chat cannot go to one.
  const list = models.value.filter((model) => !model.reranker);
  const known = list.some((model) => model.id === value);
  const groups = groupedByPool(list);
  // Groups only when there is more than one place models come from.
  const grouped = groups.some((group) => group.pool !== undefined);
  return (
    <select
      class="model-picker"
      aria-label={t("model")}
      value={value}
      onChange={(event) => {
        const model = event.currentTarget.value;
        preferredModel.value = model;
        if (chat) void updateSettings({ model: model || undefined });
      }}
    >
      <option value="">{t("defaultModel")}</option>
      {grouped
        ? groups.map((group) => (
            <optgroup
              key={group.pool ?? ""}
              label={group.pool === undefined ? t("sourceLocal") : t("sourcePool", { pool: group.pool })}
            >
              {group.models.map((model) => (
                <ModelOption key={model.id} model={model} />
              ))}
            </optgroup>
          ))
        : list.map((model) => <ModelOption key={model.id} model={model} />)}
      {value && !known && (
        <option value={value} key={value}>
          {value}
        </option>
      )}
    </select>
  );
}

/** What the tools controls offer: null until known, and a part the server lacks stays null. */
const webSearchStatus = signal<WebSearchStatus | null>(null);
const collections = signal<Collection[] | null>(null);
const mcpServers = signal<McpServerSummary[] | null>(null);
let toolsRequested = false;
function loadToolOptions(): void {
  if (toolsRequested) return;
  toolsRequested = true;
  void toolsApi.webSearch().then(
    (status) => {
      webSearchStatus.value = status;
      // A choice remembered from a server that could search does not carry over to new chats here.
      if (!status.available && lastToolChoice.value.webSearch)
        lastToolChoice.value = { ...lastToolChoice.value, webSearch: false };
    },
    () => undefined,
  );
  void toolsApi.collections().then(
    (list) => (collections.value = list),
    () => undefined,
  );
  void toolsApi.mcpServers().then(
    (list) => (mcpServers.value = list),
    () => undefined,
  );
}

/** 联网搜索: on or off for the next message; disabled, saying why, when the server cannot search. */
function WebSearchToggle() {
  const status = webSearchStatus.value;
  const unavailable = status !== null && !status.available;
  // A chat that has it on can still switch it off (its next message would be refused).
  const on = currentTools().webSearch;
  return (
    <button
      type="button"
      class={`toggle web-search ${on ? "on" : ""}`}
      aria-pressed={on}
      disabled={unavailable && !on}
      title={unavailable ? t("webSearchOff") : undefined}
      onClick={() => void setTools({ webSearch: !on })}
    >
      <Icon name="globe" size={16} />
      {t("webSearch")}
    </button>
  );
}

/** Adds `id` to `list` or takes it out. */
const toggled = (list: readonly string[], id: string, on: boolean) =>
  on ? [...list.filter((existing) => existing !== id), id] : list.filter((existing) => existing !== id);

/** Attaches knowledge collections and switches MCP servers on; a section the server lacks is hidden. */
function ToolsMenu() {
  const tools = currentTools();
  const knowledge = collections.value;
  const servers = mcpServers.value;
  if (knowledge === null && servers === null) return null;
  return (
    <details class="tools-menu">
      <summary class="icon-button" aria-label={t("toolsMenu")} title={t("toolsMenu")}>
        <Icon name="tool" />
      </summary>
      <div class="tools-menu-panel">
        {knowledge !== null && (
          <fieldset>
            <legend>{t("knowledgeCollections")}</legend>
            {knowledge.length === 0 && <p class="meta">{t("noCollections")}</p>}
            {knowledge.map((collection) => (
              <label key={collection.id}>
                <input
                  type="checkbox"
                  checked={tools.collectionIds.includes(collection.id)}
                  onChange={(event) =>
                    void setTools({
                      collectionIds: toggled(tools.collectionIds, collection.id, event.currentTarget.checked),
                    })
                  }
                />
                {collection.name}
              </label>
            ))}
          </fieldset>
        )}
        {servers !== null && (
          <fieldset>
            <legend>{t("mcpToolsSection")}</legend>
            {servers.length === 0 && <p class="meta">{t("noMcpServers")}</p>}
            {servers.map((server) => (
              <label key={server.id} title={server.description || undefined}>
                <input
                  type="checkbox"
                  checked={tools.mcpServerIds.includes(server.id)}
                  onChange={(event) =>
                    void setTools({
                      mcpServerIds: toggled(tools.mcpServerIds, server.id, event.currentTarget.checked),
                    })
                  }
                />
                {server.name}
              </label>
            ))}
          </fieldset>
        )}
      </div>
    </details>
  );
}

/** What is attached, as chips: collections by name, MCP servers by name, each removable. */
function ToolChips() {
  const tools = currentTools();
  const chips = [
    ...tools.collectionIds.map((id) => ({
      id,
      name: collections.value?.find((collection) => collection.id === id)?.name ?? id,
      remove: () => setTools({ collectionIds: tools.collectionIds.filter((existing) => existing !== id) }),
      icon: "book" as const,
    })),
    ...tools.mcpServerIds.map((id) => ({
      id,
      name: mcpServers.value?.find((server) => server.id === id)?.name ?? id,
      remove: () => setTools({ mcpServerIds: tools.mcpServerIds.filter((existing) => existing !== id) }),
      icon: "tool" as const,
    })),
  ];
  if (chips.length === 0) return null;
  return (
    <ul class="file-chips tool-chips">
      {chips.map((chip) => (
        <li class="file-chip tool-chip" key={`${chip.icon}-${chip.id}`}>
          <Icon name={chip.icon} size={14} />
          <span>{chip.name}</span>
          <button
            type="button"
            class="icon-button"
            aria-label={t("detachTool", { name: chip.name })}
            onClick={() => void chip.remove()}
          >
            ×
          </button>
        </li>
      ))}
    </ul>
  );
}

/** A prompt the start page's suggestion chips put in the composer, to edit or send. */
export const suggestedPrompt = signal<string | null>(null);

export function Composer() {
  const text = useSignal("");
  const files = useSignal<AttachedFile[]>([]);
  const images = useSignal<AttachedImage[]>([]);
  const reading = useSignal<string | null>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const picker = useRef<HTMLInputElement>(null);
  const imagePicker = useRef<HTMLInputElement>(null);
  const imagesOn = acceptsImages(models.value, chosenModel());
  const suggestion = suggestedPrompt.value;
  useEffect(loadToolOptions, []);
  useEffect(() => {
    if (suggestion === null) return;
    text.value = suggestion;
    suggestedPrompt.value = null;
    input.current?.focus();
  }, [suggestion]);
  const empty = !text.value.trim() && files.value.length === 0 && images.value.length === 0;

  const submit = () => {
    const content = text.value.trim();
    if (busy.value || reading.value || empty) return;
    if (images.value.length > 0 && !imagesOn) {
      // The model was changed after the images were attached.
      const model = modelFor(models.value, chosenModel())?.id ?? chosenModel();
      notice.value = t("imagesNotAccepted", { model });
      return;
    }
    const attached = { files: files.value, images: images.value };
    text.value = "";
    files.value = [];
    images.value = [];
    void sendMessage(content, attached);
  };

  const attachImage = async (file: File) => {
    if (images.value.length >= MAX_IMAGES) {
      notice.value = t("tooManyImages", { limit: MAX_IMAGES });
      return;
    }
    reading.value = t("readingFile", { name: file.name });
    const result = await readImage(file);
    reading.value = null;
    if ("url" in result) images.value = [...images.value, result];
    else
      notice.value =
        result.kind === "unsupported-image"
          ? t("imageUnsupported", { name: result.name })
          : result.kind === "image-too-large"
            ? t("imageTooLarge", {
                name: result.name,
                size: formatBytes(result.size),
                limit: formatBytes(result.limit),
              })
            : t("fileUnreadable", { name: result.name, reason: result.reason });
  };

  const attach = async (list: FileList | null) => {
    if (!list) return;
    for (const file of Array.from(list)) {
      if (imagesOn && isImageFile(file)) {
        await attachImage(file);
        continue;
      }
      if (files.value.length >= MAX_FILES) {
        notice.value = t("tooManyFiles", { limit: MAX_FILES });
        break;
      }
      reading.value = t("readingFile", { name: file.name });
      const result = await readAttachment(file);
      reading.value = null;
      if ("text" in result) {
        files.value = [...files.value.filter((existing) => existing.name !== result.name), result];
        continue;
      }
      notice.value =
        result.kind === "unsupported"
          ? t("fileUnsupported", { name: result.name })
          : result.kind === "too-large"
            ? t(result.of === "pdf" ? "pdfTooLarge" : "fileTooLarge", {
                name: result.name,
                size: formatBytes(result.size),
                limit: formatBytes(result.limit),
              })
            : t("fileUnreadable", { name: result.name, reason: result.reason });
    }
    if (picker.current) picker.current.value = "";
    if (imagePicker.current) imagePicker.current.value = "";
    input.current?.focus();
  };

  return (
    <form
      class="composer"
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
    >
      {(files.value.length > 0 || images.value.length > 0 || reading.value) && (
        <ul class="file-chips">
          {images.value.map((image, index) => (
            <li class="file-chip image-chip" key={`image-${index}`}>
              {isSafeImageUrl(image.url) && (
                <img class="thumbnail" src={image.url} alt={t("imageAlt", { name: image.name ?? "" })} />
              )}
              <span>{image.name}</span>
              <button
                type="button"
                class="icon-button"
                aria-label={t("removeImage", { name: image.name ?? "" })}
                onClick={() => (images.value = images.value.filter((existing) => existing !== image))}
              >
                ×
              </button>
            </li>
          ))}
          {files.value.map((file) => (
            <li class="file-chip" key={file.name}>
              <span>{file.name}</span>
              <button
                type="button"
                class="icon-button"
                aria-label={t("removeFile", { name: file.name })}
                onClick={() => (files.value = files.value.filter((existing) => existing !== file))}
              >
                ×
              </button>
            </li>
          ))}
          {reading.value && <li class="file-chip reading">{reading.value}</li>}
        </ul>
      )}
      <ToolChips />
      <textarea
        id="composer-input"
        ref={input}
        class="composer-input"
        aria-label={t("messageInput")}
        placeholder={t("placeholder")}
        rows={1}
        value={text.value}
        onInput={(event) => {
          const element = event.currentTarget;
          text.value = element.value;
          element.style.height = "auto";
          element.style.height = `${Math.min(element.scrollHeight, 240)}px`;
        }}
        onKeyDown={(event) => {
          // While an IME is composing, Enter picks a candidate; it must not send.
          if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
            event.preventDefault();
            submit();
          }
        }}
      />
      <div class="composer-bar">
        <button
          type="button"
          class={`toggle ${deepThink.value === "on" ? "on" : ""}`}
          aria-pressed={deepThink.value === "on"}
          onClick={() => (deepThink.value = deepThink.value === "on" ? "off" : "on")}
        >
          {t("deepThink")}
        </button>
        <WebSearchToggle />
        <ToolsMenu />
        <ModelPicker />
        <span class="spacer" />
        <input
          ref={picker}
          type="file"
          multiple
          hidden
          accept={`.txt,.md,.markdown,.json,.csv,.yaml,.yml,.xml,.html,.css,.js,.ts,.tsx,.jsx,.py,.go,.rs,.java,.c,.h,.cpp,.cs,.rb,.php,.sh,.sql,.toml,.log,.pdf,text/*,application/pdf${imagesOn ? `,${IMAGE_ACCEPT}` : ""}`}
          onChange={(event) => void attach(event.currentTarget.files)}
          data-testid="file-input"
        />
        <button
          type="button"
          class="icon-button attach"
          aria-label={t("attach")}
          title={t("attach")}
          onClick={() => picker.current?.click()}
        >
          <Icon name="attach" />
        </button>
        {imagesOn && (
          <>
            <input
              ref={imagePicker}
              type="file"
              multiple
              hidden
              accept={IMAGE_ACCEPT}
              onChange={(event) => void attach(event.currentTarget.files)}
              data-testid="image-input"
            />
            <button
              type="button"
              class="icon-button attach-image"
              aria-label={t("attachImage")}
              title={t("attachImage")}
              onClick={() => imagePicker.current?.click()}
            >
              <Icon name="image" />
            </button>
          </>
        )}
        {busy.value ? (
          <button type="button" class="send stop" onClick={stop} aria-label={t("stop")} title={t("stop")}>
            <Icon name="stop" />
          </button>
        ) : (
          <button type="submit" class="send" aria-label={t("send")} title={t("send")} disabled={empty}>
            <Icon name="send" />
          </button>
        )}
      </div>
    </form>
  );
}
