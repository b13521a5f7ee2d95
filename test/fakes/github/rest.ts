// The fake GitHub's REST operations, keyed by GitHub's operationId.
import { ISSUES } from './rest-issues.js';
import { PULLS } from './rest-pulls.js';
import type { Handler } from './rest-common.js';

export { HttpError, type RestContext, type RestResult } from './rest-common.js';

export const REST: Record<string, Handler> = { ...ISSUES, ...PULLS };
