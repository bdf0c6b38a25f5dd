/**
 * `cdktf synth --hcl` writes every multi-line string as a heredoc, `<<EOF\n<text>\nEOF`, which
 * carries a different value than the JSON stack in three ways:
 * - a heredoc's value ends with the newline before its closing marker, so text that already ends
 *   with one gains a second (every instance's user data would change, and the instance with it);
 * - a line reading `EOF` (indented or not: a shell heredoc in a boot script) closes the heredoc
 *   early and the rest of the text is parsed as HCL;
 * - carriage returns become newlines.
 *
 * multiLineTextForSynth gives cdktf, in HCL mode only, a Terraform template with exactly the
 * JSON's value: one trailing newline fewer (or a `${""~}` strip marker, which removes the
 * heredoc's own newline, when the text has none), each `EOF` line as `${"EOF"}`, each CR as
 * `${"\r"}`. JSON output is untouched.
 */
import { App } from "cdktf";
import type { IConstruct } from "constructs";

/** The heredoc marker cdktf 0.21 writes (lib/hcl/render.js renderString). */
const HEREDOC_MARKER = "EOF";
const MARKER_LINE = new RegExp(`^(\\s*)${HEREDOC_MARKER}(\\s*)$`);

export function isHclSynth(scope: IConstruct): boolean {
  return App.of(scope).hclOutput;
}

/** `text` (already escaped for Terraform templates) as the value to give a resource attribute. */
export function multiLineTextForSynth(scope: IConstruct, text: string): string {
  if (!isHclSynth(scope) || !/[\r\n]/.test(text)) return text;
  return heredocTemplate(text);
}

/** The heredoc body whose value (with the heredoc's final newline) is exactly `text`. */
export function heredocTemplate(text: string): string {
  const lines = text
    .replace(/\r/g, '${"\\r"}')
    .split("\n")
    .map((line) => line.replace(MARKER_LINE, `$1\${"${HEREDOC_MARKER}"}$2`))
    .join("\n");
  return lines.endsWith("\n") ? lines.slice(0, -1) : `${lines}\${""~}`;
}
