/**
 * References in a synthesized stack that name nothing in that stack. ClusterStack skips cdktf's
 * preparing pass, which is what turns a reference to another stack's resource into a remote-state
 * lookup; without it such a reference would reach the JSON as a plain address of a resource that
 * is not there. Finding one at synth turns a fork's silent mistake into an error.
 */

interface StackBlocks {
  readonly resource?: Record<string, Record<string, unknown>>;
  readonly data?: Record<string, Record<string, unknown>>;
}

// `$${` is an escaped (literal) dollar-brace: the boot scripts' own bash expansions.
const INTERPOLATION = /(?<!\$)\$\{([^}]*)\}/g;
const ADDRESS = /(?<![\w.\-"])(data\.)?([a-z][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_-]*)/g;
const NOT_ADDRESSES = new Set(["var", "local", "module", "each", "count", "self", "path", "terraform"]);

/** Every address (`type.name` or `data.type.name`) an interpolation in json uses that json does not define. */
export function foreignReferences(json: StackBlocks): string[] {
  const foreign = new Set<string>();
  const visit = (value: unknown): void => {
    if (typeof value === "string") {
      if (!value.includes("${")) return;
      for (const [, expression] of value.matchAll(INTERPOLATION)) {
        for (const [address, data, type, name] of expression.matchAll(ADDRESS)) {
          if (!data && NOT_ADDRESSES.has(type)) continue;
          const defined = (data ? json.data : json.resource)?.[type]?.[name] !== undefined;
          if (!defined) foreign.add(address);
        }
      }
    } else if (Array.isArray(value)) {
      value.forEach(visit);
    } else if (value && typeof value === "object") {
      Object.values(value).forEach(visit);
    }
  };
  visit(json);
  return [...foreign].sort();
}
