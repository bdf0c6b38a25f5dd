const fs = require("fs");

// Removes only this run's temp folder (see jest.config.js).
module.exports = async () => {
  const dir = process.env.KUBEADM_HA_TEST_TMP;
  if (dir && dir.includes(".jest-tmp")) fs.rmSync(dir, { recursive: true, force: true });
};
