// Config: the one loader, its schema and its errors.
export { ConfigError } from './errors.js';
export { getKey, loadGlobalConfig, loadProjectConfig, mergeConfig, parseConfigText, watchConfig, type PartialConfig } from './load.js';
export { defaultConfig, type AgentConfig, type AgentKind, type OrchConfig } from './schema.js';
