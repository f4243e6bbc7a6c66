// Knowledge collections: /knowledge lists them and creates one; /knowledge/:id shows one: rename,
// its files with upload and indexing progress (polled while any file is queued or indexing), the
// server's message for a file that failed, upload by picker or drop, a trial search, and delete.
import { useSignal, type Signal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import { collectionApi } from "../api/collections.ts";
import type { CollectionDetail, CollectionFile, KnowledgeHit } from "../api/types.ts";
import { formatBytes } from "../files.ts";
import { displayChinese, t } from "../i18n/i18n.ts";
import type { MessageKey } from "../i18n/strings.ts";
import { describeError, notice } from "../state/chat.ts";
import {
  collections,
  loadCollections,
  openCollection,
  refreshCollection,
  uploadFiles,
  uploads,
} from "../state/knowledge.ts";
import { navigate, type Route } from "../state/router.ts";
import { Icon } from "./icons.tsx";

/**
 * The server's limits (COLLECTION_LIMITS in protocol/app/collections.ts, which imports the
 * server's validation and so cannot be bundled here).
 */
const LIMITS = { nameChars: 100, descriptionChars: 2_000, queryChars: 2_000 } as const;

/** How often a collection with files being indexed is fetched again. */
const POLL_MS = 1000;

/** The header's title on the knowledge pages. */
export function knowledgeTitle(current: Extract<Route, { name: "knowledge" }>): string {
  const open = openCollection.value;
  if (current.id === null) return t("kbTitle");
  return open && open !== "missing" && open.id === current.id ? open.name : t("kbCollection");
}

const collectionPath = (id: string) => `/knowledge/${encodeURIComponent(id)}`;

function when(ms: number): string {
  return new Date(ms).toLocaleString();
}

export function KnowledgePage({ id }: { id: string | null }) {
  return id === null ? <CollectionList /> : <CollectionPage id={id} />;
}

function CollectionList() {
  const name = useSignal("");
  const description = useSignal("");
  useEffect(() => void loadCollections(), []);

  const create = async () => {
    try {
      const created = await collectionApi.create(name.value.trim(), description.value.trim());
      name.value = "";
      description.value = "";
      navigate(collectionPath(created.id));
    } catch (error) {
      notice.value = describeError(error);
    }
  };

  const list = collections.value;
  return (
    <div class="page knowledge-page">
      <p class="hint">{t("kbIntro")}</p>
      <form
        class="knowledge-form"
        aria-labelledby="kb-new-title"
        onSubmit={(event) => {
          event.preventDefault();
          if (name.value.trim()) void create();
        }}
      >
        <h2 id="kb-new-title">{t("kbNew")}</h2>
        <CollectionFields name={name} description={description} />
        <button type="submit" class="primary">
          <Icon name="plus" /> {t("kbCreate")}
        </button>
      </form>
      <section aria-labelledby="kb-list-title">
        <h2 id="kb-list-title">{t("kbCollections")}</h2>
        {list === null ? (
          <p>{t("loading")}</p>
        ) : list.length === 0 ? (
          <p class="empty">{t("kbNone")}</p>
        ) : (
          <div class="table-wrap">
            <table class="knowledge-table">
              <thead>
                <tr>
                  <th scope="col">{t("kbName")}</th>
                  <th scope="col">{t("kbFiles")}</th>
                  <th scope="col">{t("kbChunks")}</th>
                  <th scope="col">{t("kbUpdated")}</th>
                </tr>
              </thead>
              <tbody>
                {list.map((collection) => (
                  <tr key={collection.id}>
                    <td>
                      <a
                        href={collectionPath(collection.id)}
                        onClick={(event) => {
                          event.preventDefault();
                          navigate(collectionPath(collection.id));
                        }}
                      >
                        {displayChinese(collection.name)}
                      </a>
                      {collection.description && (
                        <span class="hint knowledge-description">
                          {displayChinese(collection.description)}
                        </span>
                      )}
                    </td>
                    <td>{collection.fileCount}</td>
                    <td>{collection.chunkCount}</td>
                    <td>{when(collection.updatedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}

const STATUS: Record<CollectionFile["status"], MessageKey> = {
  queued: "kbStatusQueued",
  indexing: "kbStatusIndexing",
  ready: "kbStatusReady",
  failed: "kbStatusFailed",
};

/** A collection's name and description, as the new-collection form and the rename form edit them. */
function CollectionFields({ name, description }: { name: Signal<string>; description: Signal<string> }) {
  return (
    <>
      <label>
        {t("kbName")}
        <input
          value={name.value}
          required
          maxLength={LIMITS.nameChars}
          onInput={(event) => (name.value = event.currentTarget.value)}
        />
      </label>
      <label>
        {t("kbDescription")}
        <textarea
          rows={2}
          maxLength={LIMITS.descriptionChars}
          value={description.value}
          onInput={(event) => (description.value = event.currentTarget.value)}
        />
      </label>
    </>
  );
}

function FileRow({ collectionId, file }: { collectionId: string; file: CollectionFile }) {
  const remove = async () => {
    if (!confirm(t("kbConfirmRemoveFile", { name: file.name }))) return;
    try {
      await collectionApi.removeFile(collectionId, file.id);
    } catch (error) {
      notice.value = describeError(error);
    }
    await refreshCollection(collectionId);
  };
  const progress = file.progress;
  return (
    <li class="knowledge-file" data-status={file.status}>
      <div class="knowledge-file-head">
        <span class="file-name">{file.name}</span>
        <span class="knowledge-file-meta">
          <span class="hint">{formatBytes(file.size)}</span>
          <span class="knowledge-status">{t(STATUS[file.status])}</span>
          {file.status === "ready" && (
            <span class="hint">{t("kbChunkCount", { count: file.chunkCount })}</span>
          )}
        </span>
        <button
          type="button"
          class="icon-button"
          aria-label={t("kbRemoveFile", { name: file.name })}
          title={t("kbRemoveFile", { name: file.name })}
          onClick={() => void remove()}
        >
          <Icon name="trash" />
        </button>
      </div>
      {(file.status === "queued" || file.status === "indexing") && (
        <progress
          aria-label={t("kbIndexingProgress", { name: file.name })}
          {...(progress && progress.total > 0 ? { value: progress.done, max: progress.total } : {})}
        />
      )}
      {file.status === "failed" && file.error && <p class="knowledge-error">{file.error.message}</p>}
    </li>
  );
}

function DropZone({ collectionId }: { collectionId: string }) {
  const over = useSignal(false);
  const picker = useRef<HTMLInputElement>(null);
  const add = (list: FileList | null | undefined) => {
    const files = Array.from(list ?? []);
    if (picker.current) picker.current.value = "";
    if (files.length > 0) void uploadFiles(collectionId, files);
  };
  return (
    <div
      class={`knowledge-drop ${over.value ? "over" : ""}`}
      onDragOver={(event) => {
        event.preventDefault();
        over.value = true;
      }}
      onDragLeave={() => (over.value = false)}
      onDrop={(event) => {
        event.preventDefault();
        over.value = false;
        add(event.dataTransfer?.files);
      }}
    >
      <label class="secondary file-picker">
        <Icon name="attach" /> {t("kbAddFiles")}
        <input
          ref={picker}
          type="file"
          multiple
          class="visually-hidden"
          onChange={(event) => add(event.currentTarget.files)}
        />
      </label>
      <span class="hint">{t("kbDropHint")}</span>
    </div>
  );
}

function TrialSearch({ collectionId }: { collectionId: string }) {
  const query = useSignal("");
  const hits = useSignal<KnowledgeHit[] | null>(null);
  const searching = useSignal(false);
  const search = async () => {
    searching.value = true;
    try {
      hits.value = (await collectionApi.search(query.value.trim(), [collectionId])).results;
    } catch (error) {
      notice.value = describeError(error);
    }
    searching.value = false;
  };
  return (
    <section aria-labelledby="kb-search-title">
      <h2 id="kb-search-title">{t("kbSearchTitle")}</h2>
      <form
        class="inline-form"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          if (query.value.trim()) void search();
        }}
      >
        <input
          type="search"
          maxLength={LIMITS.queryChars}
          aria-label={t("kbSearchLabel")}
          placeholder={t("kbSearchLabel")}
          value={query.value}
          onInput={(event) => (query.value = event.currentTarget.value)}
        />
        <button type="submit" class="secondary" disabled={searching.value}>
          {t("kbSearch")}
        </button>
      </form>
      {hits.value !== null && (
        <ol class="knowledge-hits" aria-label={t("kbSearchResults")}>
          {hits.value.length === 0 && <li class="empty">{t("kbNoHits")}</li>}
          {hits.value.map((hit) => (
            <li key={hit.chunkId}>
              <p class="knowledge-hit-source">
                <strong>{hit.fileName}</strong>
                {hit.page !== undefined && <span class="hint"> · {t("kbPage", { page: hit.page })}</span>}
                {hit.headingPath && hit.headingPath.length > 0 && (
                  <span class="hint"> · {hit.headingPath.join(" › ")}</span>
                )}
              </p>
              <p class="knowledge-passage">{hit.text}</p>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function CollectionPage({ id }: { id: string }) {
  const name = useSignal("");
  const description = useSignal("");
  const saved = useSignal<string | null>(null);
  const confirmDialog = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    openCollection.value = null;
    saved.value = null;
    void refreshCollection(id);
  }, [id]);

  const open = openCollection.value;
  const current: CollectionDetail | null = open && open !== "missing" && open.id === id ? open : null;
  const mine = uploads.value.filter((upload) => upload.collectionId === id);
  const busy =
    mine.length > 0 ||
    Boolean(current?.files.some((file) => file.status === "queued" || file.status === "indexing"));

  // The form starts from the collection's name and description each time another one opens.
  useEffect(() => {
    if (!current) return;
    name.value = current.name;
    description.value = current.description;
  }, [current?.id]);

  // Poll only while there is something to watch; leaving the page clears the timer.
  useEffect(() => {
    if (!busy) return;
    const timer = setInterval(() => void refreshCollection(id), POLL_MS);
    return () => clearInterval(timer);
  }, [id, busy]);

  if (open === "missing") return <p class="page knowledge-page">{t("kbNotFound")}</p>;
  if (!current) return <p class="page knowledge-page">{t("loading")}</p>;

  const save = async () => {
    try {
      await collectionApi.update(id, { name: name.value.trim(), description: description.value.trim() });
      saved.value = t("kbSaved");
      await refreshCollection(id);
    } catch (error) {
      notice.value = describeError(error);
    }
  };

  const remove = async () => {
    try {
      await collectionApi.remove(id);
      openCollection.value = null;
      navigate("/knowledge");
    } catch (error) {
      notice.value = describeError(error);
    }
  };

  return (
    <div class="page knowledge-page">
      <a
        href="/knowledge"
        onClick={(event) => {
          event.preventDefault();
          navigate("/knowledge");
        }}
      >
        {t("kbAll")}
      </a>
      <p class="hint">
        {t("kbSummary", { files: current.fileCount, chunks: current.chunkCount })}
        {current.embeddingModel && ` · ${t("kbEmbeddingModel", { model: current.embeddingModel })}`}
      </p>
      <form
        class="knowledge-form"
        aria-label={t("kbDetails")}
        onSubmit={(event) => {
          event.preventDefault();
          if (name.value.trim()) void save();
        }}
      >
        <CollectionFields name={name} description={description} />
        <button type="submit" class="secondary">
          {t("save")}
        </button>
        {saved.value && (
          <p class="hint" role="status">
            {saved.value}
          </p>
        )}
      </form>
      <section aria-labelledby="kb-files-title">
        <h2 id="kb-files-title">{t("kbFiles")}</h2>
        <p class="hint">{t("kbFilesHint")}</p>
        <DropZone collectionId={id} />
        <ul class="knowledge-files">
          {mine.map((upload) => (
            <li key={`upload-${upload.key}`} class="knowledge-file" data-status="uploading">
              <div class="knowledge-file-head">
                <span class="file-name">{upload.name}</span>
                <span class="knowledge-status">{t("kbStatusUploading")}</span>
              </div>
              <progress
                aria-label={t("kbUploadProgress", { name: upload.name })}
                {...(upload.total ? { value: upload.loaded, max: upload.total } : {})}
              />
            </li>
          ))}
          {current.files.length === 0 && mine.length === 0 && <li class="empty">{t("kbNoFiles")}</li>}
          {current.files.map((file) => (
            <FileRow key={file.id} collectionId={id} file={file} />
          ))}
        </ul>
      </section>
      <TrialSearch collectionId={id} />
      <button type="button" class="secondary danger" onClick={() => confirmDialog.current?.showModal()}>
        <Icon name="trash" /> {t("kbDelete")}
      </button>
      <dialog ref={confirmDialog} class="dialog" aria-labelledby="kb-delete-title">
        <form
          method="dialog"
          onSubmit={(event) => {
            if ((event.submitter as HTMLButtonElement | null)?.value === "delete") void remove();
          }}
        >
          <h2 id="kb-delete-title">{t("kbDeleteTitle", { name: current.name })}</h2>
          <p>{t("kbDeleteWarning", { files: current.fileCount })}</p>
          <div class="dialog-actions">
            <button type="submit" value="cancel" class="secondary">
              {t("cancel")}
            </button>
            <button type="submit" value="delete" class="secondary danger">
              {t("kbDelete")}
            </button>
          </div>
        </form>
      </dialog>
    </div>
  );
}
