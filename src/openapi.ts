/**
 * openapi.yaml is generated from the route schemas, never edited by hand:
 * `npm run openapi` writes it, and a test fails when the committed file and
 * the routes disagree.
 */
import { buildApp } from './app.js';
import { defaultConfig } from './config.js';

export const OPENAPI_HEADER = '# Generated from the route schemas by `npm run openapi`; do not edit by hand.\n';

/** The contract as YAML, from an app built on the default configuration (the environment plays no part). */
export async function renderOpenApi(): Promise<string> {
  // In memory only: generating the contract must not open (or lock) a data directory.
  const app = await buildApp(defaultConfig({ dataDir: '' }), { logger: false });
  try {
    return OPENAPI_HEADER + app.swagger({ yaml: true });
  } finally {
    await app.close();
  }
}
