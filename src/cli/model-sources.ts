import fs from "node:fs/promises";
import path from "node:path";
import {
  resolveModelReference,
  type CatalogModel,
  type ModelReference,
} from "../engines/local/model-catalog.js";
import { modelPathInDataDir, modelsDir } from "../engines/local/model-paths.js";

/** Where a configured model comes from. */
export type ModelSource =
  | { kind: "file"; path: string; aliases: string[] }
  /** A catalog alias or `hf:` reference that is not downloaded yet. */
  | { kind: "pull"; reference: ModelReference; path: string; aliases: string[] };

/**
 * Resolves what the user named (a path, an alias such as `deepseek-r1:1.5b`, an `hf:` reference or
 * the name of a file in the data dir) to a file, or to a download. Names never leave the data dir;
 * only an explicit path that exists is used as given. `catalogOverrides` are QIUSUO_MODEL_CATALOG's.
 */
export async function resolveModelSource(
  name: string,
  dataDir: string,
  catalogOverrides: readonly CatalogModel[] = [],
): Promise<ModelSource> {
  if (await isFile(name)) return { kind: "file", path: path.resolve(name), aliases: [] };
  const reference = tryReference(name, catalogOverrides);
  if (reference) {
    const target = modelPathInDataDir(dataDir, reference.localFileName);
    const aliases = [name, ...(reference.alias && reference.alias !== name ? [reference.alias] : [])];
    if (await isFile(target)) return { kind: "file", path: target, aliases };
    return { kind: "pull", reference, path: target, aliases };
  }
  for (const candidate of [name, `${name}.gguf`]) {
    let target: string;
    try {
      target = modelPathInDataDir(dataDir, candidate);
    } catch {
      continue;
    }
    if (await isFile(target)) return { kind: "file", path: target, aliases: [] };
  }
  throw new Error(
    `Model '${name}' was not found: it is not a file, a catalog alias, an hf:OWNER/REPO/FILE.gguf reference, ` +
      `or a file in ${modelsDir(dataDir)}. Pass --model /path/to/model.gguf or run \`qiusuo pull ${name}\`.`,
  );
}

/** GGUF files already in the data dir, in name order so the default model is stable. */
export async function localModelFiles(dataDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(modelsDir(dataDir));
  } catch {
    return [];
  }
  return names
    .filter((name) => name.toLowerCase().endsWith(".gguf"))
    .sort()
    .map((name) => path.join(modelsDir(dataDir), name));
}

function tryReference(name: string, catalogOverrides: readonly CatalogModel[]): ModelReference | undefined {
  try {
    return resolveModelReference(name, { catalogOverrides });
  } catch {
    return undefined;
  }
}

async function isFile(candidate: string): Promise<boolean> {
  try {
    return (await fs.stat(candidate)).isFile();
  } catch {
    return false;
  }
}
