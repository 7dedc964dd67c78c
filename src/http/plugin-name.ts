/**
 * The name fastify reports a plugin by (what fastify-plugin sets as
 * "fastify.display-name"). A plugin without one is looked up, twice a
 * registration, among the exports of every module the process has loaded: a
 * cost that grows with the modules loaded, paid again by every app a process
 * builds (a test process builds hundreds).
 */
const DISPLAY_NAME = Symbol.for('fastify.display-name');

export function named<T extends object>(plugin: T, name: string = (plugin as { name?: string }).name || 'plugin'): T {
  if (!Object.prototype.hasOwnProperty.call(plugin, DISPLAY_NAME)) Object.defineProperty(plugin, DISPLAY_NAME, { value: name });
  return plugin;
}
