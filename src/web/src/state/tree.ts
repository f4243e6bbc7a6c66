// The conversation's message tree: each message has a parentId; siblings are branches.
import type { Message } from "../api/types.ts";

export interface MessageTree {
  byId: Map<string, Message>;
  /** Children by parent id ("" for the roots), oldest first. */
  children: Map<string, Message[]>;
}

export function buildTree(messages: readonly Message[]): MessageTree {
  const byId = new Map<string, Message>();
  const children = new Map<string, Message[]>();
  for (const message of messages) {
    byId.set(message.id, message);
    const key = message.parentId ?? "";
    const list = children.get(key);
    if (list) list.push(message);
    else children.set(key, [message]);
  }
  for (const list of children.values()) list.sort((a, b) => a.createdAt - b.createdAt);
  return { byId, children };
}

/** The newest leaf under `id` (itself when it has no children): what PUT /current selects. */
export function newestLeaf(tree: MessageTree, id: string): string {
  let best = { id, createdAt: tree.byId.get(id)?.createdAt ?? 0 };
  const stack = [id];
  while (stack.length > 0) {
    const current = stack.pop()!;
    const kids = tree.children.get(current);
    if (!kids || kids.length === 0) {
      const createdAt = tree.byId.get(current)?.createdAt ?? 0;
      if (createdAt >= best.createdAt) best = { id: current, createdAt };
      continue;
    }
    for (const kid of kids) stack.push(kid.id);
  }
  return best.id;
}

/** The messages shown: from the root down to `leafId`. */
export function threadTo(tree: MessageTree, leafId: string | null): Message[] {
  const thread: Message[] = [];
  const seen = new Set<string>();
  let current = leafId ? tree.byId.get(leafId) : undefined;
  while (current && !seen.has(current.id)) {
    seen.add(current.id);
    thread.push(current);
    current = current.parentId ? tree.byId.get(current.parentId) : undefined;
  }
  return thread.reverse();
}

/** A message's branches: its siblings (itself included) and its position among them. */
export function siblingsOf(tree: MessageTree, message: Message): { siblings: Message[]; index: number } {
  const siblings = tree.children.get(message.parentId ?? "") ?? [message];
  return {
    siblings,
    index: Math.max(
      0,
      siblings.findIndex((sibling) => sibling.id === message.id),
    ),
  };
}

/** Where the thread ends when nothing is selected yet: the newest leaf of the newest root. */
export function defaultLeaf(tree: MessageTree): string | null {
  const roots = tree.children.get("") ?? [];
  const last = roots[roots.length - 1];
  return last ? newestLeaf(tree, last.id) : null;
}
