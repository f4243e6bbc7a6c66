// Words for MCP servers (admin page) and their tools, merged into strings.ts's dictionaries. English is the reference.

export const en = {} as const;

export const zhHans: Record<keyof typeof en, string> = {};

export const zhHant: Record<keyof typeof en, string> = {};
