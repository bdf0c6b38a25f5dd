/**
 * A unified diff of two texts (the `diff -u` format reviewers read), from a longest common
 * subsequence of lines. The files compared are a node's rendered configs and scripts: a few
 * hundred lines at most, so the quadratic table is cheap; identical texts cost nothing.
 */

const CONTEXT_LINES = 3;

type Edit = { readonly kind: " " | "-" | "+"; readonly line: string };

export function unifiedDiff(before: string, after: string, fromLabel: string, toLabel: string): string {
  if (before === after) return "";
  const edits = lineEdits(splitLines(before), splitLines(after));
  const hunks = groupHunks(edits);
  return [`--- ${fromLabel}`, `+++ ${toLabel}`, ...hunks].join("\n");
}

function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

function lineEdits(a: readonly string[], b: readonly string[]): Edit[] {
  // Common prefix and suffix first: most changes touch a few lines of a long file.
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start += 1;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA -= 1;
    endB -= 1;
  }
  const midA = a.slice(start, endA);
  const midB = b.slice(start, endB);
  const rows = midA.length + 1;
  const cols = midB.length + 1;
  const lcs = new Uint32Array(rows * cols);
  for (let i = midA.length - 1; i >= 0; i -= 1) {
    for (let j = midB.length - 1; j >= 0; j -= 1) {
      lcs[i * cols + j] = midA[i] === midB[j] ? lcs[(i + 1) * cols + j + 1] + 1 : Math.max(lcs[(i + 1) * cols + j], lcs[i * cols + j + 1]);
    }
  }
  const edits: Edit[] = a.slice(0, start).map((line) => ({ kind: " ", line }));
  let i = 0;
  let j = 0;
  while (i < midA.length || j < midB.length) {
    if (i < midA.length && j < midB.length && midA[i] === midB[j]) {
      edits.push({ kind: " ", line: midA[i] });
      i += 1;
      j += 1;
    } else if (i < midA.length && (j === midB.length || lcs[(i + 1) * cols + j] >= lcs[i * cols + j + 1])) {
      // Deletions before insertions, as diff -u prints a changed line.
      edits.push({ kind: "-", line: midA[i] });
      i += 1;
    } else {
      edits.push({ kind: "+", line: midB[j] });
      j += 1;
    }
  }
  for (const line of a.slice(endA)) edits.push({ kind: " ", line });
  return edits;
}

function groupHunks(edits: readonly Edit[]): string[] {
  const changed = edits.map((edit, index) => (edit.kind === " " ? -1 : index)).filter((index) => index >= 0);
  const out: string[] = [];
  let cursor = 0;
  while (cursor < changed.length) {
    const first = Math.max(0, changed[cursor] - CONTEXT_LINES);
    let last = changed[cursor];
    while (cursor + 1 < changed.length && changed[cursor + 1] - last <= 2 * CONTEXT_LINES) {
      cursor += 1;
      last = changed[cursor];
    }
    const end = Math.min(edits.length - 1, last + CONTEXT_LINES);
    const before = edits.slice(0, first);
    const oldStart = before.filter((edit) => edit.kind !== "+").length + 1;
    const newStart = before.filter((edit) => edit.kind !== "-").length + 1;
    const hunk = edits.slice(first, end + 1);
    const oldCount = hunk.filter((edit) => edit.kind !== "+").length;
    const newCount = hunk.filter((edit) => edit.kind !== "-").length;
    out.push(`@@ -${oldCount === 0 ? oldStart - 1 : oldStart},${oldCount} +${newCount === 0 ? newStart - 1 : newStart},${newCount} @@`);
    for (const edit of hunk) out.push(`${edit.kind}${edit.line}`);
    cursor += 1;
  }
  return out;
}
