// GitHub's OpenAPI description (a generated subset, see scripts/github-openapi-subset.mjs)
// as the fake GitHub's router and referee: it matches each request to an operation, checks
// the request's parameters and body and the fake's own response against the schemas, and
// completes the fake's partial objects with the required fields GitHub always sends.
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

type Schema = Record<string, any>;
interface Parameter { name: string; in: 'path' | 'query' | 'header'; required?: boolean; schema: Schema }
export interface Operation {
  operationId: string;
  method: string;
  template: string;
  parameters: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> } | { $ref: string }>;
}
export interface Match { op: Operation; params: Record<string, string> }

const SPEC_ID = 'github';
export const spec: Schema = toJsonSchema(JSON.parse(readFileSync(new URL('./api.github.com.subset.json', import.meta.url), 'utf8')));

/** OpenAPI 3.0's `nullable: true` as JSON Schema: the type or a null. */
function toJsonSchema(node: any): any {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!node || typeof node !== 'object') return node;
  const out: any = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === 'properties' || k === 'examples' || k === 'example' ? (k === 'properties' ? Object.fromEntries(Object.entries(v as object).map(([pk, pv]) => [pk, toJsonSchema(pv)])) : v) : toJsonSchema(v);
  if (out.nullable === true) {
    delete out.nullable;
    if (typeof out.type === 'string' && !out.allOf && !out.anyOf && !out.oneOf && !out.$ref) {
      out.type = [out.type, 'null'];
      if (out.enum && !out.enum.includes(null)) out.enum = [...out.enum, null];
      return out;
    }
    return { anyOf: [out, { type: 'null' }] };
  }
  if (out.nullable === false) delete out.nullable;
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true, coerceTypes: false });
addFormats(ajv);
ajv.addSchema(spec, SPEC_ID);
const coercing = new Ajv({ strict: false, allErrors: true, coerceTypes: true });
addFormats(coercing);
coercing.addSchema(spec, SPEC_ID);

function deref<T>(node: any): T {
  while (node && typeof node === 'object' && typeof node.$ref === 'string') {
    const parts = node.$ref.replace(/^#\//, '').split('/');
    node = parts.reduce((n: any, p: string) => n?.[p], spec);
  }
  return node as T;
}

/** A schema inside the spec, compiled against the spec so its $refs resolve. */
const compiled = new Map<string, ValidateFunction>();
function validator(schema: Schema, coerce = false): ValidateFunction {
  const key = (coerce ? 'c:' : '') + JSON.stringify(schema);
  let v = compiled.get(key);
  if (!v) {
    const fixed = JSON.parse(JSON.stringify(schema).replace(/"\$ref":"#\//g, `"$ref":"${SPEC_ID}#/`));
    v = (coerce ? coercing : ajv).compile(fixed);
    compiled.set(key, v);
  }
  return v;
}

function errorsOf(v: ValidateFunction): string {
  return (v.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '(root)'} ${e.message}${e.params && 'allowedValues' in e.params ? ' ' + JSON.stringify(e.params.allowedValues) : ''}`).join('; ');
}

const operations: Array<Operation & { regex: RegExp; names: string[] }> = [];
for (const [template, methods] of Object.entries(spec.paths as Record<string, Record<string, any>>)) {
  for (const [method, raw] of Object.entries(methods)) {
    const names: string[] = [];
    const regex = new RegExp('^' + template.replace(/[.]/g, '\\.').replace(/\{([^}]+)\}/g, (_m, n: string) => { names.push(n); return '([^/]+)'; }) + '$');
    operations.push({
      operationId: raw.operationId, method: method.toUpperCase(), template, regex, names,
      parameters: (raw.parameters ?? []).map((p: any) => deref<Parameter>(p)),
      requestBody: deref(raw.requestBody), responses: raw.responses,
    });
  }
}

export function matchOperation(method: string, path: string): Match | undefined {
  for (const op of operations) {
    if (op.method !== method) continue;
    const m = op.regex.exec(path);
    if (!m) continue;
    const params: Record<string, string> = {};
    op.names.forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
    return { op, params };
  }
  return undefined;
}

/** Problems with a request orch sent: unknown or missing parameters, a body off its schema. */
export function checkRequest(m: Match, query: URLSearchParams, body: unknown): string[] {
  const problems: string[] = [];
  const at = `${m.op.operationId} (${m.op.method} ${m.op.template})`;
  for (const p of m.op.parameters) {
    const value = p.in === 'path' ? m.params[p.name] : p.in === 'query' ? query.get(p.name) ?? undefined : undefined;
    if (p.in === 'header') continue;
    if (value === undefined) {
      if (p.required) problems.push(`${at}: missing ${p.in} parameter ${p.name}`);
      continue;
    }
    const holder = { v: value };
    const v = validator({ type: 'object', properties: { v: p.schema } }, true);
    if (!v(holder)) problems.push(`${at}: ${p.in} parameter ${p.name}=${JSON.stringify(value)}: ${errorsOf(v)}`);
  }
  for (const name of query.keys()) {
    if (!m.op.parameters.some((p) => p.in === 'query' && p.name === name)) problems.push(`${at}: unknown query parameter ${name}`);
  }
  const schema = m.op.requestBody?.content?.['application/json']?.schema;
  if (schema) {
    if (body === undefined) {
      if (m.op.requestBody?.required) problems.push(`${at}: missing request body`);
    } else {
      const v = validator(schema);
      if (!v(body)) problems.push(`${at}: request body ${errorsOf(v)}`);
    }
  } else if (body !== undefined && m.op.method !== 'GET') {
    problems.push(`${at}: takes no request body`);
  }
  return problems;
}

function responseSchema(op: Operation, status: number): Schema | undefined | null {
  const r = deref<{ content?: Record<string, { schema: Schema }> }>(op.responses[String(status)]);
  if (!r) return null; // status not documented
  return r.content?.['application/json']?.schema;
}

/** Problems with a response the fake sends (its status must be documented; its body must fit). */
export function checkResponse(op: Operation, status: number, body: unknown): string[] {
  const at = `${op.operationId} response ${status}`;
  const schema = responseSchema(op, status);
  if (schema === null) return [`${at}: status not documented for this operation`];
  if (!schema) return body === undefined ? [] : [`${at}: documented without a body`];
  const v = validator(schema);
  return v(body) ? [] : [`${at}: ${errorsOf(v)}`];
}

/** Problems with a webhook payload the fake sends (name as in x-webhooks, e.g. issues-opened). */
export function checkWebhook(name: string, payload: unknown): string[] {
  const schema = webhookSchema(name);
  if (!schema) return [`webhook ${name}: not in the OpenAPI description`];
  const v = validator(schema);
  return v(payload) ? [] : [`webhook ${name}: ${errorsOf(v)}`];
}

function webhookSchema(name: string): Schema | undefined {
  return spec['x-webhooks'][name]?.post?.requestBody?.content?.['application/json']?.schema;
}

// ---- completing partial objects

export interface Filler { baseUrl: string; now: () => Date; nextId: () => number }

/** `partial` with every required property the schema asks for that it lacks, filled plausibly. */
export function complete(schema: Schema, partial: any, f: Filler, name = ''): any {
  schema = deref(schema);
  if (schema.allOf) return schema.allOf.reduce((acc: any, s: Schema) => complete(s, acc, f, name), partial);
  if (schema.oneOf || schema.anyOf) {
    const options: Schema[] = (schema.oneOf ?? schema.anyOf).map((s: Schema) => deref<Schema>(s));
    if (partial === undefined && options.some((o) => o.type === 'null')) return null;
    if (partial === undefined) return complete(options.find((o) => o.type !== 'null' && !o.nullable) ?? options[0], undefined, f, name);
    const fits = options.find((o) => validator(o)(partial));
    if (fits) return partial;
    const objectOption = options.find((o) => o.type === 'object' || o.properties);
    return complete(objectOption ?? options[0], partial, f, name);
  }
  if (partial !== undefined) {
    if (partial !== null && typeof partial === 'object' && !Array.isArray(partial) && schema.properties) {
      const out: any = { ...partial };
      for (const key of schema.required ?? []) {
        if (!(key in out)) out[key] = complete(schema.properties[key] ?? {}, undefined, f, key);
        else if (out[key] !== null && typeof out[key] === 'object' && !Array.isArray(out[key]) && schema.properties[key]) out[key] = complete(schema.properties[key], out[key], f, key);
      }
      return out;
    }
    if (Array.isArray(partial) && schema.items) return partial.map((x) => complete(schema.items, x, f, name));
    return partial;
  }
  if (Array.isArray(schema.type) && schema.type.includes('null')) return null;
  if (schema.enum) return schema.enum[0];
  if ('default' in schema) return schema.default;
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type ?? (schema.properties ? 'object' : 'string');
  switch (type) {
    case 'object': return complete(schema, {}, f, name);
    case 'array': return [];
    case 'integer': case 'number': return name === 'id' ? f.nextId() : 0;
    case 'boolean': return false;
    case 'null': return null;
    default:
      if (schema.format === 'uri' || name.endsWith('_url') || name === 'url') return `${f.baseUrl}/${name || 'x'}`;
      if (schema.format === 'date-time') return f.now().toISOString();
      if (schema.format === 'email') return 'someone@example.com';
      return '';
  }
}

export function schemaOf(ref: string): Schema {
  return { $ref: `#/components/schemas/${ref}` };
}

export function responseSchemaOf(op: Operation, status: number): Schema | undefined {
  return responseSchema(op, status) ?? undefined;
}

export function webhookSchemaOf(name: string): Schema {
  const s = webhookSchema(name);
  if (!s) throw new Error(`webhook ${name} is not in the OpenAPI subset: add it to scripts/github-openapi-subset.mjs`);
  return s;
}
