// What GitHub sync needs from the coordinator around it (kept narrow so sync is testable
// and the coordinator stays the only owner of task state: changes go through ask()).
import type { OrchConfig } from '../../runtime/config/index.js';
import type { Store, TaskRow } from '../store/store.js';
import type { TaskMsg } from '../task-actor.js';
import type { SyncStore } from './sync-store.js';
import type { Asker } from '../ask.js';

export interface SyncHost {
  store: Store;
  sync: SyncStore;
  /** The project's effective config (global + its .orch.yml). */
  config(project: string): OrchConfig;
  /** Send a message to a task's actor and wait for the new row. */
  ask(taskId: number, msg: TaskMsg): Promise<TaskRow>;
  /** A task was created: route it. */
  created(task: TaskRow): void;
  /** One-shot agent calls (the review agent), when the coordinator has them. */
  asker?: Asker;
  /** Agents live nodes have now. */
  fleetAgents?(): string[];
  /** The model of a review run by an agent (model_map.review; a list skips cooled-down models). */
  reviewModel?(project: string, agent: string): string;
}
