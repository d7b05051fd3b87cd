import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

/** A 1-based position in the pipeline file. */
export interface SourcePosition {
  /** 1-based line number. */
  line: number;
  /** 1-based column number. */
  column: number;
}

/**
 * What to point at for a path inside the document:
 * - `value`: the value node (falls back to its key when the value is empty, e.g. `run:`);
 * - `key`: the mapping key of the last path segment (e.g. an unknown or invalid key).
 * When the path does not exist (a missing key), the deepest existing node is used.
 */
export type LocateTarget = 'value' | 'key';

/**
 * Maps a path of mapping keys / sequence indexes (as produced by zod) to a line and column in
 * the YAML source. Aliases are followed to their anchors.
 */
export function locateYamlPath(
  doc: Document,
  lineCounter: LineCounter,
  path: readonly PropertyKey[],
  target: LocateTarget,
): SourcePosition {
  let node: Node | null = resolve(doc, doc.contents);
  let keyNode: Node | null = null;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === String(segment));
      if (!pair) break;
      keyNode = isNodeLike(pair.key) ? pair.key : null;
      node = isNodeLike(pair.value) ? resolve(doc, pair.value) : null;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (!isNodeLike(item)) break;
      node = resolve(doc, item);
      keyNode = node;
    } else {
      break;
    }
    if (node === null) break;
  }
  const chosen = target === 'key' ? (keyNode ?? node) : nonEmpty(node) ? node : (keyNode ?? node);
  const offset = chosen?.range?.[0] ?? 0;
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

function resolve(doc: Document, node: unknown): Node | null {
  if (isAlias(node)) return (node.resolve(doc) as Node | undefined) ?? node;
  return isNodeLike(node) ? node : null;
}

function isNodeLike(value: unknown): value is Node {
  return isScalar(value) || isMap(value) || isSeq(value) || isAlias(value);
}

function nonEmpty(node: Node | null): boolean {
  return !!node?.range && node.range[1] > node.range[0];
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return String(key);
}
