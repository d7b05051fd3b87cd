// Every Nx project with tests has its own jest.config.js; `npm test` runs them all.
const fs = require('node:fs');
const path = require('node:path');
const roots = ['apps', 'libs', 'libs/platform', '.'];
const projects = [];
for (const r of roots) {
  if (!fs.existsSync(r)) continue;
  for (const d of fs.readdirSync(r)) {
    const cfg = path.join(r, d, 'jest.config.js');
    if (fs.existsSync(cfg)) projects.push('<rootDir>/' + cfg);
  }
}
module.exports = {
  projects,
  testTimeout: 60000,
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/tools/jest-totals-reporter.js'],
};
