// Shared jest settings: ts-jest in isolated (transpile-only) mode for speed; the type check
// is `npm run build` (tsc), which `npm test` runs first.
const path = require('node:path');
const { pathsToModuleNameMapper } = require('ts-jest');
const base = require('./tsconfig.base.json');

/** @param {string} dir project folder relative to the workspace root */
module.exports = (dir, displayName) => ({
  displayName,
  rootDir: path.join(__dirname, dir),
  testEnvironment: 'node',
  testMatch: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: path.join(__dirname, 'tsconfig.spec.json') }],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: pathsToModuleNameMapper(base.compilerOptions.paths, { prefix: __dirname + '/' }),
});
