// Knowledge collections (docs/api.md, "Collections"): JSON calls through client.ts, and file
// uploads by XMLHttpRequest, the one browser API that reports upload progress.
import { ApiError, csrfHeader, errorFrom, json, send } from "./client.ts";
import type { Collection, CollectionDetail, CollectionFile, KnowledgeHit } from "./types.ts";

const path = (id: string) => `/api/collections/${encodeURIComponent(id)}`;

/** Bytes sent so far of one upload, and of all (null while the browser does not know yet). */
export type UploadProgress = (loaded: number, total: number | null) => void;

/**
 * Sends one file as the raw request body; its name goes in X-File-Name, percent-encoded so any
 * name survives a header. Resolves with the file as the server queued it (202).
 */
function upload(
  collectionId: string,
  file: File,
  onProgress: UploadProgress,
  signal?: AbortSignal,
): Promise<CollectionFile> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", `${path(collectionId)}/files`);
    request.setRequestHeader("content-type", file.type || "application/octet-stream");
    request.setRequestHeader("x-file-name", encodeURIComponent(file.name));
    for (const [name, value] of Object.entries(csrfHeader())) request.setRequestHeader(name, value);
    request.upload.onprogress = (event) =>
      onProgress(event.loaded, event.lengthComputable ? event.total : null);
    request.onload = () => {
      if (request.status >= 200 && request.status < 300) {
        resolve(JSON.parse(request.responseText) as CollectionFile);
        return;
      }
      const response = new Response(request.responseText, {
        status: request.status,
        statusText: request.statusText,
      });
      void errorFrom(response).then(reject);
    };
    request.onerror = () => reject(new ApiError(0, "network_error", "The upload was cut off."));
    request.onabort = () => reject(new DOMException("The upload was stopped.", "AbortError"));
    signal?.addEventListener("abort", () => request.abort(), { once: true });
    request.send(file);
  });
}

export const collectionApi = {
  list: () => json<{ collections: Collection[] }>("GET", "/api/collections"),
  get: (id: string) => json<CollectionDetail>("GET", path(id)),
  create: (name: string, description: string) =>
    json<Collection>("POST", "/api/collections", { name, description }),
  update: (id: string, changes: { name?: string; description?: string }) =>
    json<Collection>("PATCH", path(id), changes),
  remove: async (id: string) => void (await send("DELETE", path(id))),
  upload,
  removeFile: async (id: string, fileId: string) =>
    void (await send("DELETE", `${path(id)}/files/${encodeURIComponent(fileId)}`)),
  search: (query: string, collectionIds: string[], limit = 8) =>
    json<{ results: KnowledgeHit[] }>("POST", "/api/collections/search", { query, collectionIds, limit }),
};
