/** `npm run asyncapi`: writes asyncapi.yaml (or the path given) from the WebSocket message schemas. */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderAsyncApi } from './asyncapi.js';

const target = resolve(process.argv[2] ?? 'asyncapi.yaml');
writeFileSync(target, renderAsyncApi());
process.stdout.write(`wrote ${target}\n`);
