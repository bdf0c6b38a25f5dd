const fs = require("fs");
const path = require("path");

/**
 * Removes only this run's temp folder (see jest.config.js). First it stops any process still
 * running from that folder (a haproxy, nginx or etcd whose config lives there): the suites stop
 * what they start by PID, but a jest worker that dies mid-test cannot, and its children would
 * outlive the run.
 */
module.exports = async () => {
  const dir = process.env.KUBEADM_HA_TEST_TMP;
  if (!dir || !path.basename(dir).startsWith("kubeadm-ha-jest-run-")) return;
  for (const pid of processesUsing(dir)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
};

/** PIDs whose command line names a path inside dir. */
function processesUsing(dir) {
  const pids = [];
  for (const entry of fs.existsSync("/proc") ? fs.readdirSync("/proc") : []) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (cmdline.some((arg) => arg.includes(`${dir}/`))) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}
