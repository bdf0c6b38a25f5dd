/**
 * etcd backups and certificate renewal: the facts shared by validation, rendering, the bucket
 * construct and the operator scripts. Pure.
 *
 * A backup schedule is either a systemd time span ("15min", "1h 30min": the timer fires that long
 * after the previous run, OnUnitActiveSec) or a calendar expression ("*:0/15", "daily": OnCalendar).
 * Only the current etcd leader takes the snapshot, so a cluster uploads one snapshot per period.
 */
import type { ClusterSpec } from "./spec";

export const DEFAULT_BACKUP_SCHEDULE = "15min";
export const DEFAULT_BACKUP_RETENTION_DAYS = 30;
/** Below this a snapshot of a large database would never finish before the next one starts. */
export const MIN_BACKUP_PERIOD_SECONDS = 60;
export const MAX_BACKUP_PERIOD_SECONDS = 24 * 3600;
/** Snapshots live under this prefix, by day: etcd/YYYY/MM/DD/<UTC time>-<member>.db. */
export const BACKUP_OBJECT_PREFIX = "etcd";
/** kubeadm's leaf certificates last a year; renewal starts with this much left. */
export const CERT_RENEW_BEFORE_DAYS = 30;
/** A log warning (and a metric) from this much left, so a failing renewal is seen in time. */
export const CERT_WARN_BEFORE_DAYS = 45;

/** systemd.time(7) span units, in seconds. */
const SPAN_UNITS: Record<string, number> = {
  us: 1e-6, usec: 1e-6, ms: 1e-3, msec: 1e-3,
  s: 1, sec: 1, second: 1, seconds: 1,
  m: 60, min: 60, minute: 60, minutes: 60,
  h: 3600, hr: 3600, hour: 3600, hours: 3600,
  d: 86400, day: 86400, days: 86400,
  w: 604800, week: 604800, weeks: 604800,
  M: 2629800, month: 2629800, months: 2629800,
  y: 31557600, year: 31557600, years: 31557600,
};

/** Seconds of a systemd time span such as "15min" or "1h 30min"; undefined when it is not one. */
export function parseSystemdSpan(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^(?:\d+(?:\.\d+)?\s*[a-zA-Z]+\s*)+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+(?:\.\d+)?)\s*([a-zA-Z]+)/g)) {
    const factor = SPAN_UNITS[unit];
    if (factor === undefined) return undefined;
    total += Number(amount) * factor;
  }
  return total;
}

const CALENDAR_SHORTHANDS = ["minutely", "hourly", "daily", "weekly", "monthly", "quarterly", "semiannually", "yearly", "annually"];
const WEEKDAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*";
const CALENDAR_PART = "[0-9*][0-9*,./~]*";
const CALENDAR = new RegExp(
  `^(?:${WEEKDAY}(?:(?:,|\\.\\.)${WEEKDAY})*\\s+)?` +
    `(?:${CALENDAR_PART}-${CALENDAR_PART}(?:-${CALENDAR_PART})?\\s+)?` +
    `${CALENDAR_PART}:${CALENDAR_PART}(?::${CALENDAR_PART})?(?:\\s+UTC)?$`,
);

/** A calendar expression systemd's OnCalendar= accepts (the common forms: shorthands, [weekday] [date] time). */
export function isSystemdCalendar(text: string): boolean {
  return CALENDAR_SHORTHANDS.includes(text) || CALENDAR.test(text.trim());
}

export type BackupTimer =
  | { readonly kind: "span"; readonly seconds: number; readonly value: string }
  | { readonly kind: "calendar"; readonly value: string };

/** How the schedule becomes a timer; undefined when it is neither a span nor a calendar expression. */
export function backupTimer(schedule: string): BackupTimer | undefined {
  const seconds = parseSystemdSpan(schedule);
  if (seconds !== undefined) return { kind: "span", seconds, value: schedule.trim() };
  if (isSystemdCalendar(schedule)) return { kind: "calendar", value: schedule.trim() };
  return undefined;
}

/** Seconds after which the newest snapshot counts as stale: maxAge, or two periods of a span schedule. */
export function backupMaxAgeSeconds(spec: ClusterSpec): number {
  if (spec.backups.maxAge !== undefined) {
    const seconds = parseSystemdSpan(spec.backups.maxAge);
    if (seconds === undefined) throw new Error(`backups.maxAge: ${spec.backups.maxAge}: not a time span (validation should have said so)`);
    return Math.round(seconds);
  }
  const timer = backupTimer(spec.backups.schedule);
  if (timer?.kind !== "span") throw new Error(`backups.maxAge is required with a calendar schedule (validation should have said so)`);
  return Math.round(2 * timer.seconds);
}

/**
 * The bucket's name: `<stack>-etcd-<account id>-<region>`, unique per account and region. The
 * nodes and the operator scripts compute it the same way (the account id from STS), so no
 * Terraform value has to reach the user-data.
 */
export function backupBucketName(stack: string, accountId: string, region: string): string {
  return `${stack}-etcd-${accountId}-${region}`;
}

/** The longest name the bucket can get in `region` (account ids are 12 digits); S3 allows 63. */
export function longestBackupBucketName(stack: string, region: string): number {
  return backupBucketName(stack, "0".repeat(12), region).length;
}

export function backupKmsAlias(stack: string): string {
  return `alias/kubeadm-ha/${stack}/etcd-backups`;
}
