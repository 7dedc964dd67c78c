/** `npm run openapi`: writes openapi.yaml (or the path given) from the route schemas. */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderOpenApi } from './openapi.js';

const target = resolve(process.argv[2] ?? 'openapi.yaml');
writeFileSync(target, await renderOpenApi());
process.stdout.write(`wrote ${target}\n`);
