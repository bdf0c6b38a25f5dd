/** Go duration strings ("15s", "1m30s", "500ms"), the format Kubernetes component flags take. */

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };
const DURATION_PATTERN = /^(?:\d+(?:\.\d+)?(?:h|ms|m|s))+$/;
const PART_PATTERN = /(\d+(?:\.\d+)?)(h|ms|m|s)/g;

/** Milliseconds, or undefined when the text is not a positive Go duration we accept. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION_PATTERN.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART_PATTERN)) {
    total += Number(amount) * UNIT_MS[unit];
  }
  return total;
}
