// Kiln's lint: @eslint/js + typescript-eslint "recommended" (syntax only, not type-aware,
// to stay fast; `tsc` is the type check) and Nx module boundaries between project kinds.
// Project kinds are the `type:*` tags in each project.json:
//   contracts -> nothing of ours        domain   -> contracts
//   platform  -> contracts, domain, platform
//   testing   -> contracts, domain, platform, testing (never apps)
//   app       -> contracts, domain, platform (never another app)
// Test files (*.spec.ts, *.int-spec.ts, *.e2e-spec.ts, <project>/test/**) may also use the
// `type:testing` library.
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const nx = require('@nx/eslint-plugin');

const TEST_FILES = ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts', '{apps,libs}/**/test/**/*.ts'];

/** @param {boolean} inTests whether the importing file is a test file */
function boundaries(inTests) {
  const testing = inTests ? ['type:testing'] : [];
  return [
    'error',
    {
      allow: [],
      enforceBuildableLibDependency: false,
      depConstraints: [
        { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:contracts'] },
        { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:contracts', ...testing] },
        { sourceTag: 'type:platform', onlyDependOnLibsWithTags: ['type:contracts', 'type:domain', 'type:platform', ...testing] },
        { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:contracts', 'type:domain', 'type:platform', 'type:testing'] },
        { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:contracts', 'type:domain', 'type:platform', ...testing] },
        // belt and braces: nothing depends on an app; an app's scope is its own
        { sourceTag: '*', notDependOnLibsWithTags: ['type:app'] },
        { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
      ],
    },
  ];
}

/** Globals of a CommonJS Node module (jest.config.js files), declared here to need no extra package. */
const nodeCommonJsGlobals = Object.fromEntries(
  ['require', 'module', 'exports', '__dirname', '__filename', 'process', 'console', 'Buffer'].map((g) => [g, 'readonly']),
);

module.exports = tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '**/tmp/**', '**/coverage/**', '.nx/**', '*.js'],
  },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    plugins: { '@nx': nx },
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@nx/enforce-module-boundaries': boundaries(false),
      '@typescript-eslint/no-explicit-any': 'error',
      // `let timer; const stop = () => clearInterval(timer); timer = setInterval(...)` is fine
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: TEST_FILES,
    rules: {
      '@nx/enforce-module-boundaries': boundaries(true),
    },
  },
  {
    // the e2e suite and the tools drive the platform from outside: they reach the
    // launcher in tools/ by path (tools is scripts, not a library)
    files: ['e2e/**/*.ts', 'tools/**/*.ts'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
  {
    // per-project jest.config.js and other CommonJS helpers inside projects
    files: ['**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: { ecmaVersion: 2022, sourceType: 'commonjs', globals: nodeCommonJsGlobals },
  },
);
