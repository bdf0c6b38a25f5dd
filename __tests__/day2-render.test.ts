/**
 * The day-2 timers as rendered: which nodes get which files, the spec's backups rules (with the real
 * systemd checking what we accept), and every rendered unit verified by `systemd-analyze verify`.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { backupMaxAgeSeconds, backupTimer, isSystemdCalendar, parseSystemdSpan } from "../lib/backups";
import { renderNodeFiles } from "../lib/render/node-files";
import { certRenewalHour } from "../lib/render/cert-renewal";
import { SpecError, validateSpec } from "../lib/validate";
import type { ClusterNode, Topology } from "../lib/topology";
import { inlineTopology, shippedTopology } from "./support/specs";

const names = (topology: Topology, node: ClusterNode) => renderNodeFiles(topology, node).map((file) => path.posix.basename(file.path));
const DAY2 = ["etcd-backup.sh", "kubeadm-ha-etcd-backup.service", "kubeadm-ha-etcd-backup.timer", "renew-certs.sh", "renew-etcd-certs.sh",
  "renew-etcd-client.sh", "kubeadm-ha-cert-renewal.service", "kubeadm-ha-cert-renewal.timer", "kubeadm-ha-day2.conf"];
const day2Files = (topology: Topology, node: ClusterNode) => names(topology, node).filter((name) => DAY2.includes(name)).sort();

describe("which nodes get the day-2 timers", () => {
  test("stacked etcd: every control-plane node backs up and renews; workers and the load balancer get nothing", () => {
    const topology = shippedTopology("five-server");
    for (const node of topology.controlPlane) {
      expect(day2Files(topology, node)).toEqual(["etcd-backup.sh", "kubeadm-ha-cert-renewal.service", "kubeadm-ha-cert-renewal.timer", "kubeadm-ha-day2.conf",
        "kubeadm-ha-etcd-backup.service", "kubeadm-ha-etcd-backup.timer", "renew-certs.sh"]);
      const dropIn = renderNodeFiles(topology, node).find((file) => file.path.endsWith("kubeadm-ha-day2.conf"))!;
      expect(dropIn.path).toBe("/etc/systemd/system/kubelet.service.d/kubeadm-ha-day2.conf");
      expect(dropIn.content).toBe("[Unit]\nWants=kubeadm-ha-etcd-backup.timer kubeadm-ha-cert-renewal.timer\n");
    }
    for (const node of topology.nodes.filter((each) => each.role === "worker" || each.role === "load-balancer")) expect(day2Files(topology, node)).toEqual([]);
  });

  test("external etcd: the etcd nodes back up and renew their own certificates; control-plane nodes renew, and take the etcd client certificate", () => {
    const topology = shippedTopology("external-etcd");
    for (const node of topology.etcdNodes) {
      expect(day2Files(topology, node)).toEqual(["etcd-backup.sh", "kubeadm-ha-cert-renewal.service", "kubeadm-ha-cert-renewal.timer", "kubeadm-ha-day2.conf",
        "kubeadm-ha-etcd-backup.service", "kubeadm-ha-etcd-backup.timer", "renew-etcd-certs.sh"]);
      expect(renderNodeFiles(topology, node).some((file) => file.path === "/etc/systemd/system/etcd.service.d/kubeadm-ha-day2.conf")).toBe(true);
    }
    for (const node of topology.controlPlane) {
      expect(day2Files(topology, node)).toEqual(["kubeadm-ha-cert-renewal.service", "kubeadm-ha-cert-renewal.timer", "kubeadm-ha-day2.conf", "renew-certs.sh", "renew-etcd-client.sh"]);
    }
  });

  test("backups.enabled false: no backup timer anywhere, certificate renewal stays", () => {
    const topology = inlineTopology("quiet", "backups: {enabled: false}\n");
    expect(topology.warnings.some((warning) => warning.startsWith("backups: etcd backups are disabled"))).toBe(true);
    for (const node of topology.nodes) expect(day2Files(topology, node).filter((name) => name.includes("backup"))).toEqual([]);
    expect(day2Files(topology, topology.initNode)).toContain("renew-certs.sh");
  });

  test("control-plane nodes check their certificates at different hours", () => {
    const topology = inlineTopology("seven", "controlPlane: {count: 7}\n");
    const hours = topology.controlPlane.map(certRenewalHour);
    expect(new Set(hours).size).toBe(7);
  });
});

describe("backups.schedule, as systemd reads it", () => {
  const calendar = (expression: string) => spawnSync("systemd-analyze", ["calendar", expression], { encoding: "utf8" });
  const timespan = (expression: string) => spawnSync("systemd-analyze", ["timespan", expression], { encoding: "utf8" });

  test.each(["15min", "1h 30min", "2h30m", "90s", "1d"])("time span %s: the seconds systemd computes", (span) => {
    const result = timespan(span);
    expect(result.status).toBe(0);
    const micros = Number(/μs: (\d+)/.exec(result.stdout)![1]);
    expect(parseSystemdSpan(span)).toBe(micros / 1e6);
    expect(backupTimer(span)?.kind).toBe("span");
  });

  test.each(["*:0/15", "hourly", "daily", "*-*-* 02:00:00", "Mon..Fri *-*-* 02:00", "Mon,Tue 12:00", "*:0/15 UTC"])("calendar %s: systemd accepts it too", (expression) => {
    expect(isSystemdCalendar(expression)).toBe(true);
    expect(calendar(expression).status).toBe(0);
  });

  test.each(["every 15 minutes", "15", "*/15 * * * *", "2h;rm -rf /", ""])("%j is neither", (text) => {
    expect(backupTimer(text)).toBeUndefined();
  });
});

describe("backups validation", () => {
  const errors = (yamlText: string, name = "bk") => {
    try {
      validateSpec(`${name}.yaml`, name, yamlText);
      return "";
    } catch (error) {
      if (!(error instanceof SpecError)) throw error;
      return error.message;
    }
  };
  test("defaults: every 15 min, 30 days, stale after 30 min", () => {
    const { spec } = validateSpec("bk.yaml", "bk", "{}\n");
    expect(spec.backups).toEqual({ enabled: true, schedule: "15min", retentionDays: 30 });
    expect(backupMaxAgeSeconds(spec)).toBe(1800);
  });
  test("a schedule that is neither a span nor a calendar expression names the field and what is accepted", () => {
    expect(errors("backups: {schedule: every 15 minutes}\n")).toMatch(/^bk\.yaml: backups\.schedule: "every 15 minutes": expected a systemd time span .* or an OnCalendar expression/);
  });
  test("a period below 1 minute or above a day", () => {
    expect(errors("backups: {schedule: 30s}\n")).toMatch(/backups\.schedule: "30s": expected a period from 1min to 24h/);
    expect(errors("backups: {schedule: 2d}\n")).toMatch(/backups\.schedule: "2d": expected a period from 1min to 24h/);
  });
  test("a calendar schedule needs maxAge", () => {
    expect(errors("backups: {schedule: '*:0/15'}\n")).toMatch(/backups\.maxAge: \(missing\): required with a calendar schedule/);
    expect(errors("backups: {schedule: '*:0/15', maxAge: 1h}\n")).toBe("");
  });
  test("maxAge must be a span longer than the period", () => {
    expect(errors("backups: {schedule: 1h, maxAge: 30min}\n")).toMatch(/backups\.maxAge: "30min": must be longer than the schedule's period/);
    expect(errors("backups: {maxAge: soon}\n")).toMatch(/backups\.maxAge: "soon": expected a systemd time span/);
  });
  test("retentionDays is a whole number of days from 1", () => {
    expect(errors("backups: {retentionDays: 0}\n")).toMatch(/backups\.retentionDays: 0: expected at least 1/);
  });
  test("disabled backups are an HA warning: strict mode refuses them", () => {
    const { warnings } = validateSpec("bk.yaml", "bk", "backups: {enabled: false}\n");
    expect(warnings.some((warning) => String(warning).startsWith("backups: etcd backups are disabled"))).toBe(true);
    expect(errors("strict: true\nloadBalancer: {kind: haproxy}\nbackups: {enabled: false}\n")).toMatch(/bk\.yaml: backups\.enabled: false: HA warning refused by strict mode/);
  });
  test("a stack name too long for the bucket name is refused with the limit", () => {
    const name = "a-stack-name-of-32-characters-xy";
    expect(errors("region: ap-southeast-2\n", name)).toMatch(/backups\.enabled: true: the backup bucket ".*" would be 65 characters; S3 allows 63: use a stack name of at most 30 characters/);
    expect(errors("region: ap-southeast-2\nbackups: {enabled: false}\n", name)).toBe("");
  });
});

test("every rendered unit passes systemd-analyze verify", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeadm-ha-units-"));
  try {
    const units = new Set<string>();
    for (const stack of ["five-server", "external-etcd"]) {
      const topology = shippedTopology(stack);
      for (const node of topology.nodes) {
        for (const file of renderNodeFiles(topology, node)) {
          const base = path.posix.basename(file.path);
          if (!/^kubeadm-ha-(etcd-backup|cert-renewal)\.(service|timer)$/.test(base)) continue;
          const target = path.join(dir, `${stack}-${node.name}`, base);
          fs.mkdirSync(path.dirname(target), { recursive: true });
          fs.writeFileSync(target, file.content);
          units.add(target);
        }
      }
    }
    expect(units.size).toBe(2 * 2 * 2 + 3 * 4 + 2 * 2);
    const result = spawnSync("systemd-analyze", ["verify", "--man=no", ...units], { encoding: "utf8", cwd: dir });
    expect(`${result.stdout}${result.stderr}`).toBe("");
    expect(result.status).toBe(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
