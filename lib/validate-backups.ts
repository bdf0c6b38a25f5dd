/** Cross-field rules of the spec's `backups` section (lib/backups.ts has the formats). */
import type { ClusterSpec } from "./spec";
import type { SpecIssue, SpecWarning } from "./spec-issue";
import {
  backupTimer,
  longestBackupBucketName,
  MAX_BACKUP_PERIOD_SECONDS,
  MIN_BACKUP_PERIOD_SECONDS,
  parseSystemdSpan,
} from "./backups";

const S3_BUCKET_NAME_LIMIT = 63;

export function backupIssues(spec: ClusterSpec): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const { schedule, maxAge } = spec.backups;
  const timer = backupTimer(schedule);
  if (!timer) {
    issues.push({
      field: "backups.schedule",
      value: schedule,
      message:
        'expected a systemd time span between snapshots such as "15min" or "1h 30min" (OnUnitActiveSec), ' +
        'or an OnCalendar expression such as "*:0/15", "*-*-* 02:00:00" or "hourly"',
    });
  } else if (timer.kind === "span" && (timer.seconds < MIN_BACKUP_PERIOD_SECONDS || timer.seconds > MAX_BACKUP_PERIOD_SECONDS)) {
    issues.push({ field: "backups.schedule", value: schedule, message: "expected a period from 1min to 24h" });
  }
  if (maxAge !== undefined) {
    const seconds = parseSystemdSpan(maxAge);
    if (seconds === undefined || seconds < MIN_BACKUP_PERIOD_SECONDS) {
      issues.push({ field: "backups.maxAge", value: maxAge, message: 'expected a systemd time span of at least 1min, such as "30min" or "2h"' });
    } else if (timer?.kind === "span" && seconds <= timer.seconds) {
      issues.push({
        field: "backups.maxAge",
        value: maxAge,
        message: `must be longer than the schedule's period (${schedule}), or every snapshot would be reported stale before the next one`,
      });
    }
  } else if (timer?.kind === "calendar" && spec.backups.enabled) {
    issues.push({
      field: "backups.maxAge",
      value: undefined,
      message: `required with a calendar schedule (${JSON.stringify(schedule)}): the age after which the newest snapshot is stale, such as "2h"`,
    });
  }
  if (spec.backups.enabled) {
    const length = longestBackupBucketName(spec.name, spec.region);
    if (length > S3_BUCKET_NAME_LIMIT) {
      issues.push({
        field: "backups.enabled",
        value: true,
        message:
          `the backup bucket "${spec.name}-etcd-<account id>-${spec.region}" would be ${length} characters; S3 allows ${S3_BUCKET_NAME_LIMIT}: ` +
          `use a stack name of at most ${spec.name.length - (length - S3_BUCKET_NAME_LIMIT)} characters`,
      });
    }
    if (/^xn--|^sthree-/.test(spec.name)) {
      issues.push({ field: "backups.enabled", value: true, message: `S3 bucket names may not start with "xn--" or "sthree-", as "${spec.name}-etcd-..." would` });
    }
  }
  return issues;
}

/**
 * Without backups a lost quorum cannot be recovered: an HA warning, so strict mode refuses it
 * (docs/review.md).
 */
export function backupWarnings(spec: ClusterSpec): SpecWarning[] {
  return spec.backups.enabled
    ? []
    : [{
        category: "ha",
        field: "backups.enabled",
        value: false,
        message: "backups: etcd backups are disabled: a lost etcd quorum (or a bad write) cannot be undone; the cluster must be rebuilt.",
      }];
}
