// Projects V2 over GraphQL: find the board's Status field and its options by name, put
// each issue on the board, and move it to the column of its task's status.
import { logger } from '../../runtime/log.js';
import type { TaskRow } from '../store/store.js';
import { columnFor, optionFor, type Column } from './board.js';
import type { GitHubClient } from './client.js';
import type { GitHubRepo } from './repo-api.js';
import type { SyncStore, TaskSync } from './sync-store.js';

const log = logger('github.board');

export interface BoardInfo {
  id: string; title: string; url: string;
  status: { id: string; name: string; options: Array<{ id: string; name: string }> } | undefined;
}

const FIELDS = `query($id: ID!) { node(id: $id) { ... on ProjectV2 { id title url
  fields(first: 50) { nodes { ... on ProjectV2SingleSelectField { id name options { id name } } } } } } }`;

export async function boardInfo(gh: GitHubClient, projectId: string, statusFieldId?: string): Promise<BoardInfo> {
  const r = await gh.graphql<{ node: { id: string; title: string; url: string; fields: { nodes: Array<{ id?: string; name?: string; options?: Array<{ id: string; name: string }> }> } } | null }>(FIELDS, { id: projectId });
  if (!r.node) throw new Error(`gh.project_id ${projectId}: no such Projects V2 board (or no access)`);
  const fields = r.node.fields.nodes.filter((f) => f.id && f.options);
  const status = fields.find((f) => (statusFieldId ? f.id === statusFieldId : f.name?.toLowerCase() === 'status'));
  return { id: r.node.id, title: r.node.title, url: r.node.url, status: status ? { id: status.id!, name: status.name!, options: status.options! } : undefined };
}

export async function listBoards(gh: GitHubClient, owner: string): Promise<Array<{ id: string; title: string; number: number; url: string }>> {
  const q = `query($login: String!) { repositoryOwner(login: $login) { ... on ProjectV2Owner { projectsV2(first: 50) { nodes { id title number url } } } } }`;
  const r = await gh.graphql<{ repositoryOwner: { projectsV2?: { nodes: Array<{ id: string; title: string; number: number; url: string }> } } | null }>(q, { login: owner });
  return r.repositoryOwner?.projectsV2?.nodes ?? [];
}

export class BoardSync {
  private info: BoardInfo | undefined;
  private warned = new Set<string>();

  constructor(private readonly gh: GitHubClient, private readonly projectId: string, private readonly repo: GitHubRepo, private readonly sync: SyncStore,
    private readonly opts: { statusFieldId?: string; statusMap?: Record<string, string> }) {}

  private async board(): Promise<BoardInfo> {
    this.info ??= await boardInfo(this.gh, this.projectId, this.opts.statusFieldId);
    return this.info;
  }

  /** Put the task's issue on the board in its status's column (once per column change). */
  async place(task: TaskRow, s: TaskSync): Promise<void> {
    const column: Column = columnFor(task.status);
    if (s.boardColumn === column || task.issueNumber === null) return;
    const b = await this.board();
    const option = b.status && optionFor(column, b.status.options, this.opts.statusMap);
    if (!b.status || !option) {
      if (!this.warned.has(column)) log.warn('board has no Status option for a column; set gh.project_status_map', { board: b.title, column, options: b.status?.options.map((o) => o.name) ?? [] });
      this.warned.add(column);
      return;
    }
    const nodeId = s.issueNodeId || (await this.repo.getIssue(task.issueNumber)).nodeId;
    let item = s.boardItem;
    if (!item) {
      const r = await this.gh.graphql<{ addProjectV2ItemById: { item: { id: string } } }>(
        `mutation($project: ID!, $content: ID!) { addProjectV2ItemById(input: { projectId: $project, contentId: $content }) { item { id } } }`,
        { project: b.id, content: nodeId });
      item = r.addProjectV2ItemById.item.id;
      await this.sync.set(task.id, { boardItem: item, issueNodeId: nodeId });
    }
    await this.gh.graphql(
      `mutation($project: ID!, $item: ID!, $field: ID!, $option: String!) {
        updateProjectV2ItemFieldValue(input: { projectId: $project, itemId: $item, fieldId: $field, value: { singleSelectOptionId: $option } }) { projectV2Item { id } } }`,
      { project: b.id, item, field: b.status.id, option });
    await this.sync.set(task.id, { boardColumn: column });
  }
}
