/**
 * Turning a source's node map (ChatGPT's and DeepSeek's `mapping`, our own message list) into
 * messages ordered parents-first, without recursion, so no input can overflow the stack.
 */
import { ArchiveError } from "./archive-error.js";

export interface SourceNode<T> {
  id: string;
  /** Null, or an id not among the nodes, makes the node a root. */
  parentId: string | null;
  /** What the node holds; undefined drops the node and hands its children to its parent. */
  value: T | undefined;
}

export interface KeptNode<T> {
  id: string;
  /** The nearest kept ancestor; null for a kept root. */
  parentId: string | null;
  value: T;
  /** The dropped nodes between this one and its kept parent, nearest last. */
  dropped: string[];
}

export interface FlatTree<T> {
  /** Kept nodes, parents before children. */
  nodes: Array<KeptNode<T>>;
  /** The node itself when kept, else its nearest kept ancestor; null when none or unknown. */
  keptAncestor(id: string): string | null;
}

/** Throws `ArchiveError("import_invalid")` naming `where` on a duplicate id or a cycle. */
export function flattenTree<T>(source: ReadonlyArray<SourceNode<T>>, where: string): FlatTree<T> {
  const byId = new Map<string, SourceNode<T>>();
  for (const node of source) {
    if (byId.has(node.id))
      throw new ArchiveError("import_invalid", `${where}: message id "${node.id}" appears twice.`);
    byId.set(node.id, node);
  }
  const children = new Map<string, string[]>();
  const roots: string[] = [];
  for (const node of source) {
    if (node.parentId === null || !byId.has(node.parentId)) {
      roots.push(node.id);
      continue;
    }
    const list = children.get(node.parentId) ?? [];
    list.push(node.id);
    children.set(node.parentId, list);
  }

  // Per visited node: its nearest kept ancestor-or-self, and the dropped nodes below that.
  const placed = new Map<string, { kept: string | null; dropped: string[] }>();
  const nodes: Array<KeptNode<T>> = [];
  const queue = roots.map((id) => ({ id, kept: null as string | null, dropped: [] as string[] }));
  for (let head = 0; head < queue.length; head++) {
    const { id, kept, dropped } = queue[head]!;
    const node = byId.get(id)!;
    const here =
      node.value === undefined ? { kept, dropped: [...dropped, id] } : { kept: id, dropped: [] as string[] };
    if (node.value !== undefined) nodes.push({ id, parentId: kept, value: node.value, dropped });
    placed.set(id, here);
    for (const child of children.get(id) ?? []) queue.push({ id: child, ...here });
  }
  if (placed.size < byId.size) {
    throw new ArchiveError("import_invalid", `${where}: the message tree has a cycle.`);
  }
  return { nodes, keptAncestor: (id) => placed.get(id)?.kept ?? null };
}
