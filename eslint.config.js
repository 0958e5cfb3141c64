// Lint rules, including the import direction of the architecture (design.md section 2):
// src/ never reaches into electron, react or the renderer; renderer/ sees only src/api;
// the pure engines (templates, policy) do no I/O; src/api imports nothing of ours.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const uiModules = ['electron', 'react', 'react-dom', 'react-dom/*'];
const ioModules = [
  'fs',
  'node:fs',
  'fs/promises',
  'node:fs/promises',
  'sqlite3',
  'serialport',
  'pkcs11js',
  'child_process',
  'node:child_process',
  'net',
  'node:net',
  'http',
  'node:http',
];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      '.bench/**',
      'node_modules/**',
      'electron/node_modules/**',
      'electron/dist/**',
      'renderer/dist/**',
      'coverage/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['src/**/*.ts', 'hardware/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: uiModules.map((name) => ({
            name,
            message: 'The station core never imports UI code (design.md 2).',
          })),
          patterns: [
            {
              group: ['**/renderer/**', '**/electron/**'],
              message: 'The core never imports the UI or the shell.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['hardware/**/*.ts'],
    ignores: ['hardware/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: uiModules.map((name) => ({ name, message: 'Hardware code never imports UI code.' })),
          patterns: [
            {
              group: ['**/src/*', '!**/src/api', '!**/src/api/*', '**/renderer/**', '**/electron/**'],
              message: 'hardware/ depends only on src/api (design.md 2).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/api/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['../*', '!./*'], message: 'src/api is the contract: it imports nothing of ours.' },
          ],
        },
      ],
    },
  },
  {
    files: ['src/templates/**/*.ts', 'src/policy/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...uiModules, ...ioModules].map((name) => ({
            name,
            message: 'Templates and policies are pure: no I/O.',
          })),
          patterns: [
            {
              group: [
                '**/registry/**',
                '**/keys/**',
                '**/pki/**',
                '**/provisioning/**',
                '**/hardware/**',
                '**/renderer/**',
              ],
              message: 'Templates and policies are pure engines: they import only src/api and each other.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['renderer/**/*.ts', 'renderer/**/*.tsx'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['electron', ...ioModules].map((name) => ({
            name,
            message: 'The renderer talks only to StationApi.',
          })),
          patterns: [
            {
              group: [
                '**/src/*',
                '!**/src/api',
                '!**/src/api/*',
                '**/hardware/**',
                '**/electron/**',
                'node:*',
              ],
              message: 'renderer/ imports only src/api (design.md 2).',
            },
          ],
        },
      ],
    },
  },
);
