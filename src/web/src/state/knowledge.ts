// Knowledge collections: the list, the collection open on its page, and uploads in flight. Uploads
// live here, not in the page, so leaving the page and coming back shows them still going.
import { signal } from "@preact/signals";
import { ApiError } from "../api/client.ts";
import { collectionApi } from "../api/collections.ts";
import type { Collection, CollectionDetail } from "../api/types.ts";
import { t } from "../i18n/i18n.ts";
import { describeError, notice } from "./chat.ts";

export const collections = signal<Collection[] | null>(null);
/** The collection shown on /knowledge/:id; `missing` when the server says 404. */
export const openCollection = signal<CollectionDetail | "missing" | null>(null);

export interface Upload {
  key: number;
  collectionId: string;
  name: string;
  loaded: number;
  total: number | null;
}
export const uploads = signal<Upload[]>([]);
let nextKey = 0;

export async function loadCollections(): Promise<void> {
  try {
    collections.value = (await collectionApi.list()).collections;
  } catch (error) {
    notice.value = describeError(error);
  }
}

/** Fetches a collection again; what comes back is shown only if it is still the open one. */
export async function refreshCollection(id: string): Promise<void> {
  try {
    const detail = await collectionApi.get(id);
    const open = openCollection.value;
    if (open === null || open === "missing" || open.id === id) openCollection.value = detail;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) openCollection.value = "missing";
    else notice.value = describeError(error);
  }
}

function setUpload(key: number, change: Partial<Upload> | null): void {
  uploads.value =
    change === null
      ? uploads.value.filter((upload) => upload.key !== key)
      : uploads.value.map((upload) => (upload.key === key ? { ...upload, ...change } : upload));
}

/** Uploads files one request each, in turn; a file the server refuses is named in the notice. */
export async function uploadFiles(collectionId: string, files: readonly File[]): Promise<void> {
  const queued = files.map((file) => ({
    file,
    upload: { key: nextKey++, collectionId, name: file.name, loaded: 0, total: file.size },
  }));
  uploads.value = [...uploads.value, ...queued.map((entry) => entry.upload)];
  for (const { file, upload } of queued) {
    try {
      await collectionApi.upload(collectionId, file, (loaded, total) =>
        setUpload(upload.key, { loaded, total }),
      );
    } catch (error) {
      notice.value = t("kbUploadFailed", { name: file.name, message: describeError(error) });
    }
    setUpload(upload.key, null);
    await refreshCollection(collectionId);
  }
}
