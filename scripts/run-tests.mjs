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
// SCRAM_SECRETS_TEST_EXCLUDE leaves out the files whose path contains it, and says so.
const exclude = process.env.SCRAM_SECRETS_TEST_EXCLUDE;
const found = findTests('dist/test')
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();
const files = found.filter((file) => !exclude || !file.includes(exclude));
if (files.length < found.length) {
  const leftOut = found.length - files.length;
  console.log(`Left out (SCRAM_SECRETS_TEST_EXCLUDE=${exclude}): ${leftOut} files`);
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
