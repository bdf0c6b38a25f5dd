/**
 * The review bundle's policies.json: every KMS key policy (by alias) and every node role's inline
 * policy (by role and policy name) of a synthesized stack, as IAM policy JSON, so a reviewer reads
 * who may decrypt what without the Terraform JSON's data-source form. Pure: synthesized stack JSON
 * in, text out. The partition, its DNS suffix and the account are only known to Terraform at plan
 * time; they appear as <partition>, <dns-suffix> and <account>.
 */

type Json = Record<string, any>;

export const POLICIES_FILE = "policies.json";

interface IamStatement {
  Sid?: string;
  Effect: string;
  Principal?: Record<string, string[]>;
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, string[]>>;
}

const PLACEHOLDERS: [RegExp, string][] = [
  [/\$\{data\.aws_partition\.[^.}]+\.partition\}/g, "<partition>"],
  [/\$\{data\.aws_partition\.[^.}]+\.dns_suffix\}/g, "<dns-suffix>"],
  [/\$\{data\.aws_caller_identity\.[^.}]+\.account_id\}/g, "<account>"],
];

/** "${data.aws_iam_policy_document.id.json}" -> "id" (and the same for any "${type.id.attr}"). */
function referencedId(ref: unknown, type: string): string | undefined {
  const match = new RegExp(`^\\$\\{${type.replace(/\./g, "\\.")}\\.([^.}]+)\\.[a-z_]+\\}$`).exec(String(ref));
  return match?.[1];
}

function placeholders(text: string): string {
  return PLACEHOLDERS.reduce((result, [pattern, name]) => result.replace(pattern, name), text);
}

function iamStatement(statement: Json): IamStatement {
  const result: IamStatement = { Effect: statement.effect ?? "Allow", Action: statement.actions ?? [], Resource: statement.resources ?? [] };
  if (statement.sid) result.Sid = statement.sid;
  if (statement.principals) {
    result.Principal = Object.fromEntries(statement.principals.map((p: Json) => [p.type, p.identifiers]));
  }
  if (statement.condition) {
    const condition: Record<string, Record<string, string[]>> = {};
    for (const c of statement.condition as Json[]) condition[c.test] = { ...condition[c.test], [c.variable]: c.values };
    result.Condition = condition;
  }
  // Key order as in IAM's own documents.
  const { Sid, Effect, Principal, Action, Resource, Condition } = result;
  return JSON.parse(JSON.stringify({ Sid, Effect, Principal, Action, Resource, Condition }));
}

/** policies.json for one synthesized stack (the parsed cdk.tf.json). */
export function renderPolicyReview(stack: Json): string {
  const documents: Json = stack.data?.aws_iam_policy_document ?? {};
  const documentOf = (ref: unknown, where: string) => {
    const id = referencedId(ref, "data.aws_iam_policy_document");
    if (!id || !documents[id]) throw new Error(`${where}: the policy is not a policy document of the stack: ${String(ref)}`);
    return { Version: "2012-10-17", Statement: (documents[id].statement as Json[]).map(iamStatement) };
  };

  const keys: Json = stack.resource?.aws_kms_key ?? {};
  const kmsKeys: Record<string, unknown> = {};
  for (const [, alias] of Object.entries<Json>(stack.resource?.aws_kms_alias ?? {})) {
    const keyId = referencedId(alias.target_key_id, "aws_kms_key");
    if (!keyId || !keys[keyId]) throw new Error(`${alias.name}: the alias does not target a key of the stack`);
    kmsKeys[alias.name] = documentOf(keys[keyId].policy, alias.name);
  }

  const roles: Json = stack.resource?.aws_iam_role ?? {};
  const rolePolicies: Record<string, unknown> = {};
  for (const [, policy] of Object.entries<Json>(stack.resource?.aws_iam_role_policy ?? {})) {
    const roleId = referencedId(policy.role, "aws_iam_role");
    const role = roleId ? roles[roleId] : undefined;
    if (!role) throw new Error(`${policy.name}: the policy is not attached to a role of the stack`);
    const name = `${role.path ?? "/"}${role.name}/${policy.name}`;
    rolePolicies[name] = documentOf(policy.policy, name);
  }
  const sorted = (record: Record<string, unknown>) => Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
  const text = JSON.stringify({ kmsKeyPolicies: sorted(kmsKeys), roleInlinePolicies: sorted(rolePolicies) }, null, 2);
  return `${placeholders(text)}\n`;
}
