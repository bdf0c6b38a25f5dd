/** Raft arithmetic for etcd: a write needs a majority of members. */

export function etcdQuorum(members: number): number {
  return Math.floor(members / 2) + 1;
}

export function etcdFaultTolerance(members: number): number {
  return members - etcdQuorum(members);
}
