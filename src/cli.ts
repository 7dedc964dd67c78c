#!/usr/bin/env node
/**
 * The `spikeserve` command. `spikeserve replay CASE.json` replays a recorded
 * case (the format of test/golden, docs/engine.md) and prints its spikes, weights and
 * potentials as one JSON object, the shape of the case's `expect` field.
 */
import { readFileSync } from 'node:fs';
import { BACKEND_NAMES, BACKEND_PROVIDERS, DEFAULT_BACKEND, replay, startBackends, type BackendName } from './engine/index.js';
import { SpikeserveError } from './errors.js';

/** One line per backend: what it is, and the variables it reads with the values that change its default. */
const BACKEND_HELP = BACKEND_PROVIDERS.map((p) => {
  const settings = p.settings.map((s) => `; ${s.env}=${s.values.filter((v) => v !== s.default).join('|')}`).join('');
  return `  --backend ${p.name.padEnd(8)}${p.summary}${settings}`;
}).join('\n');

const USAGE = `usage: spikeserve replay CASE.json|- [--backend ${BACKEND_NAMES.join('|')}]

  replay   replay a recorded case (network, initial_weights, steps: the
           format of the reference trajectories in test/golden) and print
           {"spikes","weights","v"} as JSON. "-" reads the case from
           standard input.

${BACKEND_HELP}`;

function fail(message: string, code = 2): never {
  process.stderr.write(`spikeserve: ${message}\n`);
  process.exit(code);
}

function parseArgs(argv: string[]): { file: string; backend: BackendName } {
  let file: string | undefined;
  let backend: BackendName = DEFAULT_BACKEND;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--backend') {
      const b = argv[++i];
      if (!BACKEND_NAMES.includes(b as BackendName)) fail(`--backend must be one of ${BACKEND_NAMES.join(', ')}\n${USAGE}`);
      backend = b as BackendName;
    } else if (a.startsWith('--backend=')) {
      const b = a.slice('--backend='.length);
      if (!BACKEND_NAMES.includes(b as BackendName)) fail(`--backend must be one of ${BACKEND_NAMES.join(', ')}\n${USAGE}`);
      backend = b as BackendName;
    } else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    } else if (a.startsWith('-') && a !== '-') {
      fail(`unknown option ${a}\n${USAGE}`);
    } else if (file === undefined) {
      file = a;
    } else {
      fail(`one case file at a time\n${USAGE}`);
    }
  }
  if (file === undefined) fail(`replay needs a case file\n${USAGE}`);
  return { file, backend };
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === '-h' || command === '--help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (command !== 'replay') fail(command === undefined ? USAGE : `unknown command "${command}"\n${USAGE}`);
  const { file, backend } = parseArgs(rest);
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    fail(`cannot read ${file === '-' ? 'standard input' : file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (e) {
    fail(`${file === '-' ? 'standard input' : file} is not valid JSON: ${(e as Error).message}`);
  }
  try {
    const [start] = await startBackends(process.env, [backend]);
    if (!start.ok) throw start.error;
    const result = replay(input, { backend });
    process.stdout.write(JSON.stringify(result) + '\n');
  } catch (e) {
    if (e instanceof SpikeserveError) fail(`${e.code}: ${e.message}`, 1);
    throw e;
  }
}

await main(process.argv.slice(2));
