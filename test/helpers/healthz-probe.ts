/**
 * The /healthz probe of probeDuring (loop-probe.ts), run as a process of its
 * own: the process that sends a heavy request also receives its reply (tens
 * of megabytes, joined into one Buffer), and a probe sharing that process
 * waited for it too, which it then blamed on the server. Started with the
 * server's base URL and the probe's period in ms; says 'ready' once its
 * connection is open, asks /healthz one at a time until told 'stop', then
 * sends { worstMs, probes } and exits.
 */
import { Agent, request } from 'node:http';

const [base, every] = process.argv.slice(2);
const everyMs = Number(every);
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function once(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(`${base}/healthz`, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(performance.now() - t0));
    });
    req.on('error', reject);
    req.end();
  });
}

let stopping = false;
process.on('message', (m) => {
  if (m === 'stop') stopping = true;
});
process.on('disconnect', () => process.exit(0));

// A first answer opens the probe's connection before the measurement.
await once();
process.send!('ready');
let worstMs = 0;
let probes = 0;
// The probe in flight when 'stop' comes counts too: the server may still be busy after its reply.
while (!stopping) {
  worstMs = Math.max(worstMs, await once());
  probes++;
  await new Promise((r) => setTimeout(r, everyMs));
}
agent.destroy();
process.send!({ worstMs, probes }, () => process.exit(0));
