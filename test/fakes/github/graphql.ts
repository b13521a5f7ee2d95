// The fake GitHub's GraphQL endpoint, executed by graphql-js against GitHub's published
// schema (@octokit/graphql-schema): a query or mutation that is not valid against the real
// schema fails here as it would on GitHub. Backed by Projects V2 boards and sub-issues.
import { schema as published } from '@octokit/graphql-schema';
import { buildSchema, execute, parse, validate, type DocumentNode, type GraphQLSchema } from 'graphql';
import { nodeId, type GitHubState } from './state.js';

let schema: GraphQLSchema | undefined;
function githubSchema(): GraphQLSchema {
  schema ??= buildSchema(published.idl, { assumeValidSDL: true });
  return schema;
}

export interface FakeProject {
  id: string; number: number; title: string; owner: string;
  statusField: { id: string; name: string; options: Array<{ id: string; name: string }> };
  /** item id -> content node id and the Status option chosen. */
  items: Map<string, { contentId: string; statusOptionId: string | null }>;
}

export class GraphQLFake {
  readonly projects = new Map<string, FakeProject>();
  private n = 0;

  constructor(private readonly state: GitHubState) {}

  createProject(owner: string, title: string, statusOptions: string[]): FakeProject {
    const number = ++this.n;
    const p: FakeProject = {
      id: nodeId('PVT', this.state.nextId()), number, title, owner,
      statusField: { id: nodeId('PVTSSF', this.state.nextId()), name: 'Status', options: statusOptions.map((name) => ({ id: nodeId('PVTSSO', this.state.nextId()), name })) },
      items: new Map(),
    };
    this.projects.set(p.id, p);
    return p;
  }

  /** The Status option name of the item holding this content (issue/PR node id), if any. */
  column(projectId: string, contentId: string): string | undefined {
    const p = this.projects.get(projectId);
    const item = [...(p?.items.values() ?? [])].find((i) => i.contentId === contentId);
    return p?.statusField.options.find((o) => o.id === item?.statusOptionId)?.name;
  }

  private projectObject(p: FakeProject): Record<string, unknown> {
    const field = { __typename: 'ProjectV2SingleSelectField', id: p.statusField.id, name: p.statusField.name, dataType: 'SINGLE_SELECT',
      options: p.statusField.options.map((o) => ({ ...o, nameHTML: o.name, color: 'GRAY', description: '', descriptionHTML: '' })) };
    const title = { __typename: 'ProjectV2Field', id: `${p.id}-title`, name: 'Title', dataType: 'TITLE' };
    const fields = [title, field];
    return {
      __typename: 'ProjectV2', id: p.id, number: p.number, title: p.title, closed: false, public: false,
      url: `https://github.com/orgs/${p.owner}/projects/${p.number}`,
      fields: ({ first }: { first?: number }) => ({ nodes: fields.slice(0, first ?? 100), totalCount: fields.length, pageInfo: { hasNextPage: false, endCursor: null } }),
      field: ({ name }: { name: string }) => fields.find((f) => f.name.toLowerCase() === name.toLowerCase()) ?? null,
      items: ({ first }: { first?: number }) => {
        const nodes = [...p.items.entries()].slice(0, first ?? 100).map(([id, it]) => ({ __typename: 'ProjectV2Item', id, content: this.contentById(it.contentId) }));
        return { nodes, totalCount: p.items.size, pageInfo: { hasNextPage: false, endCursor: null } };
      },
    };
  }

  private contentById(id: string): Record<string, unknown> | null {
    for (const r of this.state.repos.values()) {
      for (const i of r.issues.values()) {
        if (i.nodeId === id) return { __typename: i.pull ? 'PullRequest' : 'Issue', id: i.nodeId, number: i.number, title: i.title, url: `https://github.com/${r.owner}/${r.name}/issues/${i.number}` };
      }
    }
    return null;
  }

  private connection(list: FakeProject[], first?: number) {
    const nodes = list.slice(0, first ?? 100).map((p) => this.projectObject(p));
    return { nodes, totalCount: list.length, pageInfo: { hasNextPage: false, endCursor: null } };
  }

  private root(login: string) {
    const owned = (owner: string) => [...this.projects.values()].filter((p) => p.owner.toLowerCase() === owner.toLowerCase());
    const ownerObject = (owner: string, typename: string) => ({
      __typename: typename, login: owner, id: nodeId('O', 1),
      projectsV2: ({ first }: { first?: number }) => this.connection(owned(owner), first),
      projectV2: ({ number }: { number: number }) => { const p = owned(owner).find((x) => x.number === number); return p ? this.projectObject(p) : null; },
    });
    return {
      viewer: () => ownerObject(login, 'User'),
      repositoryOwner: ({ login: l }: { login: string }) => ownerObject(l, 'Organization'),
      organization: ({ login: l }: { login: string }) => ownerObject(l, 'Organization'),
      user: ({ login: l }: { login: string }) => ownerObject(l, 'User'),
      repository: ({ owner, name }: { owner: string; name: string }) => {
        const r = this.state.repo(`${owner}/${name}`);
        if (!r) return null;
        return { __typename: 'Repository', id: r.nodeId, name: r.name, projectsV2: ({ first }: { first?: number }) => this.connection(owned(owner), first),
          issue: ({ number }: { number: number }) => { const i = r.issues.get(number); return i && !i.pull ? this.contentById(i.nodeId) : null; } };
      },
      node: ({ id }: { id: string }) => {
        const p = this.projects.get(id);
        return p ? this.projectObject(p) : this.contentById(id);
      },
      addProjectV2ItemById: ({ input }: { input: { projectId: string; contentId: string } }) => {
        const p = this.projects.get(input.projectId);
        if (!p) throw new Error(`Could not resolve to a node with the global id of '${input.projectId}'`);
        if (!this.contentById(input.contentId)) throw new Error(`Could not resolve to a node with the global id of '${input.contentId}'`);
        let id = [...p.items.entries()].find(([, it]) => it.contentId === input.contentId)?.[0];
        if (!id) { id = nodeId('PVTI', this.state.nextId()); p.items.set(id, { contentId: input.contentId, statusOptionId: null }); }
        return { item: { __typename: 'ProjectV2Item', id, content: this.contentById(input.contentId) } };
      },
      updateProjectV2ItemFieldValue: ({ input }: { input: { projectId: string; itemId: string; fieldId: string; value: { singleSelectOptionId?: string } } }) => {
        const p = this.projects.get(input.projectId);
        const item = p?.items.get(input.itemId);
        if (!p || !item) throw new Error(`Could not resolve to a node with the global id of '${input.itemId}'`);
        if (input.fieldId !== p.statusField.id) throw new Error(`The field ${input.fieldId} does not belong to the project`);
        const opt = p.statusField.options.find((o) => o.id === input.value.singleSelectOptionId);
        if (!opt) throw new Error(`The single select option Id does not belong to the field`);
        item.statusOptionId = opt.id;
        return { projectV2Item: { __typename: 'ProjectV2Item', id: input.itemId } };
      },
      addSubIssue: ({ input }: { input: { issueId: string; subIssueId: string } }) => {
        for (const r of this.state.repos.values()) {
          const parent = [...r.issues.values()].find((i) => i.nodeId === input.issueId);
          const child = [...r.issues.values()].find((i) => i.nodeId === input.subIssueId);
          if (parent && child) {
            if (!parent.subIssues.includes(child.number)) parent.subIssues.push(child.number);
            return { issue: this.contentById(parent.nodeId), subIssue: this.contentById(child.nodeId) };
          }
        }
        throw new Error('Could not resolve the issue or sub-issue');
      },
    };
  }

  /** Run a request; `invalid` lists what makes it invalid against GitHub's schema (a violation, not an answer). */
  async execute(login: string, body: { query?: string; variables?: Record<string, unknown> }): Promise<{ response: { data?: unknown; errors?: Array<{ message: string }> }; invalid: string[] }> {
    if (typeof body?.query !== 'string') return { response: { errors: [{ message: 'A query attribute must be specified and must be a string.' }] }, invalid: ['GraphQL request without a query'] };
    let doc: DocumentNode;
    try {
      doc = parse(body.query);
    } catch (err) {
      return { response: { errors: [{ message: (err as Error).message }] }, invalid: [`GraphQL syntax: ${(err as Error).message}`] };
    }
    const problems = validate(githubSchema(), doc);
    if (problems.length) return { response: { errors: problems.map((e) => ({ message: e.message })) }, invalid: problems.map((e) => `GraphQL: ${e.message}`) };
    const result = await execute({ schema: githubSchema(), document: doc, rootValue: this.root(login), variableValues: body.variables });
    const response: { data?: unknown; errors?: Array<{ message: string }> } = {};
    if (result.data) response.data = result.data;
    if (result.errors) response.errors = result.errors.map((e) => ({ message: e.message, type: 'NOT_FOUND', path: e.path }));
    return { response, invalid: [] };
  }
}
