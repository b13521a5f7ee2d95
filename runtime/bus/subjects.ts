// Every bus name orch uses, in one place. Node names are sanitised to NATS tokens.

export const ASSIGNMENT_QUEUE = 'ORCH_ASSIGNMENTS';
export const ASSIGNMENT_SUBJECTS = ['orch.assign.>'];
export const HEARTBEAT_BUCKET = 'orch_nodes';

/** A NATS subject token: no dots, spaces, wildcards. */
export function token(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_');
}

export const subjects = {
  /** Assignments placed on one node. */
  assign: (node: string) => `orch.assign.${token(node)}`,
  /** Durable consumer a node pulls its assignments with. */
  assignConsumer: (node: string) => `node_${token(node)}`,
  /** Request/reply control of one node (kill). */
  control: (node: string) => `orch.node.${token(node)}.control`,
  /** Coordinator-wide events (task changed), at most once. */
  taskEvents: 'orch.events.task',
};
