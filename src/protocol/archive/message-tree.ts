/**
 * Turning a source's node map (ChatGPT's and DeepSeek's `mapping`, our own message list) into
 * messages ordered parents-first. One breadth-first walk, without recursion, so no input can
 * overflow the stack; each node keeps only its nearest kept ancestor and what the dropped nodes
 * above it passed on, shared, never a copy of the path, so time and memory grow linearly.
 */
import { ArchiveError } from "./archive-error.js";
import { quoted } from "./json-value.js";
import type { Pacer } from "./pacer.js";

export interface SourceNode<T> {
  id: string;
  /** Null, or an id not among the nodes, makes the node a root. */
  parentId: string | null;
  /** What the node holds; undefined drops the node and hands its children to its parent. */
  value: T | undefined;
  /** Text a dropped node passes on to the kept nodes below it (ChatGPT's thoughts). */
  passOn?: string;
}

export interface KeptNode<T> {
  id: string;
  /** The nearest kept ancestor; null for a kept root. */
  parentId: string | null;
  value: T;
  /** What the dropped nodes between this one and its kept parent passed on, nearest last. */
  passedOn: string | undefined;
}

export interface FlatTree<T> {
  /** Kept nodes, parents before children. */
  nodes: Array<KeptNode<T>>;
  /** The node itself when kept, else its nearest kept ancestor; null when none or unknown. */
  keptAncestor(id: string): string | null;
}

const NONE = -1;

/** Throws `ArchiveError("import_invalid")` naming `where` on a duplicate id or a cycle. */
export async function flattenTree<T>(
  source: ReadonlyArray<SourceNode<T>>,
  where: string,
  pacer: Pacer,
): Promise<FlatTree<T>> {
  const count = source.length;
  const indexOf = new Map<string, number>();
  for (let index = 0; index < count; index++) {
    const { id } = source[index]!;
    if (indexOf.has(id))
      throw new ArchiveError("import_invalid", `${where}: message id ${quoted(id)} appears twice.`);
    indexOf.set(id, index);
    if (pacer.due()) await pacer.pause();
  }

  // Children as one array of indexes in parent order (each parent's slice starts at firstChild).
  const parentOf = new Int32Array(count).fill(NONE);
  const firstChild = new Int32Array(count + 1);
  for (let index = 0; index < count; index++) {
    const { parentId } = source[index]!;
    const parent = parentId === null ? undefined : indexOf.get(parentId);
    if (parent !== undefined) {
      parentOf[index] = parent;
      firstChild[parent + 1]!++;
    }
    if (pacer.due()) await pacer.pause();
  }
  for (let index = 0; index < count; index++) firstChild[index + 1]! += firstChild[index]!;
  const children = new Int32Array(count);
  const filled = firstChild.slice(0, count);
  for (let index = 0; index < count; index++) {
    const parent = parentOf[index]!;
    if (parent !== NONE) children[filled[parent]!++] = index;
  }

  // Per node, once reached: its nearest kept ancestor-or-self, and what the dropped nodes from
  // there down to it passed on (undefined for a kept node: it starts afresh below it).
  const kept = new Int32Array(count).fill(NONE);
  const passedOn: Array<string | undefined> = new Array<string | undefined>(count);
  const queue = new Int32Array(count);
  let tail = 0;
  for (let index = 0; index < count; index++) if (parentOf[index] === NONE) queue[tail++] = index;
  const nodes: Array<KeptNode<T>> = [];
  for (let head = 0; head < tail; head++) {
    const index = queue[head]!;
    const node = source[index]!;
    const parent = parentOf[index]!;
    const above = parent === NONE ? NONE : kept[parent]!;
    const inherited = parent === NONE ? undefined : passedOn[parent];
    if (node.value === undefined) {
      kept[index] = above;
      passedOn[index] = join(inherited, node.passOn);
    } else {
      kept[index] = index;
      nodes.push({
        id: node.id,
        parentId: above === NONE ? null : source[above]!.id,
        value: node.value,
        passedOn: inherited,
      });
    }
    for (let child = firstChild[index]!; child < firstChild[index + 1]!; child++)
      queue[tail++] = children[child]!;
    if (pacer.due()) await pacer.pause();
  }
  // A node on a cycle has a parent, so it is no root, and no root leads to it.
  if (tail < count) throw new ArchiveError("import_invalid", `${where}: the message tree has a cycle.`);
  return {
    nodes,
    keptAncestor(id) {
      const index = indexOf.get(id);
      const ancestor = index === undefined ? NONE : kept[index]!;
      return ancestor === NONE ? null : source[ancestor]!.id;
    },
  };
}

/** Texts passed on along a chain, nearest last; V8 concatenates without copying, so it stays linear. */
function join(inherited: string | undefined, own: string | undefined): string | undefined {
  if (own === undefined) return inherited;
  return inherited === undefined ? own : `${inherited}\n\n${own}`;
}
