import { spawnSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { parse, parseDocument, stringify } from "yaml";
import {
  etcdCertificatePaths,
  ETCD_CONFIG_PATH,
  ETCD_ELECTION_TIMEOUT_MS,
  ETCD_HEARTBEAT_INTERVAL_MS,
  ETCD_UNIT_PATH,
  renderEtcdMemberFiles,
} from "../lib/render/etcd";
import { buildTopology, Topology } from "../lib/topology";
import { validateSpec } from "../lib/validate";

const REPO_ROOT = join(__dirname, "..");
const PKI_SCRIPT = join(REPO_ROOT, "templates", "etcd-pki.sh");

function topologyFrom(stack: string, yamlText: string): Topology {
  const { spec, warnings } = validateSpec(`${stack}.yaml`, stack, yamlText);
  return buildTopology(spec, warnings);
}

const shippedYaml = (name: string) => readFileSync(join(REPO_ROOT, "clusters", `${name}.yaml`), "utf8");
const external = topologyFrom("external-etcd", shippedYaml("external-etcd"));

type EtcdConfig = Record<string, any>;

function configOf(topology: Topology, nodeName: string): EtcdConfig {
  const node = topology.etcdNodes.find((candidate) => candidate.name === nodeName)!;
  const file = renderEtcdMemberFiles(topology, node).find((candidate) => candidate.path === ETCD_CONFIG_PATH)!;
  const document = parseDocument(file.content, { uniqueKeys: true });
  expect(document.errors).toEqual([]);
  return document.toJS() as EtcdConfig;
}

function unitOf(topology: Topology, nodeName: string): string {
  const node = topology.etcdNodes.find((candidate) => candidate.name === nodeName)!;
  return renderEtcdMemberFiles(topology, node).find((candidate) => candidate.path === ETCD_UNIT_PATH)!.content;
}

/**
 * Config-file keys that etcd 3.4, 3.5 and 3.6 all read (embed.Config / configJSON / securityConfig
 * JSON tags of each release). etcd ignores unknown keys instead of failing, so a key outside this
 * list could silently do nothing on some release: adding one needs checking it in all three.
 */
const KEYS_IN_ETCD_34_TO_36 = new Set([
  "name", "data-dir", "snapshot-count", "heartbeat-interval", "election-timeout", "quota-backend-bytes",
  "listen-peer-urls", "listen-client-urls", "initial-advertise-peer-urls", "advertise-client-urls",
  "initial-cluster", "initial-cluster-token", "initial-cluster-state", "pre-vote", "enable-grpc-gateway",
  "client-transport-security", "peer-transport-security", "logger", "log-outputs",
  "auto-compaction-mode", "auto-compaction-retention",
]);
const TLS_KEYS = new Set(["cert-file", "key-file", "client-cert-auth", "trusted-ca-file"]);

describe("renderEtcdMemberFiles", () => {
  test("etcd-1 of clusters/external-etcd.yaml (snapshot)", () => {
    expect(renderEtcdMemberFiles(external, external.etcdNodes[0])).toMatchSnapshot();
  });

  test("exactly one config file and one unit per member, both world-readable and secret-free", () => {
    for (const node of external.etcdNodes) {
      const files = renderEtcdMemberFiles(external, node);
      expect(files.map((file) => [file.path, file.permissions])).toEqual([
        [ETCD_CONFIG_PATH, "0644"],
        [ETCD_UNIT_PATH, "0644"],
      ]);
      for (const file of files) expect(file.content).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    }
  });

  test("every member lists all members in initial-cluster, identically", () => {
    const expected = external.etcd.members.map((member) => `${member.name}=https://${member.ip}:2380`).join(",");
    expect(external.etcd.members).toHaveLength(3);
    for (const node of external.etcdNodes) {
      const config = configOf(external, node.name);
      expect(config["initial-cluster"]).toBe(expected);
      expect(config["initial-cluster-state"]).toBe("new");
      expect(config["initial-cluster-token"]).toBe("kubeadm-ha-external-etcd-etcd");
      expect(config.name).toBe(node.name);
    }
  });

  test("URLs use the node's own private IP; loopback is listened on but never advertised", () => {
    for (const node of external.etcdNodes) {
      const config = configOf(external, node.name);
      expect(config["listen-peer-urls"]).toBe(`https://${node.privateIp}:2380`);
      expect(config["initial-advertise-peer-urls"]).toBe(`https://${node.privateIp}:2380`);
      expect(config["listen-client-urls"]).toBe(`https://${node.privateIp}:2379,https://127.0.0.1:2379`);
      expect(config["advertise-client-urls"]).toBe(`https://${node.privateIp}:2379`);
      const others = external.etcdNodes.filter((other) => other.name !== node.name).map((other) => other.privateIp);
      for (const key of ["listen-peer-urls", "listen-client-urls", "advertise-client-urls", "initial-advertise-peer-urls"]) {
        for (const ip of others) expect(config[key]).not.toContain(ip);
      }
    }
  });

  test("TLS on both ports with client-certificate authentication, reading the paths etcd-pki.sh writes", () => {
    const paths = etcdCertificatePaths();
    const config = configOf(external, "etcd-2");
    expect(config["client-transport-security"]).toEqual({
      "cert-file": paths.serverCert,
      "key-file": paths.serverKey,
      "client-cert-auth": true,
      "trusted-ca-file": paths.caCert,
    });
    expect(config["peer-transport-security"]).toEqual({
      "cert-file": paths.peerCert,
      "key-file": paths.peerKey,
      "client-cert-auth": true,
      "trusted-ca-file": paths.caCert,
    });
    const urls = ["listen-peer-urls", "listen-client-urls", "advertise-client-urls", "initial-advertise-peer-urls", "initial-cluster"]
      .flatMap((key) => String(config[key]).split(","))
      .map((entry) => entry.replace(/^[a-z0-9-]+=/, ""));
    for (const url of urls) expect(url).toMatch(/^https:\/\//);
  });

  test("only keys that etcd 3.4, 3.5 and 3.6 all read", () => {
    const config = configOf(external, "etcd-1");
    expect(Object.keys(config).filter((key) => !KEYS_IN_ETCD_34_TO_36.has(key))).toEqual([]);
    for (const section of ["client-transport-security", "peer-transport-security"]) {
      expect(Object.keys(config[section]).filter((key) => !TLS_KEYS.has(key))).toEqual([]);
    }
    expect(config).not.toHaveProperty("enable-v2");
  });

  test("raft timing, compaction, quota and logging", () => {
    const config = configOf(external, "etcd-3");
    expect(config["heartbeat-interval"]).toBe(ETCD_HEARTBEAT_INTERVAL_MS);
    expect(config["election-timeout"]).toBe(ETCD_ELECTION_TIMEOUT_MS);
    // etcd refuses to start below 5x; 10x is its tuning guide's advice.
    expect(config["election-timeout"]).toBeGreaterThanOrEqual(10 * config["heartbeat-interval"]);
    expect(config["auto-compaction-mode"]).toBe("periodic");
    expect(config["auto-compaction-retention"]).toBe("1h");
    expect(config["quota-backend-bytes"]).toBe(4 * 1024 ** 3);
    expect(config["quota-backend-bytes"]).toBeLessThanOrEqual(8 * 1024 ** 3);
    expect(config.logger).toBe("zap");
    expect(config["log-outputs"]).toEqual(["stderr"]);
    expect(config["data-dir"]).toBe("/var/lib/etcd");
  });

  test("a leading comment names the etcd release and kubeadm-ha; it follows spec.etcd.version", () => {
    const text = renderEtcdMemberFiles(external, external.etcdNodes[0])[0].content;
    expect(text.split("\n")[0]).toBe("# etcd 3.6.4 member etcd-1 of stack external-etcd.");
    expect(text).toMatch(/^# Rendered by kubeadm-ha/m);

    const spec = parse(shippedYaml("external-etcd")) as Record<string, any>;
    const older = topologyFrom("etcd-35", stringify({ ...spec, etcd: { ...spec.etcd, version: "3.5.21" } }));
    expect(renderEtcdMemberFiles(older, older.etcdNodes[0])[0].content.split("\n")[0]).toBe("# etcd 3.5.21 member etcd-1 of stack etcd-35.");
    expect(unitOf(older, "etcd-1")).toContain("Description=etcd 3.5.21 member of etcd-35 (kubeadm-ha)");
  });

  test("stable output: same input, same bytes; no temp paths or timestamps", () => {
    const again = topologyFrom("external-etcd", shippedYaml("external-etcd"));
    for (const node of external.etcdNodes) {
      const first = renderEtcdMemberFiles(external, node);
      expect(renderEtcdMemberFiles(again, again.etcdNodes.find((other) => other.name === node.name)!)).toEqual(first);
      for (const file of first) {
        expect(file.content).not.toMatch(/\/tmp\/|\/dev\/shm\/|\d{4}-\d{2}-\d{2}T|\.jest-tmp|kubeadm-ha-jest-run-/);
        expect(file.content).not.toContain(tmpdir());
      }
    }
  });

  test("the systemd unit runs the release binary with the config file and restarts it", () => {
    const unit = unitOf(external, "etcd-1");
    const lines = unit.split("\n");
    for (const expected of [
      "ExecStart=/usr/local/bin/etcd --config-file /etc/etcd/etcd.conf.yml",
      "Type=notify",
      "Restart=always",
      "RestartSec=5s",
      "LimitNOFILE=65536",
      "After=network-online.target",
      "Wants=network-online.target",
      "WantedBy=multi-user.target",
    ]) {
      expect(lines).toContain(expected);
    }
    expect(lines.filter((line) => line.startsWith("["))).toEqual(["[Unit]", "[Service]", "[Install]"]);
    expect(unit.endsWith("\n")).toBe(true);
  });

  test("throws for stacked etcd, for non-etcd nodes and for nodes of another stack", () => {
    const stacked = topologyFrom("five-server", shippedYaml("five-server"));
    expect(() => renderEtcdMemberFiles(stacked, stacked.controlPlane[0])).toThrow(
      /stack five-server uses stacked etcd.*only for etcd\.topology external/,
    );
    expect(() => renderEtcdMemberFiles(external, external.controlPlane[0])).toThrow("control-plane-1 is a control-plane node, not an etcd node");
    expect(() => renderEtcdMemberFiles(external, external.workers[0])).toThrow(/not an etcd node/);
    const spec = parse(shippedYaml("external-etcd")) as Record<string, any>;
    const otherStack = topologyFrom("other", stringify({ ...spec, network: { ...spec.network, vpcCidr: "10.9.0.0/16" } }));
    expect(() => renderEtcdMemberFiles(external, otherStack.etcdNodes[0])).toThrow(/etcd-1 \(10\.9\.0\.30\) is not an etcd member of stack external-etcd/);
  });

  test("etcdCertificatePaths: defaults to /etc/etcd/pki and follows another directory", () => {
    expect(etcdCertificatePaths()).toEqual({
      caCert: "/etc/etcd/pki/ca.crt",
      caKey: "/etc/etcd/pki/ca.key",
      serverCert: "/etc/etcd/pki/server.crt",
      serverKey: "/etc/etcd/pki/server.key",
      peerCert: "/etc/etcd/pki/peer.crt",
      peerKey: "/etc/etcd/pki/peer.key",
    });
    expect(etcdCertificatePaths("/srv/pki").peerKey).toBe("/srv/pki/peer.key");
  });
});

// shellcheck on this script runs with every other script's in the integration suite (shellcheck.test.ts).
describe("templates/etcd-pki.sh", () => {
  test("is strict bash and documents its CLI at the top", () => {
    const text = readFileSync(PKI_SCRIPT, "utf8");
    expect(text.startsWith("#!/usr/bin/env bash\n")).toBe(true);
    expect(text).toMatch(/^set -euo pipefail$/m);
    const header = text.slice(0, text.indexOf("set -euo pipefail"));
    for (const usage of ["etcd-pki.sh ca     DIR", "etcd-pki.sh member DIR NAME IP", "etcd-pki.sh client DIR CN OUTNAME"]) {
      expect(header).toContain(usage);
    }
  });

  // openssl is required (README): a missing one fails these tests rather than skipping them.
  describe("with openssl", () => {
    const dir = mkdtempSync(join(tmpdir(), "kubeadm-ha-etcd-pki-"));
    const run = (...args: string[]) => spawnSync("bash", [PKI_SCRIPT, ...args], { encoding: "utf8", timeout: 20_000 });
    const certificate = (file: string) =>
      spawnSync("openssl", ["x509", "-in", join(dir, file), "-noout", "-text"], { encoding: "utf8" }).stdout;
    const verify = (file: string) => spawnSync("openssl", ["verify", "-CAfile", join(dir, "ca.crt"), join(dir, file)], { encoding: "utf8" });
    const outputs: string[] = [];

    beforeAll(() => {
      for (const args of [["ca", dir], ["member", dir, "etcd-1", "10.1.0.30"], ["client", dir, "kube-apiserver-etcd-client", "apiserver-etcd-client"]]) {
        const result = run(...args);
        outputs.push(result.stdout, result.stderr);
        if (result.status !== 0) throw new Error(`etcd-pki.sh ${args.join(" ")}: ${result.stderr}`);
      }
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    test("the CA: EC P-256, 10 years, a CA; and `ca` again keeps it", () => {
      const ca = certificate("ca.crt");
      expect(ca).toContain("NIST CURVE: P-256");
      expect(ca).toMatch(/CA:TRUE/);
      const notAfter = new Date(/Not After : (.*)/.exec(ca)![1]);
      expect(notAfter.getTime() - Date.now()).toBeGreaterThan(9.9 * 365 * 24 * 3600 * 1000);
      const before = readFileSync(join(dir, "ca.crt"), "utf8");
      const again = run("ca", dir);
      expect(again.status).toBe(0);
      expect(again.stdout).toContain("keeping it");
      expect(readFileSync(join(dir, "ca.crt"), "utf8")).toBe(before);
    });

    test("server certificate: SANs NAME, localhost, IP, 127.0.0.1; serverAuth + clientAuth; signed by the CA", () => {
      const server = certificate("server.crt");
      expect(server).toContain("DNS:etcd-1, DNS:localhost, IP Address:10.1.0.30, IP Address:127.0.0.1");
      expect(server).toContain("TLS Web Server Authentication, TLS Web Client Authentication");
      expect(server).toContain("Subject: CN = etcd-1");
      expect(verify("server.crt").status).toBe(0);
    });

    test("peer certificate: SANs NAME and IP only; serverAuth + clientAuth; signed by the CA", () => {
      const peer = certificate("peer.crt");
      expect(peer).toMatch(/DNS:etcd-1, IP Address:10\.1\.0\.30\n/);
      expect(peer).toContain("TLS Web Server Authentication, TLS Web Client Authentication");
      expect(verify("peer.crt").status).toBe(0);
    });

    test("client certificate: the CN given, clientAuth only", () => {
      const client = certificate("apiserver-etcd-client.crt");
      expect(client).toContain("Subject: CN = kube-apiserver-etcd-client");
      expect(client).toMatch(/Extended Key Usage: \n\s+TLS Web Client Authentication\n/);
      expect(client).not.toContain("Subject Alternative Name");
      expect(verify("apiserver-etcd-client.crt").status).toBe(0);
    });

    test("private keys are 0600, certificates 0644, and no key material is printed", () => {
      for (const key of ["ca.key", "server.key", "peer.key", "apiserver-etcd-client.key"]) {
        expect((statSync(join(dir, key)).mode & 0o777).toString(8)).toBe("600");
      }
      for (const cert of ["ca.crt", "server.crt", "peer.crt", "apiserver-etcd-client.crt"]) {
        expect((statSync(join(dir, cert)).mode & 0o777).toString(8)).toBe("644");
      }
      expect(outputs.join("")).not.toMatch(/PRIVATE KEY|BEGIN|MII|MHc/);
    });

    test("rejects bad input without touching existing files", () => {
      const before = readFileSync(join(dir, "server.crt"), "utf8");
      const cases: Array<[string[], RegExp]> = [
        [["member", dir, "etcd_1", "10.1.0.30"], /not a DNS-1123 name/],
        [["member", dir, "etcd-1", "10.1.0.300"], /not an IPv4 address/],
        [["member", dir, "etcd-1\nDNS:evil", "10.1.0.30"], /not a DNS-1123 name/],
        [["client", dir, "kube-apiserver-etcd-client", "ca"], /would overwrite/],
        [["member", join(dir, "no-ca"), "etcd-1", "10.1.0.30"], /run 'etcd-pki.sh ca/],
        [["member", dir, "etcd-1"], /usage: etcd-pki\.sh/],
        [["rotate", dir], /usage: etcd-pki\.sh/],
      ];
      for (const [args, message] of cases) {
        const result = run(...args);
        expect(result.status).not.toBe(0);
        expect(result.stderr).toMatch(message);
      }
      expect(readFileSync(join(dir, "server.crt"), "utf8")).toBe(before);
      expect(spawnSync("bash", ["-c", `ls -A ${JSON.stringify(dir)} | grep -c '^\\.etcd-pki' || true`], { encoding: "utf8" }).stdout.trim()).toBe("0");
    });
  });
});
