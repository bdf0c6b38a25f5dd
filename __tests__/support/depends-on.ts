/** Ordering in a synthesized stack: what a resource waits for, directly or through other resources' depends_on. */

interface StackJson {
  readonly resource?: Record<string, Record<string, { depends_on?: string[] }>>;
}

/** Every address `resource` depends on, following depends_on through the resources it names. */
export function dependsOnTransitively(doc: StackJson, resource: { depends_on?: string[] }): Set<string> {
  const seen = new Set<string>();
  const pending = [...(resource.depends_on ?? [])];
  while (pending.length > 0) {
    const address = pending.pop()!;
    if (seen.has(address)) continue;
    seen.add(address);
    const [type, name] = address.split(".");
    pending.push(...(doc.resource?.[type]?.[name]?.depends_on ?? []));
  }
  return seen;
}
