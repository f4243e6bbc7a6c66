// Words for the turn's tools in the thread and composer: web search, tool calls, sources, approvals, merged into strings.ts's dictionaries. English is the reference.

export const en = {} as const;

export const zhHans: Record<keyof typeof en, string> = {};

export const zhHant: Record<keyof typeof en, string> = {};
