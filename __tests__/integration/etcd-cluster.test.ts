/**
 * External etcd, for real: the members rendered from clusters/external-etcd.yaml run as `etcd
 * --config-file` processes on loopback with TLS certificates from templates/etcd-pki.sh. The test
 * kills the leader while a client writes, measures how long writes are unavailable, proves that no
 * acknowledged write was lost, shows that losing a second member stops writes with a clear error and
 * that a restart recovers, and shows that two members (the five-server topology's etcd count) lose
 * write availability when either one dies: the fact behind synth's even-member warning.
 *
 * Only addresses and paths differ from the AWS nodes (see support/etcd-local-cluster.ts). All
 * traffic goes to 127.0.0.0/8; every scenario is bounded; every etcd is killed by PID afterwards.
 */
import { spawnSync } from "child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { createServer } from "net";
import { tmpdir } from "os";
import { join, resolve } from "path";
import { performance } from "perf_hooks";
import { parse, stringify } from "yaml";
import { ETCD_ELECTION_TIMEOUT_MS, ETCD_HEARTBEAT_INTERVAL_MS } from "../../lib/render/etcd";
import { buildTopology, ETCD_CLIENT_PORT, ETCD_PEER_PORT, Topology } from "../../lib/topology";
import { validateSpec } from "../../lib/validate";
import { EtcdHttpClient } from "../support/etcd-http-client";
import {
  clientTlsFiles,
  commandAvailable,
  EtcdProcesses,
  LocalEtcdMember,
  LoopbackPlan,
  logTail,
  prepareLocalMembers,
} from "../support/etcd-local-cluster";
import { AcknowledgedWrite, sleep, WriteLoop } from "../support/etcd-write-loop";

const REPO_ROOT = resolve(__dirname, "..", "..");
const RESULTS_FILE = join(REPO_ROOT, "bench", "results", "etcd-failover.json");
const SCENARIO_TIMEOUT_MS = 30_000;
/** Per write: short, so a write stuck on a dead leader is abandoned and retried elsewhere quickly. */
const WRITE_TIMEOUT_MS = 500;
const READ_TIMEOUT_MS = 3000;

// etcdctl 3.4 has no --version flag; `etcdctl version` works on 3.4 to 3.6.
const etcdInstalled = commandAvailable("etcd") && commandAvailable("etcdctl", ["version"]);
const runHere = etcdInstalled || process.env.CI === "true";
if (!runHere) {
  console.warn(
    "SKIPPED __tests__/integration/etcd-cluster.test.ts: the etcd and etcdctl binaries are not installed " +
      "(Debian/Ubuntu: apt-get install etcd-server etcd-client). With CI=true this is a failure instead.",
  );
}
const describeWithEtcd = runHere ? describe : describe.skip;

function topologyFrom(file: string, stack: string, yamlText: string): Topology {
  const { spec, warnings } = validateSpec(file, stack, yamlText);
  return buildTopology(spec, warnings);
}

/** etcd-N -> 127.0.0.<memberBase+N>, its node-local listener -> 127.0.0.<nodeLocalBase+N>. */
function loopbackPlan(topology: Topology, memberBase: number, nodeLocalBase: number): LoopbackPlan {
  return {
    memberIps: new Map(topology.etcdNodes.map((node) => [node.name, `127.0.0.${memberBase + node.ordinal}`])),
    nodeLocalIps: new Map(topology.etcdNodes.map((node) => [node.name, `127.0.0.${nodeLocalBase + node.ordinal}`])),
  };
}

/** Fails fast, with the culprit named, when a leftover process holds one of the test's ports. */
async function assertPortsFree(plan: LoopbackPlan): Promise<void> {
  const addresses = [
    ...[...plan.memberIps.values()].flatMap((ip) => [`${ip}:${ETCD_CLIENT_PORT}`, `${ip}:${ETCD_PEER_PORT}`]),
    ...[...plan.nodeLocalIps.values()].map((ip) => `${ip}:${ETCD_CLIENT_PORT}`),
  ];
  for (const address of addresses) {
    const [host, port] = address.split(":");
    await new Promise<void>((resolveFree, reject) => {
      const server = createServer();
      server.once("error", (error) => reject(new Error(`${address} is in use (a leftover etcd?): ${error.message}`)));
      server.listen(Number(port), host, () => server.close(() => resolveFree()));
    });
  }
}

const seconds = (ms: number): number => Math.round(ms) / 1000;

interface LeaderView {
  readonly leader: LocalEtcdMember;
  readonly term: number;
}

/** Polls every running member until all agree on one running leader; bounded by timeoutMs. */
async function waitForLeader(
  client: EtcdHttpClient,
  members: readonly LocalEtcdMember[],
  processes: EtcdProcesses,
  timeoutMs: number,
): Promise<LeaderView> {
  const deadline = performance.now() + timeoutMs;
  let last = "no answer yet";
  while (performance.now() < deadline) {
    const running = members.filter((member) => processes.isRunning(member.name));
    const statuses = await Promise.all(
      running.map((member) => client.status(member.clientUrl, 500).then((status) => ({ member, status }), (error: Error) => ({ member, error }))),
    );
    const answered = statuses.flatMap((entry) => ("status" in entry ? [entry] : []));
    const leaders = new Set(answered.map((entry) => entry.status.leader));
    const leaderEntry = answered.find((entry) => entry.status.memberId === entry.status.leader);
    if (answered.length === running.length && leaders.size === 1 && leaderEntry) {
      return { leader: leaderEntry.member, term: leaderEntry.status.raftTerm };
    }
    last = statuses.map((entry) => `${entry.member.name}: ${"status" in entry ? `leader ${entry.status.leader}` : entry.error.message}`).join("; ");
    await sleep(50);
  }
  throw new Error(`no agreed leader within ${timeoutMs} ms (${last})\n${members.map((m) => `--- ${m.name}\n${logTail(m, 5)}`).join("\n")}`);
}

/** Every acknowledged key missing from a linearizable read through `endpoint`. */
async function missingAcknowledged(client: EtcdHttpClient, endpoint: string, prefix: string, acknowledged: readonly AcknowledgedWrite[]): Promise<string[]> {
  const stored = new Set(await client.keysWithPrefix(endpoint, prefix, READ_TIMEOUT_MS));
  return acknowledged.map((write) => write.key).filter((key) => !stored.has(key));
}

/** The first line etcdctl prints as "Error: ..." (its verdict for the operator). */
function etcdctlError(stderr: string): string {
  return stderr.split("\n").find((line) => line.startsWith("Error:"))?.trim() ?? stderr.trim().split("\n").at(-1) ?? "";
}

interface FailoverResults {
  readonly killedLeader: string;
  readonly newLeader: string;
  readonly writeUnavailableSeconds: number;
  readonly longestGapBetweenAcknowledgedWritesSeconds: number;
  readonly acknowledgedWrites: number;
  readonly lostAcknowledgedWrites: number;
  /** Writes the client gave up on (timeout) that etcd committed anyway: why clients must retry idempotently. */
  readonly abandonedWritesFoundCommitted: number;
}

interface QuorumLossResults {
  readonly membersRunning: string;
  readonly writesAcknowledgedWhileQuorumLost: number;
  readonly clearErrorAfterSeconds: number;
  readonly writeError: string;
  readonly etcdctlPutError: string;
  readonly etcdctlStatusErrors: readonly string[];
  readonly writesAcknowledgedAgainSecondsAfterRestart: number;
  readonly lostAcknowledgedWrites: number;
}

interface TwoMemberResults {
  readonly synthWarning: string;
  readonly killedMember: string;
  readonly killedMemberWasLeader: boolean;
  readonly writesAcknowledgedWithOneOfTwo: number;
  readonly clearErrorAfterSeconds: number;
  readonly writeError: string;
  readonly writesAcknowledgedAgainSecondsAfterRestart: number;
  readonly lostAcknowledgedWrites: number;
}

describeWithEtcd("external etcd: the rendered members on loopback (real etcd, TLS)", () => {
  const processes = new EtcdProcesses();
  // Its own set: the two-member cluster reuses the member names etcd-1 and etcd-2.
  const twoMemberProcesses = new EtcdProcesses();
  // Under this jest run's own temp folder, so its teardown also stops any member a crashed worker left.
  const workDir = mkdtempSync(join(tmpdir(), "kubeadm-ha-etcd-cluster-"));
  const externalEtcdYaml = readFileSync(join(REPO_ROOT, "clusters", "external-etcd.yaml"), "utf8");
  const threeTopology = topologyFrom("clusters/external-etcd.yaml", "external-etcd", externalEtcdYaml);
  const threePlan = loopbackPlan(threeTopology, 30, 40);
  let members: LocalEtcdMember[] = [];
  let client: EtcdHttpClient | undefined;
  const acknowledgedByPrefix = new Map<string, AcknowledgedWrite[]>();
  const results: { failover?: FailoverResults; quorumLoss?: QuorumLossResults; allMembersBack?: Record<string, number>; twoMembers?: TwoMemberResults } = {};
  const loops: WriteLoop[] = [];

  const startLoop = (prefix: string): WriteLoop => {
    if (!client) throw new Error("client not ready");
    // requireLeader: a member that knows it has no leader says so at once, so the loop moves on.
    const loop = new WriteLoop(client, members.map((member) => member.clientUrl), prefix, WRITE_TIMEOUT_MS, { requireLeader: true });
    loops.push(loop);
    loop.start();
    return loop;
  };

  beforeAll(async () => {
    await assertPortsFree(threePlan);
    members = prepareLocalMembers(threeTopology, threePlan, join(workDir, "three"));
    const tls = clientTlsFiles(join(workDir, "three"));
    client = new EtcdHttpClient({ ca: readFileSync(tls.cacert), cert: readFileSync(tls.cert), key: readFileSync(tls.key) });
  }, SCENARIO_TIMEOUT_MS);

  afterAll(async () => {
    await Promise.all(loops.map((loop) => loop.stop()));
    await processes.killAll();
    await twoMemberProcesses.killAll();
    client?.close();
    rmSync(workDir, { recursive: true, force: true });
  }, SCENARIO_TIMEOUT_MS);

  const tls = () => clientTlsFiles(join(workDir, "three"));
  const endpointsOf = (list: readonly LocalEtcdMember[]) => `--endpoints=${list.map((member) => member.clientUrl).join(",")}`;

  test("three members start from the rendered config and report a healthy TLS cluster", async () => {
    for (const member of members) processes.start(member);
    await waitForLeader(client!, members, processes, 15_000);
    const health = await processes.etcdctl([endpointsOf(members), "--command-timeout=5s", "endpoint", "health"], tls(), 10_000);
    expect(health.stderr.trim().split("\n").filter((line) => line.includes("is healthy"))).toHaveLength(3);
    expect(health.code).toBe(0);

    const list = await processes.etcdctl([endpointsOf(members), "member", "list", "--write-out=json"], tls(), 10_000);
    expect(list.code).toBe(0);
    const listed = (JSON.parse(list.stdout) as { members: Array<{ name: string; peerURLs: string[]; clientURLs: string[] }> }).members
      .map((member) => ({ name: member.name, peerURLs: member.peerURLs, clientURLs: member.clientURLs }))
      .sort((a, b) => a.name.localeCompare(b.name));
    expect(listed).toEqual(
      members.map((member) => ({ name: member.name, peerURLs: [`https://${member.loopbackIp}:${ETCD_PEER_PORT}`], clientURLs: [member.clientUrl] })),
    );

    // TLS is enforced: a client without a certificate is turned away.
    const anonymous = spawnSync("etcdctl", [`--endpoints=${members[0].clientUrl}`, `--cacert=${tls().cacert}`, "--command-timeout=2s", "put", "/anonymous", "x"], {
      env: { ...process.env, ETCDCTL_API: "3" },
      encoding: "utf8",
      timeout: 10_000,
    });
    expect(anonymous.status).not.toBe(0);
  }, SCENARIO_TIMEOUT_MS);

  test("leader killed mid-write: writes resume on a new leader and no acknowledged write is lost", async () => {
    const prefix = "/kubeadm-ha-test/failover/";
    const loop = startLoop(prefix);
    await loop.waitForAcknowledgedAfter(performance.now(), 5000);
    while (loop.acknowledged.length < 50) await sleep(20);

    const { leader: oldLeader } = await waitForLeader(client!, members, processes, 5000);
    const killedAt = performance.now();
    await processes.kill(oldLeader.name);
    const firstAfter = await loop.waitForAcknowledgedAfter(killedAt, 15_000);
    await sleep(1000);
    await loop.stop();

    const survivors = members.filter((member) => processes.isRunning(member.name));
    const { leader: newLeader } = await waitForLeader(client!, survivors, processes, 5000);
    expect(newLeader.name).not.toBe(oldLeader.name);

    const missing = await missingAcknowledged(client!, survivors[0].clientUrl, prefix, loop.acknowledged);
    const stored = new Set(await client!.keysWithPrefix(survivors[0].clientUrl, prefix, READ_TIMEOUT_MS));
    acknowledgedByPrefix.set(prefix, [...loop.acknowledged]);
    const ackTimes = loop.acknowledged.map((write) => write.acknowledgedAtMs);
    const longestGap = Math.max(...ackTimes.slice(1).map((time, index) => time - ackTimes[index]));
    results.failover = {
      killedLeader: oldLeader.name,
      newLeader: newLeader.name,
      writeUnavailableSeconds: seconds(firstAfter.acknowledgedAtMs - killedAt),
      longestGapBetweenAcknowledgedWritesSeconds: seconds(longestGap),
      acknowledgedWrites: loop.acknowledged.length,
      lostAcknowledgedWrites: missing.length,
      abandonedWritesFoundCommitted: loop.failed.filter((write) => stored.has(write.key)).length,
    };
    expect(missing).toEqual([]);
    // Raft bound: followers notice within 1-2 election timeouts, then one vote round trip.
    expect(firstAfter.acknowledgedAtMs - killedAt).toBeLessThan(10 * ETCD_ELECTION_TIMEOUT_MS);
  }, SCENARIO_TIMEOUT_MS);

  test("second member killed: quorum lost, writes fail with a clear error, and a restart recovers", async () => {
    expect(results.failover).toBeDefined();
    const prefix = "/kubeadm-ha-test/quorum/";
    const loop = startLoop(prefix);
    await loop.waitForAcknowledgedAfter(performance.now(), 5000);

    const { leader } = await waitForLeader(client!, members, processes, 5000);
    const killedAt = performance.now();
    await processes.kill(leader.name);
    const [survivor] = members.filter((member) => processes.isRunning(member.name));

    // The survivor keeps answering, but only with errors: first timeouts while it still believes in
    // the dead leader, then "no leader" once its election timeout has passed.
    const deadline = killedAt + 10_000;
    while (!loop.failed.some((write) => write.startedAtMs >= killedAt && write.error.includes("no leader")) && performance.now() < deadline) {
      await sleep(50);
    }
    const clearError = loop.failed.find((write) => write.startedAtMs >= killedAt && write.error.includes("no leader"));
    expect(clearError).toBeDefined();
    await sleep(1000);
    const acknowledgedWhileLost = loop.acknowledged.filter((write) => write.startedAtMs >= killedAt).length;

    const put = await processes.etcdctl([endpointsOf([survivor]), "--command-timeout=2s", "put", `${prefix}etcdctl`, "x"], tls(), 10_000);
    const status = await processes.etcdctl([endpointsOf([survivor]), "endpoint", "status", "--write-out=json"], tls(), 10_000);
    expect(put.code).not.toBe(0);
    const statusErrors = (JSON.parse(status.stdout) as Array<{ Status: { errors?: string[] } }>)[0].Status.errors ?? [];
    expect(statusErrors).toContain("etcdserver: no leader");

    // Recover: restart the member killed last; two of three is a quorum again.
    const restartedAt = performance.now();
    processes.start(leader);
    const firstAfterRestart = await loop.waitForAcknowledgedAfter(restartedAt, 15_000);
    await sleep(500);
    await loop.stop();
    const missing = await missingAcknowledged(client!, survivor.clientUrl, prefix, loop.acknowledged);
    acknowledgedByPrefix.set(prefix, [...loop.acknowledged]);

    results.quorumLoss = {
      membersRunning: `1 of 3 (${survivor.name})`,
      writesAcknowledgedWhileQuorumLost: acknowledgedWhileLost,
      clearErrorAfterSeconds: seconds(clearError!.failedAtMs - killedAt),
      writeError: clearError!.error.replace(/^etcd: /, ""),
      etcdctlPutError: etcdctlError(put.stderr),
      etcdctlStatusErrors: statusErrors,
      writesAcknowledgedAgainSecondsAfterRestart: seconds(firstAfterRestart.acknowledgedAtMs - restartedAt),
      lostAcknowledgedWrites: missing.length,
    };
    expect(acknowledgedWhileLost).toBe(0);
    expect(missing).toEqual([]);
  }, SCENARIO_TIMEOUT_MS);

  test("all three members back: every acknowledged write is on every member", async () => {
    expect(results.quorumLoss).toBeDefined();
    for (const member of members) if (!processes.isRunning(member.name)) processes.start(member);
    await waitForLeader(client!, members, processes, 15_000);
    const health = await processes.etcdctl([endpointsOf(members), "--command-timeout=5s", "endpoint", "health"], tls(), 10_000);
    expect(health.code).toBe(0);

    const acknowledged = [...acknowledgedByPrefix.entries()];
    let verified = 0;
    for (const member of members) {
      for (const [prefix, writes] of acknowledged) {
        // Linearizable, so a member that was down answers only once it has caught up.
        expect(await missingAcknowledged(client!, member.clientUrl, prefix, writes)).toEqual([]);
        verified += writes.length;
      }
    }
    results.allMembersBack = { acknowledgedWritesCheckedPerMember: verified / members.length, lostAcknowledgedWrites: 0 };
  }, SCENARIO_TIMEOUT_MS);

  test("two members (the five-server topology's count) lose write availability when either one dies", async () => {
    // clusters/five-server.yaml with its two etcd members moved to dedicated nodes, so the same
    // renderer and the same raft arithmetic (quorum 2 of 2) are exercised.
    const fiveServer = parse(readFileSync(join(REPO_ROOT, "clusters", "five-server.yaml"), "utf8")) as Record<string, unknown>;
    const twoMemberYaml = stringify({ ...fiveServer, etcd: { topology: "external", members: 2 } });
    const twoTopology = topologyFrom("five-server-etcd2.yaml", "five-server-etcd2", twoMemberYaml);
    const synthWarning = twoTopology.warnings.find((warning) => warning.startsWith("etcd: 2 members"));
    expect(synthWarning).toMatch(/tolerate zero failures/);
    expect(twoTopology.etcd.quorum).toBe(2);

    // The three-member scenarios are done; stopping them keeps the host's CPUs for this cluster.
    await processes.killAll();
    const twoPlan = loopbackPlan(twoTopology, 50, 60);
    await assertPortsFree(twoPlan);
    const twoDir = join(workDir, "two");
    const twoMembers = prepareLocalMembers(twoTopology, twoPlan, twoDir);
    const twoTls = clientTlsFiles(twoDir);
    const twoClient = new EtcdHttpClient({ ca: readFileSync(twoTls.cacert), cert: readFileSync(twoTls.cert), key: readFileSync(twoTls.key) });
    const prefix = "/kubeadm-ha-test/two-members/";
    const loop = new WriteLoop(twoClient, twoMembers.map((member) => member.clientUrl), prefix, WRITE_TIMEOUT_MS, { requireLeader: true });
    loops.push(loop);
    try {
      for (const member of twoMembers) twoMemberProcesses.start(member);
      const { leader } = await waitForLeader(twoClient, twoMembers, twoMemberProcesses, 15_000);
      loop.start();
      await loop.waitForAcknowledgedAfter(performance.now(), 5000);

      // Kill the follower: even the member that is not leading takes write availability with it.
      const victim = twoMembers.find((member) => member.name !== leader.name)!;
      const killedAt = performance.now();
      await twoMemberProcesses.kill(victim.name);
      const deadline = killedAt + 10_000;
      while (!loop.failed.some((write) => write.startedAtMs >= killedAt && write.error.includes("no leader")) && performance.now() < deadline) {
        await sleep(50);
      }
      await sleep(1000);
      const acknowledgedWithOne = loop.acknowledged.filter((write) => write.startedAtMs >= killedAt).length;
      const clearError = loop.failed.find((write) => write.startedAtMs >= killedAt && write.error.includes("no leader"));

      const restartedAt = performance.now();
      twoMemberProcesses.start(victim);
      const firstAfterRestart = await loop.waitForAcknowledgedAfter(restartedAt, 15_000);
      await loop.stop();
      const missing = await missingAcknowledged(twoClient, leader.clientUrl, prefix, loop.acknowledged);

      results.twoMembers = {
        synthWarning: synthWarning!,
        killedMember: victim.name,
        killedMemberWasLeader: false,
        writesAcknowledgedWithOneOfTwo: acknowledgedWithOne,
        clearErrorAfterSeconds: clearError ? seconds(clearError.failedAtMs - killedAt) : -1,
        writeError: clearError?.error.replace(/^etcd: /, "") ?? "(none)",
        writesAcknowledgedAgainSecondsAfterRestart: seconds(firstAfterRestart.acknowledgedAtMs - restartedAt),
        lostAcknowledgedWrites: missing.length,
      };
      expect(acknowledgedWithOne).toBe(0);
      expect(clearError).toBeDefined();
      expect(missing).toEqual([]);
    } finally {
      await loop.stop();
      await twoMemberProcesses.killAll();
      twoClient.close();
    }
  }, SCENARIO_TIMEOUT_MS);

  test("results: table printed and bench/results/etcd-failover.json written", () => {
    const { failover, quorumLoss, allMembersBack, twoMembers } = results;
    expect(failover && quorumLoss && allMembersBack && twoMembers).toBeTruthy();
    const etcdVersion = /etcd Version: (\S+)/.exec(spawnSync("etcd", ["--version"], { encoding: "utf8" }).stdout)?.[1] ?? "unknown";
    const report = {
      source: "clusters/external-etcd.yaml (three members); clusters/five-server.yaml with etcd.topology external, members 2 (two members)",
      renderedFor: `etcd ${threeTopology.spec.etcd.version}`,
      testedWith: `etcd ${etcdVersion} on loopback, TLS with certificates from templates/etcd-pki.sh`,
      raft: { heartbeatIntervalMs: ETCD_HEARTBEAT_INTERVAL_MS, electionTimeoutMs: ETCD_ELECTION_TIMEOUT_MS },
      client: { writeTimeoutMs: WRITE_TIMEOUT_MS, requireLeader: true, endpoints: "all members, next one on failure" },
      threeMembers: { leaderFailover: failover, quorumLost: quorumLoss, allMembersBack },
      twoMembers,
    };
    mkdirSync(join(REPO_ROOT, "bench", "results"), { recursive: true });
    writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);

    const rows: Array<[string, string]> = [
      ["3 members: leader killed, writes unavailable", `${failover!.writeUnavailableSeconds.toFixed(2)} s (${failover!.killedLeader} -> ${failover!.newLeader})`],
      ["3 members: acknowledged writes lost", `${failover!.lostAcknowledgedWrites} of ${failover!.acknowledgedWrites}`],
      ["3 members: 2nd member killed (quorum lost)", `${quorumLoss!.writesAcknowledgedWhileQuorumLost} writes acknowledged; "${quorumLoss!.writeError}" after ${quorumLoss!.clearErrorAfterSeconds.toFixed(2)} s`],
      ["  etcdctl put / endpoint status", `${quorumLoss!.etcdctlPutError} / ${quorumLoss!.etcdctlStatusErrors.join(", ")}`],
      ["  one member restarted: writes again after", `${quorumLoss!.writesAcknowledgedAgainSecondsAfterRestart.toFixed(2)} s, lost ${quorumLoss!.lostAcknowledgedWrites}`],
      ["3 members back: acknowledged writes on every member", `${allMembersBack!.acknowledgedWritesCheckedPerMember} checked, lost 0`],
      ["2 members: follower killed", `${twoMembers!.writesAcknowledgedWithOneOfTwo} writes acknowledged; "${twoMembers!.writeError}" after ${twoMembers!.clearErrorAfterSeconds.toFixed(2)} s`],
      ["  restarted: writes again after", `${twoMembers!.writesAcknowledgedAgainSecondsAfterRestart.toFixed(2)} s, lost ${twoMembers!.lostAcknowledgedWrites}`],
    ];
    const width = Math.max(...rows.map(([label]) => label.length));
    console.log(
      [`etcd failover (${report.testedWith}; heartbeat ${ETCD_HEARTBEAT_INTERVAL_MS} ms, election ${ETCD_ELECTION_TIMEOUT_MS} ms)`, ...rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`), `-> ${RESULTS_FILE.slice(REPO_ROOT.length + 1)}`].join("\n"),
    );
  });
});
