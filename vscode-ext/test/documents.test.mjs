// The views' types against the Go side's JSON Schemas (docs/schema/,
// written from the Go types by server/schema.go): src/documents.ts is what
// json-schema-to-typescript makes of them now, and the extension's sources
// type-check against it, so a field the Go renames or drops, or sends as
// another type, fails here (no VS Code needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate, output } from '../scripts/gen-types.mjs';

const ext = join(dirname(fileURLToPath(import.meta.url)), '..');

test('src/documents.ts is generated from docs/schema/ as it is now', async () => {
  const want = await generate();
  assert.ok(want.includes('export interface DapAnalysis') && want.includes('export interface DapTasks') &&
    want.includes('export interface ModuleProblem'), 'the schemas give the documents the views read');
  assert.equal(readFileSync(output, 'utf8'), want, 'src/documents.ts is stale: run `npm run gen-types`');
});

test('the views type-check against the generated documents', () => {
  const tsc = join(ext, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', ext, '--noEmit'], { encoding: 'utf8' });
  } catch (e) {
    assert.fail(`tsc: a view reads what the documents do not have:\n${e.stdout}${e.stderr}`);
  }
});
