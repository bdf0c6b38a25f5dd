/**
 * The one-off exceptions to the guard rails, for the day-2 commands (and a deliberate teardown).
 * Synth reads them from the environment; each names its stack, so a lift never leaks into
 * another stack synthesized in the same run:
 * - KUBEADM_HA_REPLACE_NODE=<stack>/<node>: prevent_destroy is lifted for that one instance (and
 *   an external etcd member is rendered to join the running cluster), for `terraform apply
 *   -replace`. `npm run rotate` sets it.
 * - KUBEADM_HA_SCALE=<stack>/<control-plane|etcd>=<count>: the role has <count> nodes in this
 *   synth (one step from the deployed count towards the spec's) and its membership guard is
 *   lifted. `npm run rotate` sets it; a new external member is rendered to join as existing.
 * - KUBEADM_HA_ALLOW_DESTROY=<stack>: every guard is lifted, for `cdktf destroy`.
 */
export interface GuardLift {
  readonly replaceNode?: string;
  readonly scale?: { readonly role: "control-plane" | "etcd"; readonly count: number };
  readonly allowDestroy?: boolean;
}

export const GUARD_LIFT_VARIABLES = ["KUBEADM_HA_REPLACE_NODE", "KUBEADM_HA_SCALE", "KUBEADM_HA_ALLOW_DESTROY"] as const;

export class GuardLiftError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GuardLiftError";
  }
}

/** Lifts by stack name; throws GuardLiftError naming the variable and the accepted form. */
export function guardLiftsFromEnv(env: NodeJS.ProcessEnv): Map<string, GuardLift> {
  const lifts = new Map<string, GuardLift>();
  const add = (stack: string, lift: GuardLift) => lifts.set(stack, { ...lifts.get(stack), ...lift });
  const replace = env.KUBEADM_HA_REPLACE_NODE;
  if (replace) {
    const match = /^([a-z][a-z0-9-]*)\/([a-z][a-z0-9-]*-\d+)$/.exec(replace);
    if (!match) throw new GuardLiftError(`KUBEADM_HA_REPLACE_NODE: ${JSON.stringify(replace)}: expected <stack>/<node>, one node, e.g. five-server/control-plane-2`);
    add(match[1], { replaceNode: match[2] });
  }
  const scale = env.KUBEADM_HA_SCALE;
  if (scale) {
    const match = /^([a-z][a-z0-9-]*)\/(control-plane|etcd)=(\d+)$/.exec(scale);
    if (!match) throw new GuardLiftError(`KUBEADM_HA_SCALE: ${JSON.stringify(scale)}: expected <stack>/<control-plane|etcd>=<count>, e.g. external-etcd/etcd=4`);
    add(match[1], { scale: { role: match[2] as "control-plane" | "etcd", count: Number(match[3]) } });
  }
  const destroy = env.KUBEADM_HA_ALLOW_DESTROY;
  if (destroy) {
    if (!/^[a-z][a-z0-9-]*$/.test(destroy)) throw new GuardLiftError(`KUBEADM_HA_ALLOW_DESTROY: ${JSON.stringify(destroy)}: expected one stack name`);
    add(destroy, { allowDestroy: true });
  }
  return lifts;
}

/** Environment for a synth that applies `lift` to `stack` (what the day-2 commands pass on). */
export function guardLiftEnv(stack: string, lift: GuardLift): Record<string, string> {
  const env: Record<string, string> = {};
  if (lift.replaceNode) env.KUBEADM_HA_REPLACE_NODE = `${stack}/${lift.replaceNode}`;
  if (lift.scale) env.KUBEADM_HA_SCALE = `${stack}/${lift.scale.role}=${lift.scale.count}`;
  if (lift.allowDestroy) env.KUBEADM_HA_ALLOW_DESTROY = stack;
  return env;
}
