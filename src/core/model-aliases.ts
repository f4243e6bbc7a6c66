/**
 * DeepSeek's public model names, served by the default model: `deepseek-chat` answers without
 * thinking, `deepseek-reasoner` thinks first. An explicit `thinking` in the request wins.
 */
export const MODEL_ALIASES: Readonly<Record<string, { thinking: boolean }>> = {
  "deepseek-chat": { thinking: false },
  "deepseek-reasoner": { thinking: true },
};

export function aliasThinking(model: string): boolean | undefined {
  return MODEL_ALIASES[model]?.thinking;
}
