// `qiusuo rm MODEL`: deletes a model from the data dir, as `ollama rm` does, with its checksum,
// an interrupted download and its prefix cache. This command runs apart from any server, so it
// asks the system instead: a process that has the file open or mapped (a server or `qiusuo run`
// that loaded it) holds it, and the delete is refused unless --force. A server that lists the
// model without having loaded it does not hold the file; it finds the file gone when it next loads.
import { stat } from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import { resolveDataDir } from "../config/config.js";
import { resolveModelReference } from "../engines/local/model-catalog.js";
import { deleteModelFiles, exists, processesUsingFile, runningPull } from "../engines/local/model-files.js";
import { modelIdForFile, modelPathInDataDir, modelsDir } from "../engines/local/model-paths.js";

export function registerRmCommand(program: Command): void {
  program
    .command("rm")
    .description("delete a model from the data dir, with its checksum, partial download and cache")
    .argument("<model>", "a name `qiusuo ls` shows, a catalog alias or hf: reference, or its path")
    .option("--force", "delete it even while a running process has it loaded")
    .option("--data-dir <dir>", "where models live (default ~/.qiusuo)")
    .action(async (model: string, flags: { force?: boolean; dataDir?: string }) => {
      const dataDir = resolveDataDir(flags.dataDir);
      const file = await modelFileToDelete(model, dataDir);
      const id = modelIdForFile(file);

      const puller = await runningPull(file);
      if (puller !== undefined) {
        throw new Error(`${id} is being downloaded by process ${puller}; stop that pull first.`);
      }
      const present = await exists(file);
      const size = present
        ? await stat(file).then(
            (stats) => stats.size,
            () => 0,
          )
        : 0;
      if (!flags.force && present) {
        const holders = await processesUsingFile(file);
        if (holders === undefined) {
          console.error("note: this system cannot tell whether another process has the model open.");
        } else if (holders.length > 0) {
          const named = holders.map(
            (holder) => `${holder.pid}${holder.command ? ` (${holder.command})` : ""}`,
          );
          throw new Error(
            `${id} is in use by process ${named.join(", ")}: a running qiusuo has it loaded. ` +
              `Unload it (the app's models page) or stop that process, then run \`qiusuo rm ${model}\` again. ` +
              "--force deletes it anyway; that process keeps its loaded copy until it unloads it.",
          );
        }
      }
      const deleted = await deleteModelFiles(dataDir, file);
      const shown = deleted.map((target) => path.relative(modelsDir(dataDir), target)).join(", ");
      console.log(`deleted ${id}${size > 0 ? ` (${(size / 1e6).toFixed(1)} MB)` : ""}: ${shown}`);
    });
}

/**
 * The model file `name` means, always inside `<dataDir>/models`: a path there, a catalog alias or
 * hf: reference, or a file name with or without `.gguf`. It may exist only as a `.partial`.
 */
async function modelFileToDelete(name: string, dataDir: string): Promise<string> {
  const directory = modelsDir(dataDir);
  if ((name.includes("/") || name.includes(path.sep)) && (await exists(name))) {
    const given = path.resolve(name);
    if (path.dirname(given) !== directory) {
      throw new Error(
        `${given} is not in qiusuo's models folder (${directory}). qiusuo rm deletes only the ` +
          "models qiusuo keeps there, never a file of yours; delete it yourself if you mean to.",
      );
    }
    return given;
  }
  const candidates: string[] = [];
  const reference = referenceFileName(name);
  if (reference) candidates.push(reference);
  candidates.push(name, `${name}.gguf`);
  let refusal: unknown;
  let looked = 0;
  for (const candidate of candidates) {
    let file: string;
    try {
      file = modelPathInDataDir(dataDir, candidate);
    } catch (error) {
      refusal ??= error; // a name with a slash or `..` is never a model here
      continue;
    }
    looked++;
    if ((await exists(file)) || (await exists(`${file}.partial`))) return file;
  }
  if (looked === 0) throw refusal;
  throw new Error(`There is no model '${name}' in ${directory}; \`qiusuo ls\` lists the models there.`);
}

function referenceFileName(name: string): string | undefined {
  try {
    return resolveModelReference(name).localFileName;
  } catch {
    return undefined;
  }
}
