#!/usr/bin/env node
// Regenerates proto/gen from proto/orch/v1/*.proto with buf (npm) and ts-proto,
// offline. With --check it generates into a temp dir and fails when the
// checked-in code differs, so stale generated code never lands.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname);
const check = process.argv.includes('--check');
const out = check ? mkdtempSync(join(tmpdir(), 'orch-proto-')) : join(root, 'proto', 'gen');

const template = {
  version: 'v2',
  plugins: [
    {
      local: join(root, 'node_modules', '.bin', 'protoc-gen-ts_proto'),
      out,
      opt: [
        'outputServices=grpc-js',
        'esModuleInterop=true',
        'forceLong=number',
        'importSuffix=.js',
        'env=node',
        'useDate=false',
        'snakeToCamel=true',
      ],
    },
  ],
};

function files(dir) {
  const acc = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) acc.push(...files(p));
    else acc.push(p);
  }
  return acc.sort();
}

if (!check) rmSync(out, { recursive: true, force: true });
execFileSync(join(root, 'node_modules', '.bin', 'buf'), ['generate', '--template', JSON.stringify(template), 'proto'], {
  cwd: root,
  stdio: 'inherit',
});

if (check) {
  const current = join(root, 'proto', 'gen');
  const want = files(out).map((f) => relative(out, f));
  const have = (() => { try { return files(current).map((f) => relative(current, f)); } catch { return []; } })();
  const stale = [];
  for (const f of new Set([...want, ...have])) {
    if (f === '.gitattributes') continue;
    let a = null, b = null;
    try { a = readFileSync(join(out, f), 'utf8'); } catch {}
    try { b = readFileSync(join(current, f), 'utf8'); } catch {}
    if (a !== b) stale.push(f);
  }
  rmSync(out, { recursive: true, force: true });
  if (stale.length) {
    console.error(`proto/gen is stale (${stale.join(', ')}): run \`npm run proto\` and commit the result`);
    process.exit(1);
  }
  console.log('proto/gen is up to date');
} else {
  writeFileSync(join(out, '.gitattributes'), '* linguist-generated=true\n');
}
