// `orch task route ID [--agent A] [--complexity C]`: route a task again. Its agent and tier
// are cleared (or pinned to what was given), it goes back to `new`, and the router decides;
// the call waits for that decision unless told not to.
import type { RouteTaskRequest } from '../../proto/gen/orch/v1/coordinator.js';
import type { Coordinator } from '../coordinator.js';
import { COMPLEXITIES, type Complexity } from '../router.js';
import { InvalidArgument } from './handlers.js';

export async function routeTask(c: Coordinator, req: RouteTaskRequest): Promise<void> {
  const task = await c.store.getTask(req.id);
  if (!task) throw new InvalidArgument(`task ${req.id} not found`);
  if (req.complexity && !COMPLEXITIES.includes(req.complexity as Complexity)) {
    throw new InvalidArgument(`unknown complexity "${req.complexity}": use simple, medium or complex`);
  }
  const known = c.knownAgents(task.project);
  if (req.agent && !known.includes(req.agent)) {
    throw new InvalidArgument(`no node has agent "${req.agent}" and none is configured here (known: ${known.join(', ') || 'none'})`);
  }
  const cfg = c.projectConfig(task.project).router ?? {};
  const waitMs = (cfg.timeout_seconds ?? 120) * 1000 * (cfg.max_tries ?? 2) + 30_000;
  let stop = () => {};
  const decided = new Promise<void>((resolve) => {
    let rerouted = false;
    const timer = setTimeout(resolve, waitMs);
    timer.unref();
    stop = c.onTaskChanged((t) => {
      if (t.id !== req.id) return;
      if (t.status === 'new') rerouted = true;
      else if (rerouted) { clearTimeout(timer); resolve(); }
    });
  });
  try {
    await c.ask(req.id, {
      op: 'external', ev: { type: 'reroute', agent: req.agent, by: 'user' },
      patch: { agent: req.agent, complexity: req.complexity, model: '', spent: 0 },
    });
    if (!req.noWait) await decided;
  } finally {
    stop();
  }
}
