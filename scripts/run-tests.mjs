#!/usr/bin/env node
// Runs every compiled test file with Node's own test runner. Node 20 cannot expand globs
// itself, so the files are found here. Arguments narrow the run to paths containing them.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function findTests(directory) {
  return readdirSync(directory).flatMap((entry) => {
    const path = join(directory, entry);
    if (statSync(path).isDirectory()) return findTests(path);
    return entry.endsWith('.test.js') ? [path] : [];
  });
}

const filters = process.argv.slice(2);
// SCRAM_SECRETS_TEST_EXCLUDE, a comma-separated list, leaves out the files whose path contains
// any of its parts, and says which.
const excludes = (process.env.SCRAM_SECRETS_TEST_EXCLUDE ?? '')
  .split(',')
  .map((part) => part.trim())
  .filter((part) => part !== '');
const found = findTests('dist/test')
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();
const excluded = (file) => excludes.some((part) => file.includes(part));
const files = found.filter((file) => !excluded(file));
if (files.length < found.length) {
  const leftOut = found.filter(excluded);
  console.log(`Left out (SCRAM_SECRETS_TEST_EXCLUDE): ${leftOut.length} files`);
  for (const file of leftOut) console.log(`  ${file}`);
}
if (files.length === 0) {
  console.error('No test files found under dist/test; did the build run?');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit', env: { ...process.env, NODE_NO_WARNINGS: '1' } },
);
process.exit(result.status ?? 1);
