/**
 * Day-2 plans without AWS: a synthetic prior state built from a base stack's plan, and the real
 * `terraform plan -refresh=false` of a head stack against it.
 *
 *   const result = await planAgainstBase("base/stacks/five-server", "head/stacks/five-server");
 *   result.summary          // { add, change, destroy, replace }, Terraform's counting (a replace is
 *                           // one add and one destroy) plus the number of replaced resources
 *   result.resourceChanges  // every change that is not a no-op: address, actions, action_reason,
 *                           // change.replace_paths, before/after, as in `terraform show -json`
 *   result.text             // Terraform's human-readable plan
 * Pass { harness } to reuse a started harness (lib/plan/terraform.ts) and its cached base states.
 *
 * How the state is made (buildSyntheticState): every managed resource of the base plan exists with
 * its planned values; each value the plan leaves unknown is filled from the provider schema's type
 * (`terraform providers schema -json`): ids and ARNs shaped like AWS's (vpc-..., i-...,
 * arn:aws:ec2:<region>:<account>:...), the stub's account, empty collections, false, 0. Values
 * another resource or an output refers to are then resolved from the configuration's expressions
 * (a subnet's vpc_id is the synthetic VPC's id), so the same stack plans against the state with no
 * change. Whatever Terraform still computes differently (say a policy document rendered from
 * synthetic ARNs) is taken from a self-plan and written back, until `plan -refresh=false` of the
 * base against its own state says "No changes" (at most a few rounds; otherwise it throws with the
 * differences). Outputs are in the state too, so output-only differences show as well.
 *
 * What it cannot show: anything a refresh would find (drift), and values AWS would pick differently
 * from the synthetic ones. Actions, reasons and replace_paths are the provider's own.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { STUB_ACCOUNT_ID } from "./aws-stub";
import { countChanges, PlanSummary } from "./summary";
import {
  ConfigModule,
  PlanJson,
  PlannedModule,
  ProviderSchemas,
  ResourceChange,
  SchemaBlock,
  StackPlan,
  startTerraform,
  TerraformHarness,
} from "./terraform";

export type { PlanSummary } from "./summary";

/** Terraform state format version 4, as Terraform 1.x writes it. */
export interface StateV4 {
  version: 4;
  terraform_version: string;
  serial: number;
  lineage: string;
  outputs: Record<string, { value: unknown; type: unknown; sensitive?: boolean }>;
  resources: StateResource[];
  check_results: null;
}

interface StateResource {
  module?: string;
  mode: "managed";
  type: string;
  name: string;
  provider: string;
  instances: { index_key?: string | number; schema_version: number; attributes: Record<string, unknown>; sensitive_attributes: unknown[] }[];
}

export interface DayTwoPlan {
  readonly summary: PlanSummary;
  /** Changes that are not no-ops (managed resources only; data reads are left out). */
  readonly resourceChanges: readonly ResourceChange[];
  /** Outputs whose value changes. */
  readonly outputChanges: Readonly<Record<string, { actions: readonly string[] }>>;
  /** Terraform's plan text (no colour). */
  readonly text: string;
  /** The full plan of the head against the base's state. */
  readonly plan: StackPlan;
  /** The synthetic state the head was planned against. */
  readonly baseState: StateV4;
}

export interface PlanAgainstBaseOptions {
  /** A started harness to use (and whose cache of base states to share); default: a new one, closed after. */
  readonly harness?: TerraformHarness;
}

/** Rounds of self-plan corrections before giving up. */
const MAX_ROUNDS = 4;

/** A proven synthetic state: the base's plan against it said "No changes". */
export interface SyntheticState {
  readonly state: StateV4;
  /** That last self-plan (-refresh=false), also the answer when head and base are the same stack. */
  readonly selfPlan: StackPlan;
  /** Self-plan corrections it took (0: the first guess held). */
  readonly corrections: number;
}

const baseStates = new WeakMap<TerraformHarness, Map<string, Promise<SyntheticState>>>();

/**
 * Plans the stack synthesized in headStackDir against a synthetic state of the one in
 * baseStackDir (both folders as cdktf writes them: cdk.tf.json or cdk.tf).
 */
export async function planAgainstBase(baseStackDir: string, headStackDir: string, options: PlanAgainstBaseOptions = {}): Promise<DayTwoPlan> {
  const tf = options.harness ?? (await startTerraform());
  try {
    const base = await syntheticStateOf(tf, baseStackDir);
    // The same configuration was just planned against this state: that plan is the answer.
    const plan = contentKey(headStackDir) === contentKey(baseStackDir)
      ? base.selfPlan
      : await tf.planStack(headStackDir, { state: base.state, refresh: false, validate: false, label: "head" });
    return { ...describePlan(plan), baseState: base.state };
  } finally {
    if (!options.harness) await tf.close();
  }
}

/** The synthetic state of a synthesized stack folder (cached per harness and folder content). */
export function syntheticStateOf(tf: TerraformHarness, stackDir: string): Promise<SyntheticState> {
  let cache = baseStates.get(tf);
  if (!cache) baseStates.set(tf, (cache = new Map()));
  const key = contentKey(stackDir);
  let state = cache.get(key);
  if (!state) {
    state = (async () => buildSyntheticState(tf, await tf.planStack(stackDir, { validate: false, label: "base" }), stackDir))();
    cache.set(key, state);
  }
  return state;
}

/** Summary and non-no-op changes of any plan. */
export function describePlan(plan: StackPlan): Omit<DayTwoPlan, "baseState"> {
  const resourceChanges = (plan.json.resource_changes ?? []).filter(
    (change) => change.mode === "managed" && !["no-op", "read"].includes(change.change.actions.join()),
  );
  const outputChanges = Object.fromEntries(
    Object.entries(plan.json.output_changes ?? {}).filter(([, c]) => c.actions.join() !== "no-op").map(([name, c]) => [name, { actions: c.actions }]),
  );
  return { summary: countChanges(resourceChanges), resourceChanges, outputChanges, text: plan.text, plan };
}

/**
 * Builds the state from a base plan (see the file comment) and proves it: planning stackDir (the
 * base's own folder) against it with -refresh=false must show no change at all.
 */
export async function buildSyntheticState(tf: TerraformHarness, basePlan: StackPlan, stackDir: string): Promise<SyntheticState> {
  const schemas = await tf.providerSchemas(basePlan.dir);
  const state = initialState(basePlan.json, schemas);
  for (let round = 1; ; round++) {
    const self = await tf.planStack(stackDir, { state, refresh: false, validate: false, label: `self-check-${round}` });
    const { resourceChanges, outputChanges } = describePlan(self);
    if (resourceChanges.length === 0 && Object.keys(outputChanges).length === 0) return { state, selfPlan: self, corrections: round - 1 };
    if (round > MAX_ROUNDS) {
      const details = resourceChanges.map((c) => `${c.address}: ${c.change.actions.join("+")} ${JSON.stringify(differingPaths(c.change.before, c.change.after))}`);
      throw new Error(`synthetic state of ${stackDir} still differs from its own plan after ${MAX_ROUNDS} corrections:\n  ${[...details, ...Object.keys(outputChanges).map((o) => `output ${o}`)].join("\n  ")}`);
    }
    correctFrom(state, self.json);
  }
}

function contentKey(stackDir: string): string {
  const hash = createHash("sha256");
  for (const file of fs.readdirSync(stackDir).filter((f) => /\.tf(\.json)?$/.test(f)).sort()) {
    hash.update(file).update("\0").update(fs.readFileSync(path.join(stackDir, file))).update("\0");
  }
  return hash.digest("hex");
}

// ---------------------------------------------------------------------------------------------
// The first guess: planned values, unknowns filled by type, references resolved.

interface Ctx {
  readonly region: string;
  readonly type: string;
  readonly address: string;
  readonly known: Record<string, unknown>;
}

function initialState(plan: PlanJson, schemas: ProviderSchemas): StateV4 {
  const region = String((plan.configuration.provider_config?.aws?.expressions?.region as { constant_value?: unknown } | undefined)?.constant_value ?? "us-east-1");
  const changes = new Map((plan.resource_changes ?? []).map((change) => [change.address, change]));
  const configs = configResources(plan.configuration.root_module, "");
  const resources: StateResource[] = [];
  /** Values by resource address (managed: the synthetic state; data: what the plan read). */
  const values = new Map<string, Record<string, unknown>>();
  for (const resource of plannedResources(plan.prior_state as { values?: { root_module?: PlannedModule } } | undefined)) {
    if (resource.mode === "data") values.set(resource.address, resource.values);
  }

  for (const planned of plannedResources({ values: plan.planned_values })) {
    if (planned.mode !== "managed") continue;
    const providerSchema = schemas.provider_schemas[planned.provider_name];
    const schema = providerSchema?.resource_schemas?.[planned.type];
    if (!schema) throw new Error(`${planned.address}: no schema for ${planned.type} from ${planned.provider_name}`);
    const change = changes.get(planned.address);
    const ctx: Ctx = { region, type: planned.type, address: planned.address, known: planned.values };
    const unknowns = change?.change.after_unknown as Record<string, unknown> | undefined;
    const attributes = fillBlock(planned.values, unknowns, schema.block, ctx, []) as Record<string, unknown>;
    // terraform_data's output is its input once applied.
    if (planned.type === "terraform_data" && unknowns?.output === true) attributes.output = wrapDynamic(unwrapDynamic(attributes.input));
    values.set(planned.address, attributes);
    const config = configs.get(configAddress(planned.address));
    const moduleAddress = /^(module\..+?)\.(?:data\.)?[\w-]+\.[\w-]+(?:\[[^\]]+\])?$/.exec(planned.address)?.[1];
    let entry = resources.find((r) => r.type === planned.type && r.name === planned.name && r.module === moduleAddress);
    if (!entry) {
      const alias = config?.provider_config_key?.includes(".") ? `.${config.provider_config_key.split(".").pop()}` : "";
      entry = { ...(moduleAddress ? { module: moduleAddress } : {}), mode: "managed", type: planned.type, name: planned.name, provider: `provider["${planned.provider_name}"]${alias}`, instances: [] };
      resources.push(entry);
    }
    entry.instances.push({
      ...(planned.index !== undefined ? { index_key: planned.index } : {}),
      schema_version: schema.version ?? planned.schema_version,
      attributes,
      sensitive_attributes: sensitivePaths(change?.change.after_sensitive, []),
    });
  }

  // References: unknown values whose expression only names other known values (repeated, so
  // chains resolve: VPC id -> subnet vpc_id -> ...).
  for (let pass = 0; pass < 10; pass++) {
    let changed = false;
    for (const planned of plannedResources({ values: plan.planned_values })) {
      if (planned.mode !== "managed") continue;
      const config = configs.get(configAddress(planned.address));
      const unknown = changes.get(planned.address)?.change.after_unknown;
      if (!config?.expressions || !unknown) continue;
      const target = values.get(planned.address)!;
      changed = resolveUnknowns(target, unknown, config.expressions, values) || changed;
    }
    if (!changed) break;
  }

  const outputs: StateV4["outputs"] = {};
  const configOutputs = plan.configuration.root_module.outputs ?? {};
  for (const [name, change] of Object.entries(plan.output_changes ?? {})) {
    if (change.actions.includes("delete")) continue;
    const expression = configOutputs[name]?.expression as Expression | undefined;
    let value = fillUnknownLoosely(change.after, change.after_unknown);
    const resolved = expression ? evaluate(expression, values) : undefined;
    if (resolved !== undefined) value = resolved;
    outputs[name] = { value, type: typeOf(value), ...(configOutputs[name]?.sensitive ? { sensitive: true } : {}) };
  }

  return {
    version: 4,
    terraform_version: plan.terraform_version,
    serial: 1,
    lineage: "00000000-0000-4000-8000-" + createHash("sha256").update(JSON.stringify(plan.configuration)).digest("hex").slice(0, 12),
    outputs,
    resources,
    check_results: null,
  };
}

function plannedResources(state: { values?: { root_module?: PlannedModule } } | undefined): PlannedModule["resources"] & object {
  const out: NonNullable<PlannedModule["resources"]>[number][] = [];
  const walk = (module: PlannedModule | undefined) => {
    if (!module) return;
    out.push(...(module.resources ?? []));
    for (const child of module.child_modules ?? []) walk(child);
  };
  walk(state?.values?.root_module);
  return out;
}

type ConfigResource = NonNullable<ConfigModule["resources"]>[number] & { provider_config_key?: string };

function configResources(module: ConfigModule, prefix: string): Map<string, ConfigResource> {
  const out = new Map<string, ConfigResource>();
  for (const resource of module.resources ?? []) out.set(`${prefix}${resource.address}`, resource as ConfigResource);
  for (const [name, call] of Object.entries(module.module_calls ?? {})) {
    for (const [address, resource] of configResources(call.module, `${prefix}module.${name}.`)) out.set(address, resource);
  }
  return out;
}

/** module.a["x"].aws_vpc.b[0] -> module.a.aws_vpc.b (configuration addresses carry no keys). */
function configAddress(address: string): string {
  return address.replace(/\[[^\]]*\]/g, "");
}

function fillBlock(value: unknown, unknown: unknown, block: SchemaBlock, ctx: Ctx, at: string[]): Record<string, unknown> {
  const known = (value ?? {}) as Record<string, unknown>;
  const unk = (unknown && typeof unknown === "object" ? unknown : {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [name, attribute] of Object.entries(block.attributes ?? {})) {
    const type = attribute.type ?? nestedTypeOf(attribute.nested_type);
    if (unk[name] === true) out[name] = guess(type, ctx, [...at, name]);
    else if (known[name] === undefined) out[name] = null;
    else out[name] = fillTyped(known[name], unk[name], type, ctx, [...at, name]);
    // The state keeps a dynamically-typed value with its type ({value, type}).
    if (type === "dynamic" && out[name] !== null && out[name] !== undefined) out[name] = wrapDynamic(out[name]);
  }
  for (const [name, nested] of Object.entries(block.block_types ?? {})) {
    const v = known[name];
    const u = unk[name];
    const empty = nested.nesting_mode === "map" ? {} : nested.nesting_mode === "single" || nested.nesting_mode === "group" ? null : [];
    if (u === true || v === undefined || v === null) {
      out[name] = empty;
    } else if (nested.nesting_mode === "list" || nested.nesting_mode === "set") {
      out[name] = (v as unknown[]).map((item, i) => fillBlock(item, (u as unknown[] | undefined)?.[i], nested.block, ctx, [...at, name]));
    } else if (nested.nesting_mode === "map") {
      out[name] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, item]) => [k, fillBlock(item, (u as Record<string, unknown> | undefined)?.[k], nested.block, ctx, [...at, name])]));
    } else {
      out[name] = fillBlock(v, u, nested.block, ctx, [...at, name]);
    }
  }
  return out;
}

/** A framework nested attribute's type in cty terms. */
function nestedTypeOf(nested: unknown): unknown {
  const n = nested as { attributes?: Record<string, { type?: unknown; nested_type?: unknown }>; nesting_mode?: string } | undefined;
  if (!n?.attributes) return "dynamic";
  const object = ["object", Object.fromEntries(Object.entries(n.attributes).map(([k, a]) => [k, a.type ?? nestedTypeOf(a.nested_type)]))];
  return n.nesting_mode === "list" ? ["list", object] : n.nesting_mode === "set" ? ["set", object] : n.nesting_mode === "map" ? ["map", object] : object;
}

function fillTyped(value: unknown, unknown: unknown, type: unknown, ctx: Ctx, at: string[]): unknown {
  if (unknown === true) return guess(type, ctx, at);
  if (value === null || value === undefined || !unknown || typeof unknown !== "object") return value ?? null;
  const [kind, element] = Array.isArray(type) ? type : [type];
  if (Array.isArray(value)) {
    return value.map((item, i) => fillTyped(item, (unknown as unknown[])[i], kind === "tuple" ? (element as unknown[])[i] : element, ctx, at));
  }
  if (typeof value === "object") {
    const record = value as Record<string, unknown>;
    const u = unknown as Record<string, unknown>;
    const keys = new Set([...Object.keys(record), ...(kind === "object" ? Object.keys(element as object) : [])]);
    return Object.fromEntries([...keys].map((k) => [k, fillTyped(record[k], u[k], kind === "object" ? (element as Record<string, unknown>)[k] : element, ctx, [...at, k])]));
  }
  return value;
}

/** Unknowns of an output (no schema): strings, as ids are. */
function fillUnknownLoosely(value: unknown, unknown: unknown): unknown {
  if (unknown === true) return "unknown";
  if (!unknown || typeof unknown !== "object") return value ?? null;
  if (Array.isArray(unknown)) return unknown.map((u, i) => fillUnknownLoosely((value as unknown[] | undefined)?.[i], u));
  const out: Record<string, unknown> = { ...((value as Record<string, unknown>) ?? {}) };
  for (const [k, u] of Object.entries(unknown as Record<string, unknown>)) out[k] = fillUnknownLoosely(out[k], u);
  return out;
}

/** A plausible value of a type for an unknown attribute. */
function guess(type: unknown, ctx: Ctx, at: string[]): unknown {
  const kind = Array.isArray(type) ? type[0] : type;
  switch (kind) {
    case "string":
      return guessString(ctx, at);
    case "number":
      return 0;
    case "bool":
      return false;
    case "list":
    case "set":
    case "tuple":
      return [];
    case "map":
      return {};
    case "object":
      return Object.fromEntries(Object.entries((type as [string, Record<string, unknown>])[1]).map(([k, t]) => [k, guess(t, ctx, [...at, k])]));
    default:
      return null;
  }
}

/** Resource id prefixes as AWS writes them. */
const ID_PREFIX: Record<string, string> = {
  aws_vpc: "vpc", aws_subnet: "subnet", aws_instance: "i", aws_security_group: "sg", aws_internet_gateway: "igw",
  aws_nat_gateway: "nat", aws_eip: "eipalloc", aws_route_table: "rtb", aws_route_table_association: "rtbassoc",
  aws_vpc_security_group_ingress_rule: "sgr", aws_vpc_security_group_egress_rule: "sgr", aws_security_group_rule: "sgrule",
  aws_network_interface: "eni", aws_launch_template: "lt", aws_vpc_endpoint: "vpce", aws_flow_log: "fl",
  aws_default_security_group: "sg", aws_network_acl: "acl", aws_ebs_volume: "vol", aws_placement_group: "pg",
};
/** ARN service and resource kind by type, where the type name does not say it. */
const ARN_PARTS: Record<string, [string, string]> = {
  aws_instance: ["ec2", "instance"], aws_vpc: ["ec2", "vpc"], aws_subnet: ["ec2", "subnet"], aws_security_group: ["ec2", "security-group"],
  aws_internet_gateway: ["ec2", "internet-gateway"], aws_nat_gateway: ["ec2", "natgateway"], aws_eip: ["ec2", "elastic-ip"],
  aws_route_table: ["ec2", "route-table"], aws_vpc_security_group_ingress_rule: ["ec2", "security-group-rule"],
  aws_vpc_security_group_egress_rule: ["ec2", "security-group-rule"], aws_launch_template: ["ec2", "launch-template"],
  aws_iam_role: ["iam", "role"], aws_iam_instance_profile: ["iam", "instance-profile"], aws_iam_policy: ["iam", "policy"],
  aws_kms_key: ["kms", "key"], aws_autoscaling_group: ["autoscaling", "autoScalingGroup"],
  aws_lb: ["elasticloadbalancing", "loadbalancer/net"], aws_lb_target_group: ["elasticloadbalancing", "targetgroup"],
  aws_s3_bucket: ["s3", ""], aws_flow_log: ["ec2", "vpc-flow-log"], aws_vpc_endpoint: ["ec2", "vpc-endpoint"],
};

function hexOf(...parts: string[]): string {
  return createHash("sha256").update(parts.join("\0")).digest("hex");
}

function guessId(ctx: Ctx): string {
  const known = ctx.known;
  const hex = hexOf(ctx.address);
  if (ctx.type === "aws_kms_key") return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  if (/^aws_iam_(role|instance_profile|user|group)$/.test(ctx.type) && typeof known.name === "string") return known.name;
  if (ctx.type === "aws_iam_role_policy" && typeof known.role === "string") return `${known.role}:${known.name ?? hex.slice(0, 8)}`;
  if (ctx.type === "aws_kms_alias" && typeof known.name === "string") return known.name;
  if (ctx.type === "aws_s3_bucket" && typeof known.bucket === "string") return known.bucket;
  if (ctx.type === "aws_route") return `r-rtb-${hex.slice(0, 17)}${hex.slice(17, 27)}`;
  const prefix = ID_PREFIX[ctx.type] ?? ctx.type.replace(/^aws_/, "").replace(/_/g, "-");
  return `${prefix}-${hex.slice(0, 17)}`;
}

function guessArn(ctx: Ctx): string {
  const [service, kind] = ARN_PARTS[ctx.type] ?? [ctx.type.replace(/^aws_/, "").split("_")[0], ctx.type.replace(/^aws_[a-z0-9]+_?/, "").replace(/_/g, "-") || "resource"];
  const id = guessId(ctx);
  if (service === "iam") return `arn:aws:iam::${STUB_ACCOUNT_ID}:${kind}${typeof ctx.known.path === "string" ? ctx.known.path : "/"}${id}`;
  if (service === "s3") return `arn:aws:s3:::${id}`;
  if (ctx.type === "aws_kms_alias") return `arn:aws:kms:${ctx.region}:${STUB_ACCOUNT_ID}:${id}`;
  return `arn:aws:${service}:${ctx.region}:${STUB_ACCOUNT_ID}:${kind}/${id}`;
}

function guessString(ctx: Ctx, at: string[]): string {
  const name = at[at.length - 1];
  const top = at.length === 1;
  if (top && name === "id") return guessId(ctx);
  if (top && name === "arn") return guessArn(ctx);
  if (/(^|_)(owner_id|account_id)$/.test(name)) return STUB_ACCOUNT_ID;
  if (name === "availability_zone") return `${ctx.region}a`;
  const hex = hexOf(ctx.address, at.join("."));
  if (name.endsWith("_arn")) return `arn:aws:${ARN_PARTS[ctx.type]?.[0] ?? "ec2"}:${ctx.region}:${STUB_ACCOUNT_ID}:${name.replace(/_arn$/, "").replace(/_/g, "-")}/${hex.slice(0, 17)}`;
  if (/(^|_)ip$/.test(name)) return `10.255.${parseInt(hex.slice(0, 2), 16)}.${parseInt(hex.slice(2, 4), 16)}`;
  if (name.endsWith("_id")) return `${name.replace(/_id$/, "").replace(/_/g, "-")}-${hex.slice(0, 17)}`;
  return `${name.replace(/_/g, "-")}-${hex.slice(0, 12)}`;
}

// ---------------------------------------------------------------------------------------------
// References: the configuration's expressions (JSON configurations keep each template as
// constant_value; HCL ones give only the references).

type Expression = { constant_value?: unknown; references?: string[] } | Expression[] | { [key: string]: Expression };

function isLeafExpression(e: unknown): e is { constant_value?: unknown; references?: string[] } {
  return !!e && typeof e === "object" && !Array.isArray(e) && ("constant_value" in e || "references" in e);
}

/** Sets every unknown of `target` that its expression resolves; true when anything changed. */
function resolveUnknowns(target: Record<string, unknown>, unknown: unknown, expressions: unknown, values: Map<string, Record<string, unknown>>): boolean {
  let changed = false;
  const u = unknown as Record<string, unknown>;
  const e = expressions as Record<string, unknown>;
  for (const [name, unk] of Object.entries(u ?? {})) {
    const expression = e?.[name];
    if (expression === undefined) continue;
    if (unk === true && isLeafExpression(expression)) {
      const resolved = evaluate(expression, values);
      if (resolved !== undefined && JSON.stringify(resolved) !== JSON.stringify(target[name])) {
        target[name] = resolved;
        changed = true;
      }
    } else if (Array.isArray(unk) && Array.isArray(expression) && Array.isArray(target[name])) {
      // A nested block: block i's expressions are expression[i].
      (target[name] as unknown[]).forEach((item, i) => {
        if (item && typeof item === "object" && expression[i]) changed = resolveUnknowns(item as Record<string, unknown>, unk[i], expression[i], values) || changed;
      });
    }
  }
  return changed;
}

/** The value an expression has given `values`; undefined when it names anything unresolved. */
function evaluate(expression: Expression, values: Map<string, Record<string, unknown>>): unknown {
  if (!isLeafExpression(expression)) return undefined;
  if ("constant_value" in expression) return evaluateTemplates(expression.constant_value, values);
  // HCL: only references ("aws_vpc.x.id" and "aws_vpc.x"). One attribute reference is taken
  // as the whole expression; a wrong guess (a template around it) is corrected by the self-plan.
  const references = expression.references ?? [];
  const innermost = references.filter((ref) => !references.some((other) => other !== ref && other.startsWith(`${ref}.`)));
  if (innermost.length !== 1) return undefined;
  return lookup(innermost[0], values);
}

function evaluateTemplates(value: unknown, values: Map<string, Record<string, unknown>>): unknown {
  if (typeof value === "string") return evaluateTemplate(value, values);
  if (Array.isArray(value)) {
    const items = value.map((item) => evaluateTemplates(item, values));
    return items.includes(undefined) ? undefined : items;
  }
  if (value && typeof value === "object") {
    const entries = Object.entries(value).map(([k, v]) => [k, evaluateTemplates(v, values)] as const);
    return entries.some(([, v]) => v === undefined) ? undefined : Object.fromEntries(entries);
  }
  return value;
}

const TRAVERSAL = /^(?:data\.)?[A-Za-z_][\w-]*\.[\w-]+(?:\.[\w-]+|\[\d+\]|\["[^"]*"\])*$/;

/** "${a.b.c}" -> its value; "x-${a.b.c}" -> the string; undefined for anything but plain references. */
function evaluateTemplate(text: string, values: Map<string, Record<string, unknown>>): unknown {
  const whole = /^\$\{([^{}]+)\}$/.exec(text);
  if (whole && !text.startsWith("$${")) return TRAVERSAL.test(whole[1].trim()) ? lookup(whole[1].trim(), values) : undefined;
  let out = "";
  for (let i = 0; i < text.length; ) {
    if (text.startsWith("$${", i) || text.startsWith("%%{", i)) {
      out += text[i] + "{";
      i += 3;
    } else if (text.startsWith("${", i)) {
      const end = text.indexOf("}", i);
      const ref = text.slice(i + 2, end).trim();
      if (end < 0 || !TRAVERSAL.test(ref)) return undefined;
      const resolved = lookup(ref, values);
      if (resolved === undefined || resolved === null || typeof resolved === "object") return undefined;
      out += String(resolved);
      i = end + 1;
    } else if (text.startsWith("%{", i)) {
      return undefined;
    } else {
      out += text[i++];
    }
  }
  return out;
}

/** aws_vpc.x.id / data.aws_ami.y.id / aws_subnet.z[0].id -> the value, or undefined. */
function lookup(ref: string, values: Map<string, Record<string, unknown>>): unknown {
  const steps = ref.match(/[^.[\]"]+|\[\d+\]|\["[^"]*"\]/g) ?? [];
  const addressLength = steps[0] === "data" ? 3 : 2;
  let address = steps.slice(0, addressLength).join(".");
  let rest = steps.slice(addressLength);
  if (rest[0]?.startsWith("[")) {
    address += rest[0];
    rest = rest.slice(1);
  }
  let current: unknown = values.get(address);
  if (current === undefined || rest.length === 0) return undefined;
  for (const step of rest) {
    const key = step.startsWith("[") ? JSON.parse(step.slice(1, -1)) : step;
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

// ---------------------------------------------------------------------------------------------
// Corrections from a self-plan, sensitivity paths, output types.

function correctFrom(state: StateV4, plan: PlanJson): void {
  const byAddress = new Map<string, StateResource["instances"][number]>();
  for (const resource of state.resources) {
    for (const instance of resource.instances) {
      const key = instance.index_key === undefined ? "" : `[${JSON.stringify(instance.index_key)}]`;
      byAddress.set(`${resource.module ? `${resource.module}.` : ""}${resource.type}.${resource.name}${key}`, instance);
    }
  }
  for (const change of plan.resource_changes ?? []) {
    if (change.mode !== "managed" || change.change.actions.join() === "no-op") continue;
    const instance = byAddress.get(change.address);
    if (!instance) continue;
    copyKnown(instance.attributes, change.change.after as Record<string, unknown>, change.change.after_unknown);
    instance.sensitive_attributes = sensitivePaths(change.change.after_sensitive, []);
  }
  for (const [name, change] of Object.entries(plan.output_changes ?? {})) {
    if (change.actions.join() === "no-op") continue;
    if (change.actions.includes("delete")) {
      delete state.outputs[name];
    } else if (!containsUnknown(change.after_unknown)) {
      state.outputs[name] = { ...state.outputs[name], value: change.after, type: typeOf(change.after) };
    }
  }
}

/** Dynamically-typed attribute values as the state stores them. */
const dynamicValues = new WeakSet<object>();

function wrapDynamic(value: unknown): object {
  const wrapped = { value, type: typeOf(value) };
  dynamicValues.add(wrapped);
  return wrapped;
}

function unwrapDynamic(value: unknown): unknown {
  return value && typeof value === "object" && dynamicValues.has(value) ? (value as { value: unknown }).value : value;
}

/** Copies every value of `after` that is known into `target`, leaving unknowns as they are. */
function copyKnown(target: Record<string, unknown>, after: Record<string, unknown> | null, unknown: unknown): void {
  if (!after) return;
  const u = (unknown && typeof unknown === "object" ? unknown : {}) as Record<string, unknown>;
  for (const [name, value] of Object.entries(after)) {
    if (u[name] === true) continue;
    if (target[name] && typeof target[name] === "object" && dynamicValues.has(target[name] as object)) {
      if (!containsUnknown(u[name])) target[name] = wrapDynamic(value);
    } else if (!containsUnknown(u[name])) {
      target[name] = value;
    } else if (Array.isArray(value) && Array.isArray(target[name]) && (target[name] as unknown[]).length === value.length) {
      value.forEach((item, i) => {
        const t = (target[name] as unknown[])[i];
        if (item && typeof item === "object" && t && typeof t === "object") copyKnown(t as Record<string, unknown>, item as Record<string, unknown>, (u[name] as unknown[])[i]);
      });
    } else if (value && typeof value === "object" && target[name] && typeof target[name] === "object") {
      copyKnown(target[name] as Record<string, unknown>, value as Record<string, unknown>, u[name]);
    }
  }
}

function containsUnknown(unknown: unknown): boolean {
  if (unknown === true) return true;
  if (!unknown || typeof unknown !== "object") return false;
  return Object.values(unknown).some(containsUnknown);
}

/** after_sensitive ({a: true, b: [{c: true}]}) -> state paths ([[get_attr a], [get_attr b, index 0, get_attr c]]). */
function sensitivePaths(sensitive: unknown, at: unknown[]): unknown[] {
  if (sensitive === true) return [at];
  if (!sensitive || typeof sensitive !== "object") return [];
  const out: unknown[] = [];
  if (Array.isArray(sensitive)) {
    sensitive.forEach((s, i) => out.push(...sensitivePaths(s, [...at, { type: "index", value: { value: i, type: "number" } }])));
  } else {
    // Object attributes and nested blocks (map keys would be index steps; no stack marks any).
    for (const [k, s] of Object.entries(sensitive)) out.push(...sensitivePaths(s, [...at, { type: "get_attr", value: k }]));
  }
  return out;
}

/** The cty type of a JSON value, as state outputs record it. */
function typeOf(value: unknown): unknown {
  if (value === null || value === undefined) return "dynamic";
  if (typeof value === "string") return "string";
  if (typeof value === "number") return "number";
  if (typeof value === "boolean") return "bool";
  if (Array.isArray(value)) return ["tuple", value.map(typeOf)];
  return ["object", Object.fromEntries(Object.entries(value).map(([k, v]) => [k, typeOf(v)]))];
}

/** Top-level attributes whose values differ (for error messages). */
function differingPaths(before: unknown, after: unknown): string[] {
  const b = (before ?? {}) as Record<string, unknown>;
  const a = (after ?? {}) as Record<string, unknown>;
  return [...new Set([...Object.keys(b), ...Object.keys(a)])].filter((k) => JSON.stringify(b[k]) !== JSON.stringify(a[k]));
}

