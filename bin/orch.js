#!/usr/bin/env node
// Entry point of the orch CLI; the code lives in dist/ (built by `npm ci` via prepare).
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('orch: not built yet; run `npm run build` in the orch checkout');
    process.exit(1);
  }
  throw err;
});
