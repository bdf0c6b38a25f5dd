import { format, hostAddress, mustParseCidr, overlaps, parseCidr, subnet } from "../lib/cidr";
import { parseDuration } from "../lib/duration";
import { etcdFaultTolerance, etcdQuorum } from "../lib/quorum";

test("CIDR parsing", () => {
  expect(parseCidr("10.0.0.0/16")).toEqual({ network: 0x0a000000, prefix: 16 });
  expect(parseCidr("10.0.0.1/16")).toMatch(/host bits/);
  expect(parseCidr("256.0.0.0/8")).toMatch(/octet/);
  expect(parseCidr("10.0.0.0/33")).toMatch(/prefix/);
  expect(parseCidr("10.0.0.0")).toMatch(/expected/);
});

test("CIDR overlap, split and host addresses", () => {
  const vpc = mustParseCidr("10.0.0.0/16");
  expect(overlaps(vpc, mustParseCidr("10.0.128.0/17"))).toBe(true);
  expect(overlaps(vpc, mustParseCidr("10.1.0.0/16"))).toBe(false);
  expect(overlaps(mustParseCidr("10.96.0.0/12"), mustParseCidr("10.100.0.0/16"))).toBe(true);
  expect(format(subnet(vpc, 19, 5))).toBe("10.0.160.0/19");
  expect(hostAddress(subnet(vpc, 19, 1), 20)).toBe("10.0.32.20");
  expect(() => subnet(vpc, 19, 8)).toThrow(/out of range/);
  expect(() => hostAddress(mustParseCidr("10.0.0.0/30"), 4)).toThrow(/out of range/);
  expect(format(mustParseCidr("192.168.255.0/24"))).toBe("192.168.255.0/24");
});

test("Go durations", () => {
  expect(parseDuration("15s")).toBe(15000);
  expect(parseDuration("1m30s")).toBe(90000);
  expect(parseDuration("500ms")).toBe(500);
  expect(parseDuration("1.5s")).toBe(1500);
  expect(parseDuration("15")).toBeUndefined();
  expect(parseDuration("15 s")).toBeUndefined();
});

test("etcd quorum arithmetic", () => {
  expect([1, 2, 3, 4, 5, 6, 7].map(etcdQuorum)).toEqual([1, 2, 2, 3, 3, 4, 4]);
  expect([1, 2, 3, 4, 5, 6, 7].map(etcdFaultTolerance)).toEqual([0, 0, 1, 1, 2, 2, 3]);
});
