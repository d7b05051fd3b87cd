// Resolves the workspace's `@kiln/*` imports to the compiled libraries in dist/ at run time,
// reading the same `paths` table the TypeScript compiler uses (one source of truth).
const path = require('node:path');
const tsconfigPaths = require('tsconfig-paths');
const base = require('../tsconfig.base.json');
const root = path.resolve(__dirname, '..');
const paths = {};
for (const [alias, [target]] of Object.entries(base.compilerOptions.paths)) {
  paths[alias] = [path.join('dist', target.replace(/\.ts$/, '.js'))];
}
tsconfigPaths.register({ baseUrl: root, paths });
