import type { LlamaRankingContextOptions } from "node-llama-cpp";

type RankingTemplate = NonNullable<LlamaRankingContextOptions["template"]>;

/** How a reranker's query and documents are put into its prompt. */
export interface RankingPrompt {
  /** The template with `{{query}}` and `{{document}}` (node-llama-cpp's form); none: BOS q EOS SEP d EOS. */
  template: RankingTemplate | undefined;
  /** Put before the query text: a space moved out of the template (see `rankingPrompt`). */
  queryPrefix: string;
  /** Put before each document's text, likewise. */
  documentPrefix: string;
}

/**
 * The prompt of a reranker with the rerank template `raw` (`tokenizer.chat_template.rerank`, with
 * `{query}` and `{document}`), as llama.cpp's server and the model's own code build it.
 *
 * They fill the template in and tokenize the whole text; node-llama-cpp tokenizes the template's
 * pieces and the texts apart. With a byte-level BPE vocabulary the two differ where a placeholder
 * follows a space, as in Qwen3-Reranker's `<Query>: {query}`: in one text the space joins the
 * first word (`Ġwhat`), apart it becomes a token of its own that the model never saw in training,
 * and scores drift. Moving that space from the template to the front of the text gives the same
 * tokens as one text would. Other vocabularies (SentencePiece) add a leading space to each text
 * themselves, so they keep the template as it is. A template without both placeholders is an error.
 */
export function rankingPrompt(raw: string | undefined, byteLevel: boolean): RankingPrompt {
  if (raw === undefined) return { template: undefined, queryPrefix: "", documentPrefix: "" };
  let template = raw;
  const moveSpace = (placeholder: string): string => {
    const all = template.split(placeholder).length - 1;
    const spaced = template.split(` ${placeholder}`).length - 1;
    if (!byteLevel || all === 0 || spaced !== all) return "";
    template = template.replaceAll(` ${placeholder}`, placeholder);
    return " ";
  };
  const queryPrefix = moveSpace("{query}");
  const documentPrefix = moveSpace("{document}");
  const converted = template.replaceAll("{query}", "{{query}}").replaceAll("{document}", "{{document}}");
  if (!isRankingTemplate(converted)) {
    throw new Error("the model's rerank template lacks {query} or {document}");
  }
  return { template: converted, queryPrefix, documentPrefix };
}

function isRankingTemplate(template: string): template is RankingTemplate {
  return template.includes("{{query}}") && template.includes("{{document}}");
}
