/**
 * Keeps synth output clean on Node.js 22 and 24: cdktf 0.21 calls `util.isArray` while writing
 * outputs (TerraformOutput.isITerraformAddressable), and Node.js 22 prints its deprecation DEP0044 on
 * every synth. Only that code is dropped; every other warning and deprecation still prints.
 * Loaded first by the synth entry (main.ts), before cdktf.
 */

/** Deprecations that come from cdktf itself and that a user can do nothing about. */
export const SILENCED_DEPRECATIONS: ReadonlySet<string> = new Set(["DEP0044"]);

type EmitWarning = typeof process.emitWarning;

/** The code of a process.emitWarning call, in any of its call forms. */
export function warningCode(warning: unknown, typeOrOptions: unknown, code: unknown): string | undefined {
  if (warning instanceof Error) {
    const errorCode = (warning as Error & { code?: unknown }).code;
    if (typeof errorCode === "string") return errorCode;
  }
  if (typeOrOptions !== null && typeof typeOrOptions === "object") {
    const optionsCode = (typeOrOptions as { code?: unknown }).code;
    return typeof optionsCode === "string" ? optionsCode : undefined;
  }
  return typeof code === "string" ? code : undefined;
}

/** Wraps process.emitWarning once; returns a function that restores the original. */
export function silenceCdktfDeprecations(): () => void {
  const original: EmitWarning = process.emitWarning;
  const filtered = function emitWarning(this: unknown, warning: string | Error, ...rest: unknown[]): void {
    const code = warningCode(warning, rest[0], rest[1]);
    if (code !== undefined && SILENCED_DEPRECATIONS.has(code)) return;
    (original as (...args: unknown[]) => void).call(process, warning, ...rest);
  };
  process.emitWarning = filtered as EmitWarning;
  return () => {
    if (process.emitWarning === filtered) process.emitWarning = original;
  };
}

silenceCdktfDeprecations();
