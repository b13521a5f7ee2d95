// The config.yml a deployed node runs with: whatever the host's file already holds
// (kept across upgrades), then the operator's --node-config file, then what deploy
// owns: the coordinator, NATS, the node's name and slots, and the cluster token.
import { parseDocument } from 'yaml';
import { CliError } from '../client.js';

export interface NodeSettings {
  name: string;
  slots?: number;
  coordinator: string;
  natsUrl: string;
  token: string;
}

function parseMap(text: string, what: string): Record<string, unknown> {
  const doc = parseDocument(text);
  if (doc.errors.length) throw new CliError(`${what}: ${doc.errors[0].message}`, 2);
  const v = doc.toJS() as unknown;
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new CliError(`${what}: the top level must be a map of sections`, 2);
  return v as Record<string, unknown>;
}

function section(o: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = o[key];
  const s = v && typeof v === 'object' && !Array.isArray(v) ? { ...(v as Record<string, unknown>) } : {};
  o[key] = s;
  return s;
}

/** The node's config.yml text (YAML). */
export function nodeConfigYaml(existing: string, extra: { text: string; file: string } | undefined, s: NodeSettings): string {
  const out: Record<string, unknown> = { ...parseMap(existing, "the host's existing config.yml") };
  if (extra) for (const [k, v] of Object.entries(parseMap(extra.text, extra.file))) {
    // One level deep: a section in the extra file replaces keys of that section, not the whole section.
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' && !Array.isArray(out[k])
      ? { ...(out[k] as object), ...(v as object) } : v;
  }
  const node = section(out, 'node');
  node.name = s.name;
  node.coordinator = s.coordinator;
  if (s.slots !== undefined) node.slots = s.slots;
  section(out, 'nats').url = s.natsUrl;
  section(out, 'cluster').token = s.token;
  const doc = parseDocument('');
  doc.contents = doc.createNode(out) as typeof doc.contents;
  return '# Written by `orch node deploy` (mode 0600: it holds the cluster token).\n' + doc.toString();
}
