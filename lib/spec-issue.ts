/**
 * What validation reports about a spec: an issue (an error) or a warning, tied to the field that
 * makes it. Its own module, so the checks that live beside their concern (validate-backups.ts, the
 * load-balancer kinds) report in these terms without importing the validator that calls them.
 */
export interface SpecIssue {
  readonly field: string;
  readonly value: unknown;
  readonly message: string;
}

export type WarningCategory = "ha" | "workload" | "lifecycle" | "cost" | "security";

/** A legal but fragile choice, tied to the spec field that makes it. */
export interface SpecWarning extends SpecIssue {
  readonly category: WarningCategory;
}
