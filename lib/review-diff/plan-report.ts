/**
 * The Plan section's data: Terraform's outcome for one stack and its resource changes joined to the
 * nodes (built by plan.ts, carried by compare.ts's StackDiff, printed by markdown.ts).
 */
import type { StackPlanOutcome } from "../plan/stack-plans";
import type { PlannedAction } from "../plan/summary";

export interface PlanRow {
  readonly address: string;
  /** The node an instance (or its terraform_data record) belongs to. */
  readonly node?: string;
  readonly role?: string;
  readonly action: PlannedAction;
  /** replace_paths and Terraform's action_reason, for a replacement. */
  readonly why: string;
}

export interface PlanReport {
  readonly outcome: StackPlanOutcome;
  /** Which Terraform and provider planned it. */
  readonly tool?: string;
  /** The outcome's resource changes, replacements first, then destroys, updates, creates. */
  readonly rows: readonly PlanRow[];
}
