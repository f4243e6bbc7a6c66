import type { LlamaModel, Token } from "node-llama-cpp";
import { detectFamily, type ModelFamily } from "../../core/families/model-family.js";

/** A model's family, with the ids of its markers that are single tokens of its vocabulary. */
export interface LoadedFamily {
  family: ModelFamily;
  /** Marker tokens and their text: rendered as text for the parser, never dropped. */
  markerTokens: ReadonlyMap<Token, string>;
}

const families = new WeakMap<LlamaModel, LoadedFamily>();

/** Detected once per loaded model, from the GGUF's chat template, architecture and name. */
export function familyOf(model: LlamaModel): LoadedFamily {
  let loaded = families.get(model);
  if (!loaded) {
    const metadata = model.fileInfo.metadata;
    const template = metadata.tokenizer?.chat_template;
    const family = detectFamily({
      template: typeof template === "string" ? template : undefined,
      architecture: String(metadata.general?.architecture ?? ""),
      name: String(metadata.general?.name ?? ""),
    });
    const markerTokens = new Map<Token, string>();
    for (const marker of family.markers) {
      const tokens = model.tokenize(marker, true);
      if (tokens.length === 1) markerTokens.set(tokens[0]!, marker);
    }
    loaded = { family, markerTokens };
    families.set(model, loaded);
  }
  return loaded;
}
