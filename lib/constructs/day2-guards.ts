/**
 * Day-2 guard rails that are not attributes of another resource (lib/day2/change-classes.ts
 * explains the classes):
 * - `terraform_data.immutable_<field>` per immutable spec field: the value is its replacement
 *   trigger and prevent_destroy forbids the replacement, so changing e.g. network.vpcCidr fails
 *   the plan with an error naming terraform_data.immutable_network_vpcCidr.
 * - `terraform_data.immutable_controlPlaneEndpoint`: the API endpoint (a load-balancer kind change
 *   between a node kind and nlb moves it).
 * - `terraform_data.membership_controlPlane_count` (and `membership_etcd_members` with external
 *   etcd): the same for the number of etcd-holding nodes, which only `npm run rotate` changes, one
 *   member at a time (it lifts the guard for each step).
 * - `terraform_data.node_config_<node>` per node that is not replaced on change: records the
 *   configuration digest the node was created with (ignore_changes on the input; replaced with
 *   the instance). A `check` block per node compares it with the digest of this synth, so
 *   `terraform plan` and `cdktf diff` warn about every out-of-date node, and `npm run outdated`
 *   reads the recorded digests from the state.
 */
import { Construct } from "constructs";
import { DataResource, TerraformStack } from "cdktf";
import { TerraformData } from "./terraform-data";
import type { Instance } from "@cdktf/provider-aws/lib/instance";
import type { Topology } from "../topology";
import { fieldsOfClass, fieldValue, immutableGuardName } from "../day2/change-classes";
import { nodeConfigResourceName } from "../day2/node-digest";
import { ROLE_GUARDS } from "../day2/role-guards";
import type { GuardLift } from "../day2/guard-lift";

export interface Day2GuardsProps {
  readonly topology: Topology;
  /** Instance by node name. */
  readonly instances: Readonly<Record<string, Instance>>;
  /** Configuration digest by node name (lib/day2/node-digest.ts). */
  readonly digests: ReadonlyMap<string, string>;
  /** @default - no guard lifted */
  readonly lift?: GuardLift;
}

export const CONTROL_PLANE_ENDPOINT_GUARD = "immutable_controlPlaneEndpoint";

export const MEMBERSHIP_GUARDS = {
  "control-plane": "membership_controlPlane_count",
  etcd: "membership_etcd_members",
} as const;

export class Day2Guards extends Construct {
  /** By Terraform resource name. */
  public readonly guards: Readonly<Record<string, DataResource>>;
  public readonly nodeConfigs: Readonly<Record<string, DataResource>>;

  constructor(scope: Construct, id: string, props: Day2GuardsProps) {
    super(scope, id);
    const { topology, lift } = props;
    const allowDestroy = lift?.allowDestroy === true;
    const guards: Record<string, DataResource> = {};
    const guard = (name: string, value: unknown, lifted: boolean) => {
      const text = guardText(value);
      const resource = new TerraformData(this, name, {
        // Plain strings that do not look like JSON: cdktf's HCL output decodes JSON-looking text,
        // so `cdktf synth --hcl` would plan a different value.
        // (terraform_data takes any value; the provider binding types these as objects.)
        input: text as unknown as Record<string, unknown>,
        triggersReplace: text as unknown as Record<string, unknown>,
        lifecycle: { preventDestroy: !lifted },
      });
      // The address is the message: Terraform's refusal names terraform_data.<name>.
      resource.overrideLogicalId(name);
      guards[name] = resource;
    };
    for (const field of fieldsOfClass("immutable")) guard(immutableGuardName(field), fieldValue(topology.spec, field), allowDestroy);
    // Derived, not a field: kubeadm's controlPlaneEndpoint, named by every certificate and kubeconfig.
    guard(CONTROL_PLANE_ENDPOINT_GUARD, topology.controlPlaneEndpoint, allowDestroy);
    const scaled = (role: "control-plane" | "etcd") => allowDestroy || lift?.scale?.role === role;
    guard(MEMBERSHIP_GUARDS["control-plane"], topology.controlPlane.length, scaled("control-plane"));
    if (topology.etcd.topology === "external") guard(MEMBERSHIP_GUARDS.etcd, topology.etcdNodes.length, scaled("etcd"));
    this.guards = guards;

    const stack = TerraformStack.of(this);
    const nodeConfigs: Record<string, DataResource> = {};
    for (const node of topology.nodes) {
      if (ROLE_GUARDS[node.role].replaceOnUserDataChange) continue;
      const digest = props.digests.get(node.name);
      const instance = props.instances[node.name];
      if (!digest || !instance) throw new Error(`${this.node.path}: no digest or instance for node ${node.name}`);
      const name = nodeConfigResourceName(node.name);
      const record = new TerraformData(this, name, {
        input: { digest },
        // Recorded once per instance: a new instance (rotation) records the digest it was made with.
        triggersReplace: { instance: instance.id },
        lifecycle: { ignoreChanges: ["input"] },
      });
      record.overrideLogicalId(name);
      nodeConfigs[node.name] = record;
      stack.addOverride(`check.${name}`, {
        assert: [
          {
            condition: `\${terraform_data.${name}.output.digest == "${digest}"}`,
            error_message:
              `${node.name} runs an older configuration than this synth (a change that reaches it only by rotation): ` +
              `npm run rotate -- ${topology.stack} --node ${node.name}`,
          },
        ],
      });
    }
    this.nodeConfigs = nodeConfigs;
  }
}

/**
 * A guarded value as text: strings as they are, numbers as `count=N`, lists joined with commas,
 * objects as sorted key=value pairs. Never JSON, never a bare number: cdktf's HCL output decodes
 * JSON-looking strings and writes numeric strings as numbers.
 */
export function guardText(value: unknown): string {
  if (typeof value === "number") return `count=${value}`;
  if (Array.isArray(value)) return value.map(guardText).join(",");
  if (value !== null && typeof value === "object") {
    return Object.keys(value).sort().map((key) => `${key}=${guardText((value as Record<string, unknown>)[key])}`).join(";");
  }
  return String(value);
}
