/** A file the blueprint puts on a node, exactly as written on disk. */
export interface NodeFile {
  /** Absolute path on the node. Its base name is unique per node (the review bundle uses it). */
  readonly path: string;
  readonly content: string;
  /** Octal permissions, e.g. "0644". */
  readonly permissions: string;
}
