// The one config loader: parse YAML with positions, validate against the schema
// (errors name file, line and key; unknown keys are warnings, since users carry
// Rust orch keys we do not use yet), expand ${VAR}, merge project overrides.
import { existsSync, readFileSync, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { projectNameProblem } from '../names.js';
import { ConfigError } from './errors.js';
import { defaultConfig, RULES, type OrchConfig, type Rule } from './schema.js';

export type PartialConfig = Record<string, unknown>;

function ruleFor(path: string[]): Rule | undefined {
  const exact = RULES[path.join('.')];
  if (exact) return exact;
  for (const [k, r] of Object.entries(RULES)) {
    const parts = k.split('.');
    if (parts.length === path.length && parts.every((p, i) => p === '*' || p === path[i])) return r;
  }
  return undefined;
}

function expandEnv(s: string, file: string, pos: () => [number, number], key: string, expand: boolean): string {
  if (!expand) return s;
  return s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const v = process.env[name];
    if (v === undefined) {
      const [line, col] = pos();
      throw new ConfigError(file, `environment variable ${name} is not set`, line, col, key);
    }
    return v;
  });
}

/** Parse + validate one YAML text. Returns only the keys present, plus warnings for unknown keys. */
export function parseConfigText(text: string, file: string, opts: { expandEnv?: boolean } = {}): { config: PartialConfig; warnings: string[] } {
  const expand = opts.expandEnv ?? true;
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const p = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
    throw new ConfigError(file, e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, ''), p?.line, p?.col);
  }
  const warnings: string[] = [];
  const root = doc.contents as Node | null;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) return { config: {}, warnings };
  const at = (n: Node | null | undefined): [number, number] => {
    const r = n?.range;
    if (!r) return [0, 0];
    const p = lc.linePos(r[0]);
    return [p.line, p.col];
  };
  const fail = (n: Node | null | undefined, key: string, problem: string): never => {
    const [line, col] = at(n);
    throw new ConfigError(file, problem, line || undefined, col || undefined, key);
  };
  if (!isMap(root)) fail(root, '', 'the file must be a map of keys (e.g. `workflow:`), not a list or a scalar');

  const describe = (n: Node): string => (isScalar(n) ? JSON.stringify(n.value) : isSeq(n) ? 'a list' : isMap(n) ? 'a map' : 'something else');

  const walk = (n: Node, path: string[]): unknown => {
    const key = path.join('.');
    const rule = path.length ? ruleFor(path) : ({ t: 'map' } as Rule);
    if (!rule) {
      const [line] = at(n);
      warnings.push(`${file}:${line}: unknown key ${key} (ignored)`);
      return undefined;
    }
    const str = (x: Node, k: string): string => {
      if (!isScalar(x) || (typeof x.value !== 'string' && typeof x.value !== 'number' && typeof x.value !== 'boolean')) fail(x, k, `expected text, got ${describe(x)}`);
      return expandEnv(String((x as { value: unknown }).value), file, () => at(x), k, expand);
    };
    switch (rule.t) {
      case 'map': {
        if (isScalar(n) && n.value === null) return {};
        if (!isMap(n)) return fail(n, key, `expected a map, got ${describe(n)}`);
        const out: Record<string, unknown> = {};
        for (const item of n.items) {
          const k = isScalar(item.key) ? String(item.key.value) : '';
          const v = walk((item.value ?? { range: (item.key as Node)?.range }) as Node, [...path, k]);
          if (v !== undefined) out[k] = v;
        }
        return out;
      }
      case 'string': return str(n, key);
      case 'repo': {
        const v = str(n, key);
        const problem = projectNameProblem(v);
        return problem ? fail(n, key, problem) : v;
      }
      case 'bool':
        if (!isScalar(n) || typeof n.value !== 'boolean') return fail(n, key, `expected true or false, got ${describe(n)}`);
        return n.value;
      case 'posint': case 'nonnegint': {
        const min = rule.t === 'posint' ? 1 : 0;
        if (!isScalar(n) || typeof n.value !== 'number' || !Number.isInteger(n.value) || n.value < min) {
          return fail(n, key, `expected a ${min ? 'positive' : 'non-negative'} integer, got ${describe(n)}`);
        }
        return n.value;
      }
      case 'posnum':
        if (!isScalar(n) || typeof n.value !== 'number' || !(n.value > 0)) return fail(n, key, `expected a positive number, got ${describe(n)}`);
        return n.value;
      case 'nonnegnum':
        if (!isScalar(n) || typeof n.value !== 'number' || !(n.value >= 0)) return fail(n, key, `expected a number of 0 or more, got ${describe(n)}`);
        return n.value;
      case 'enum': {
        const v = str(n, key);
        if (!rule.of.includes(v)) return fail(n, key, `expected one of ${rule.of.join(', ')}, got ${JSON.stringify(v)}`);
        return v;
      }
      case 'strings':
        if (!isSeq(n)) return fail(n, key, `expected a list of text, got ${describe(n)}`);
        return n.items.map((x, i) => str(x as Node, `${key}[${i}]`));
      case 'stringmap': {
        if (!isMap(n)) return fail(n, key, `expected a map of text, got ${describe(n)}`);
        const out: Record<string, string> = {};
        for (const item of n.items) {
          const k = isScalar(item.key) ? String(item.key.value) : '';
          out[k] = str(item.value as Node, `${key}.${k}`);
        }
        return out;
      }
      case 'model':
        if (isSeq(n)) return n.items.map((x, i) => str(x as Node, `${key}[${i}]`));
        return str(n, key);
      case 'list':
        if (!isSeq(n)) return fail(n, key, `expected a list, got ${describe(n)}`);
        return n.toJSON();
    }
  };
  return { config: walk(root as Node, []) as PartialConfig, warnings };
}

/** Deep merge: maps merge, lists and scalars replace. */
export function mergeConfig<T>(base: T, over: PartialConfig): T {
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
      ? mergeConfig(b, v as PartialConfig)
      : v;
  }
  return out as T;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(file, `cannot read: ${(err as Error).message}`);
  }
}

/** $ORCH_HOME/config.yml over defaults (a missing file means defaults). */
export async function loadGlobalConfig(orchHome: string): Promise<{ config: OrchConfig; file: string; warnings: string[] }> {
  const file = join(orchHome, 'config.yml');
  const text = await readIfExists(file);
  if (text === undefined) return { config: defaultConfig(), file, warnings: [] };
  const { config, warnings } = parseConfigText(text, file);
  return { config: mergeConfig(defaultConfig(), config), file, warnings };
}

/**
 * The global config overridden by <projectDir>/.orch.yml when present. A repository's own
 * file is not trusted with the coordinator's environment: `${VAR}` stays literal there unless
 * the project is named in config.yml's `trusted_projects` (an operator's decision, never the
 * repository's: `trusted_projects` in a .orch.yml is ignored).
 */
export async function loadProjectConfig(global: OrchConfig, projectDir: string, project?: string): Promise<{ config: OrchConfig; file?: string; warnings: string[] }> {
  const file = join(projectDir, '.orch.yml');
  const text = await readIfExists(file);
  if (text === undefined) return { config: global, warnings: [] };
  const trusted = !!project && (global.trusted_projects ?? []).includes(project);
  const { config, warnings } = parseConfigText(text, file, { expandEnv: trusted });
  if ((config as Partial<OrchConfig>).trusted_projects !== undefined) {
    warnings.push(`${file}: trusted_projects is ignored in a project's .orch.yml (only config.yml may trust a project)`);
    delete (config as Partial<OrchConfig>).trusted_projects;
  }
  return { config: mergeConfig(global, config), file, warnings };
}

/** A dotted key (`workflow.max_attempts`) of a config, or undefined. */
export function getKey(config: unknown, dotted: string): unknown {
  let cur: unknown = config;
  for (const part of dotted.split('.').filter(Boolean)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Reload config.yml on change; an invalid change is reported and the old config kept. */
export function watchConfig(file: string, onChange: (c: OrchConfig) => void, onError: (e: ConfigError) => void): () => void {
  let last = existsSync(file) ? readFileSync(file, 'utf8') : '';
  let timer: NodeJS.Timeout | undefined;
  let emptyOnce = false;
  const reload = () => {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (text === last) return;
    // An empty read right after a change is most likely an editor between truncating and
    // writing: look again before taking "no config at all".
    if (!text.trim() && last.trim() && !emptyOnce) {
      emptyOnce = true;
      timer = setTimeout(reload, 500);
      return;
    }
    emptyOnce = false;
    last = text;
    try {
      onChange(mergeConfig(defaultConfig(), parseConfigText(text, file).config));
    } catch (err) {
      if (err instanceof ConfigError) onError(err);
      else onError(new ConfigError(file, (err as Error).message));
    }
  };
  const w = watch(dirname(file), (_e, name) => {
    if (name !== basename(file)) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(reload, 50);
  });
  return () => { if (timer) clearTimeout(timer); w.close(); };
}
