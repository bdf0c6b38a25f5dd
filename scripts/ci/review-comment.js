// @ts-check
/**
 * The pull request's review comment: one comment, found again by a hidden marker and updated in
 * place on every push. GitHub caps a comment body at 65,536 characters, so a longer review is
 * split at line boundaries into numbered parts (each its own comment, same marker family, stable
 * header); past MAX_PARTS the rest is cut and the last part says how much and where the full text
 * is. Plain CommonJS so actions/github-script can require it from the checkout.
 */
"use strict";

const fs = require("fs");

/** GitHub's limit on an issue or pull-request comment body, in characters. */
const COMMENT_LIMIT = 65536;
/** More parts than this is noise in a pull request; the artifact holds the full review. */
const MAX_PARTS = 10;
const MARKER_PREFIX = "<!-- kubeadm-ha-review part ";
const FENCE = /^(`{3,}|~{3,})/;

/** @param {number} index @param {number} total */
function header(index, total) {
  const title = total === 1 ? "kubeadm-ha review" : `kubeadm-ha review (part ${index} of ${total})`;
  return `${MARKER_PREFIX}${index} -->\n**${title}**\n\n`;
}

/**
 * Splits `body` into comment bodies of at most `limit` characters each, headers included.
 * An open code fence is closed at a cut and reopened in the next part.
 * @param {string} body
 * @param {{ limit?: number, maxParts?: number, cutNote?: (cutChars: number, cutLines: number) => string }} [options]
 * @returns {string[]}
 */
function splitReview(body, options = {}) {
  const limit = options.limit ?? COMMENT_LIMIT;
  const maxParts = options.maxParts ?? MAX_PARTS;
  const cutNote =
    options.cutNote ??
    ((chars, lines) => `\n\n**Cut:** the last ${chars} characters (${lines} lines) of the review do not fit in ${maxParts} comments; the full text is in the workflow run's review-bundle artifact.\n`);
  // Room for the longest header, a fence closed at a cut and the cut note.
  const reserve = header(maxParts, maxParts).length + 16 + cutNote(10 ** 9, 10 ** 9).length;
  const budget = limit - reserve;
  if (budget < 200) throw new Error(`comment limit ${limit} leaves no room for text`);

  /** @type {string[][]} */
  const chunks = [];
  let current = [];
  let size = 0;
  /** @type {{ open: string, close: string } | undefined} */
  let openFence;
  const lines = body.replace(/\s+$/, "").split("\n");
  let index = 0;
  for (; index < lines.length; index += 1) {
    let line = lines[index];
    if (line.length + 1 > budget) line = `${line.slice(0, budget - 40)} [line cut: ${line.length} characters]`;
    if (size + line.length + 1 > budget) {
      if (openFence) current.push(openFence.close);
      chunks.push(current);
      if (chunks.length === maxParts) break;
      current = openFence ? [openFence.open] : [];
      size = openFence ? openFence.open.length + 1 : 0;
    }
    const fence = FENCE.exec(line);
    if (fence && !openFence) openFence = { open: line, close: fence[1] };
    else if (fence && openFence && line.trim() === openFence.close) openFence = undefined;
    current.push(line);
    size += line.length + 1;
  }
  let cut = "";
  if (index < lines.length) {
    const rest = lines.slice(index);
    cut = cutNote(rest.join("\n").length, rest.length);
  } else {
    chunks.push(current);
  }
  const total = chunks.length;
  return chunks.map((chunk, i) => `${header(i + 1, total)}${chunk.join("\n")}\n${i === total - 1 ? cut : ""}`);
}

/** @param {string | undefined | null} body */
function partOf(body) {
  if (!body || !body.startsWith(MARKER_PREFIX)) return undefined;
  const number = Number.parseInt(body.slice(MARKER_PREFIX.length), 10);
  return Number.isInteger(number) && number > 0 ? number : undefined;
}

/**
 * Creates, updates and deletes the review comments so the pull request shows exactly `parts`.
 * Only comments written by `author` (the workflow's token) are touched.
 * @param {{ github: any, context: any, core?: any, bodyFile?: string, body?: string, author?: string }} args
 */
async function upsertReviewComment({ github, context, core, bodyFile, body, author = "github-actions[bot]" }) {
  const text = body ?? fs.readFileSync(/** @type {string} */ (bodyFile), "utf8");
  const parts = splitReview(text);
  const { owner, repo } = context.repo;
  const issue_number = context.payload.pull_request?.number ?? context.issue.number;
  const comments = await github.paginate(github.rest.issues.listComments, { owner, repo, issue_number, per_page: 100 });
  /** @type {Map<number, any>} */
  const existing = new Map();
  for (const comment of comments) {
    const part = partOf(comment.body);
    if (part !== undefined && comment.user?.login === author && !existing.has(part)) existing.set(part, comment);
  }
  const actions = [];
  for (const [i, partBody] of parts.entries()) {
    const old = existing.get(i + 1);
    if (!old) {
      await github.rest.issues.createComment({ owner, repo, issue_number, body: partBody });
      actions.push(`created part ${i + 1}`);
    } else if (old.body !== partBody) {
      await github.rest.issues.updateComment({ owner, repo, comment_id: old.id, body: partBody });
      actions.push(`updated part ${i + 1}`);
    } else {
      actions.push(`part ${i + 1} unchanged`);
    }
  }
  for (const [part, old] of existing) {
    if (part > parts.length) {
      await github.rest.issues.deleteComment({ owner, repo, comment_id: old.id });
      actions.push(`deleted part ${part}`);
    }
  }
  core?.info(`review comment: ${actions.join(", ")}`);
  return actions;
}

module.exports = { COMMENT_LIMIT, MAX_PARTS, MARKER_PREFIX, splitReview, upsertReviewComment, partOf };
