/**
 * The example agents, run as a user runs them, against a live server on
 * 127.0.0.1 and an ephemeral port: the Python one (the `spikeserve` package
 * of clients/python, from $PYTHON's installation or from the source tree) in
 * JSON and in binary, and the TypeScript one. Each plays the seed's MSTDP task
 * for 300 trials, prints the accuracy of every 50, and must reach 90% on
 * trials 201 to 300.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { liveServer, type LiveServer } from './helpers/ws.js';

const run = promisify(execFile);

/** The package's source, for an interpreter where it is not installed. */
const pythonEnv = { ...process.env, PYTHONPATH: ['clients/python/src', process.env.PYTHONPATH].filter(Boolean).join(':') };

/** The first interpreter that can import the package (websockets and numpy): $PYTHON (.ci/run's venv), python3 on the PATH, Debian's own. */
async function findPython(): Promise<string | null> {
  for (const py of [process.env.PYTHON, 'python3', '/usr/bin/python3']) {
    if (!py) continue;
    try {
      await run(py, ['-c', 'import spikeserve'], { timeout: 20_000, env: pythonEnv });
      return py;
    } catch {
      // not this one
    }
  }
  return null;
}

function checkOutput(stdout: string): void {
  const blocks = [...stdout.matchAll(/^trials +(\d+)- *(\d+): accuracy (\d\.\d\d)$/gm)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])]);
  assert.deepEqual(
    blocks.map(([a, b]) => [a, b]),
    [
      [1, 50],
      [51, 100],
      [101, 150],
      [151, 200],
      [201, 250],
      [251, 300],
    ],
    stdout,
  );
  const final = /^result: accuracy (\d\.\d\d) on trials 201-300$/m.exec(stdout);
  assert.ok(final, stdout);
  assert.ok(Number(final[1]) >= 0.9, `accuracy on trials 201-300: ${final[1]}`);
  assert.match(stdout, /^15000 steps and 15000 rewards in [\d.]+ s \(\d+ steps\/s\)$/m);
}

let srv: LiveServer;
let python: string | null;
before(async () => {
  srv = await liveServer();
  python = await findPython();
});
after(() => srv.close());

for (const format of ['json', 'binary'] as const) {
  test(`the Python agent (${format}) learns the seed's MSTDP task: >= 90% on trials 201-300`, async () => {
    assert.ok(python, 'no python3 that can import spikeserve: pip install ./clients/python, or apt-get install -y python3-websockets python3-numpy (.ci/run makes a venv)');
    const args = ['examples/python/mstdp_agent.py', '--url', srv.base, '--format', format, '--require', '0.9'];
    if (format === 'binary') args.push('--task-seed', '2');
    const { stdout } = await run(python, args, { timeout: 120_000, env: pythonEnv });
    assert.match(stdout, new RegExp(`^session [0-9a-f-]{36}: protocol 1, role controller, format ${format}$`, 'm'));
    checkOutput(stdout);
    assert.equal(srv.app.sessions.size, 0, 'the agent deleted its session');
  });
}

test('the TypeScript agent learns the seed\'s MSTDP task: >= 90% on trials 201-300', async () => {
  const { stdout } = await run(process.execPath, ['dist/examples/typescript/mstdp-agent.js', '--url', srv.base, '--format', 'binary', '--require', '0.9'], { timeout: 120_000 });
  assert.match(stdout, /^session [0-9a-f-]{36}: protocol 1, role controller, format binary$/m);
  checkOutput(stdout);
  assert.equal(srv.app.sessions.size, 0);
});
