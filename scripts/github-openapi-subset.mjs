#!/usr/bin/env node
// Writes test/fakes/github/api.github.com.subset.json: the operations and webhooks of
// GitHub's OpenAPI description (@octokit/openapi) that orch uses, with every component
// they reference. The fake GitHub routes and validates by it; the full file is 13 MB.
// Run after adding an operation: node scripts/github-openapi-subset.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const full = JSON.parse(readFileSync(require.resolve('@octokit/openapi/generated/api.github.com.json'), 'utf8'));

export const OPERATIONS = [
  'users/get-authenticated', 'apps/get-authenticated', 'rate-limit/get', 'apps/create-installation-access-token', 'apps/get-repo-installation',
  'repos/get', 'repos/get-collaborator-permission-level', 'repos/get-combined-status-for-ref', 'repos/create-commit-status',
  'issues/list-for-repo', 'issues/get', 'issues/create', 'issues/update', 'issues/add-labels', 'issues/remove-label',
  'issues/list-labels-on-issue', 'issues/create-label', 'issues/list-labels-for-repo',
  'issues/create-comment', 'issues/list-comments', 'issues/list-comments-for-repo',
  'pulls/create', 'pulls/list', 'pulls/get', 'pulls/update', 'pulls/merge', 'pulls/list-reviews', 'pulls/create-review',
  'checks/list-for-ref', 'checks/create', 'checks/update', 'git/delete-ref',
];
export const WEBHOOKS = [
  'issues-opened', 'issues-edited', 'issues-closed', 'issues-reopened', 'issues-labeled', 'issues-unlabeled',
  'issue-comment-created', 'issue-comment-edited', 'pull-request-opened', 'pull-request-edited', 'pull-request-reopened', 'pull-request-labeled', 'pull-request-unlabeled', 'pull-request-closed', 'pull-request-synchronize',
  'pull-request-review-submitted', 'check-run-completed', 'check-suite-completed', 'status',
];

const out = { openapi: full.openapi, info: full.info, paths: {}, 'x-webhooks': {}, components: {} };
const seen = new Set();
function collect(node) {
  if (Array.isArray(node)) { node.forEach(collect); return; }
  if (!node || typeof node !== 'object') return;
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/')) {
      if (seen.has(v)) continue;
      seen.add(v);
      const [, , kind, name] = v.split('/');
      const target = full.components[kind][name];
      (out.components[kind] ??= {})[name] = target;
      collect(target);
    } else collect(v);
  }
}
const found = new Set();
for (const [path, methods] of Object.entries(full.paths)) {
  for (const [method, op] of Object.entries(methods)) {
    if (!OPERATIONS.includes(op?.operationId)) continue;
    const { description, ...rest } = op; // prose is most of the size
    (out.paths[path] ??= {})[method] = rest;
    found.add(op.operationId);
  }
}
for (const name of WEBHOOKS) {
  if (!full['x-webhooks'][name]) throw new Error(`webhook ${name} is not in the OpenAPI description`);
  out['x-webhooks'][name] = full['x-webhooks'][name];
}
const missing = OPERATIONS.filter((o) => !found.has(o));
if (missing.length) throw new Error(`operations not in the OpenAPI description: ${missing.join(', ')}`);
collect(out.paths);
collect(out['x-webhooks']);
const target = new URL('../test/fakes/github/api.github.com.subset.json', import.meta.url);
writeFileSync(target, JSON.stringify(out) + '\n');
console.log(`wrote ${target.pathname}: ${found.size} operations, ${WEBHOOKS.length} webhooks, ${seen.size} components`);
