// Model names come from users, config files and (through `pull`) from the network; none of them may
// ever name a path outside <dataDir>/models. Aliases and hf: references are mapped to a file name
// by model-catalog.ts first; what reaches this module must already be a bare file name, and it is
// checked as if it were hostile.

import path from "node:path";

import { QiusuoError } from "../../core/errors.js";

export class InvalidModelNameError extends QiusuoError {
  override readonly name = "InvalidModelNameError";
  constructor(message: string) {
    super("invalid_parameter", "invalid_model_name", message, { param: "model" });
  }
}

/** Long enough for any real GGUF name, short enough for every file system (255 bytes). */
const MAX_FILE_NAME_BYTES = 200;
/** Characters Windows forbids in names, plus both separators; control characters are checked apart. */
const FORBIDDEN_CHARACTERS = /[/\\:*?"<>|]/;
/** Windows device names are special in any directory, with any extension. */
const RESERVED_WINDOWS_NAMES = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\.|$)/i;

/**
 * Returns `name` when it is safe to use as a model file name inside the models directory, and
 * throws InvalidModelNameError otherwise: no separators, no `..`, no NUL or control characters, no
 * leading dot or dash, and it must end in `.gguf`.
 */
export function safeModelFileName(name: string): string {
  const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}...` : name);
  const reject = (why: string): never => {
    throw new InvalidModelNameError(`The model file name ${shown} is not allowed: ${why}.`);
  };
  if (name.length === 0) reject("it is empty");
  // eslint-disable-next-line no-control-regex -- control characters are exactly what we reject
  if (/[\u0000-\u001f\u007f]/.test(name)) reject("it contains control characters");
  if (FORBIDDEN_CHARACTERS.test(name))
    reject('a model name must be a plain file name, without / \\ : * ? " < > |');
  if (name === "." || name === ".." || name.includes("..")) reject("it contains '..'");
  if (name.startsWith(".")) reject("it starts with a dot");
  if (name.startsWith("-")) reject("it starts with a dash");
  if (name !== name.trim()) reject("it starts or ends with whitespace");
  if (RESERVED_WINDOWS_NAMES.test(name)) reject("it is a reserved device name on Windows");
  if (!name.toLowerCase().endsWith(".gguf") || name.length === ".gguf".length) reject("it must end in .gguf");
  if (Buffer.byteLength(name, "utf8") > MAX_FILE_NAME_BYTES)
    reject(`it is longer than ${MAX_FILE_NAME_BYTES} bytes`);
  return name;
}

/** The directory that holds downloaded and named models: `<dataDir>/models`. */
export function modelsDir(dataDir: string): string {
  return path.join(path.resolve(dataDir), "models");
}

/**
 * The path of the model file `fileName` inside `<dataDir>/models`. The name is checked with
 * safeModelFileName, and the joined path is checked once more to lie directly in the directory.
 */
export function modelPathInDataDir(dataDir: string, fileName: string): string {
  const directory = modelsDir(dataDir);
  const target = path.resolve(directory, safeModelFileName(fileName));
  if (path.dirname(target) !== directory) {
    throw new InvalidModelNameError(
      `The model file name ${JSON.stringify(fileName)} does not stay in ${directory}.`,
    );
  }
  return target;
}

/** A model's id is its file name without `.gguf`. */
export function modelIdForFile(filePath: string): string {
  return path.basename(filePath).replace(/\.gguf$/i, "");
}
