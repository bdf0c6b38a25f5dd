/**
 * terraform_data (Terraform's built-in resource) as the blueprint uses it: for the day-2 guards and
 * node records, and the boot prerequisites barrier.
 */
import { Construct, IValidation } from "constructs";
import { DataConfig, DataResource } from "cdktf";
import { ValidateTerraformVersion } from "cdktf/lib/validations/validate-terraform-version";

/**
 * terraform_data without cdktf's synth-time Terraform version check: DataResource runs
 * `terraform version` for every resource (a process per node record, the largest per-node cost of
 * a big cluster's synth), which also made synth need a Terraform binary. The stack's
 * required_version (>= 1.10) has Terraform refuse an older version at plan time instead.
 */
export class TerraformData extends DataResource {
  constructor(scope: Construct, id: string, config: DataConfig) {
    super(scope, id, config);
    // constructs keeps a node's validations in a private list, with no way to remove one.
    const validations = (this.node as unknown as { _validations: IValidation[] })._validations;
    const kept = validations.filter((validation) => !(validation instanceof ValidateTerraformVersion));
    if (kept.length === validations.length) throw new Error(`${this.node.path}: cdktf's Terraform version check not found (cdktf changed?)`);
    validations.splice(0, validations.length, ...kept);
  }
}
