/**
 * A byte relay for the cluster benchmark: listens on 127.0.0.1:PORT and joins
 * each connection to TARGET_PORT, passing bytes both ways untouched (no HTTP
 * parsed). A request through it pays what any hop pays on this machine (one
 * more process woken, two more loopback sends) and nothing else: the floor
 * against which a forward's cost is read.
 *
 *   node dist/bench/relay.js PORT TARGET_PORT
 */
import { connect, createServer } from 'node:net';

const [port, target] = process.argv.slice(2).map(Number);
createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host: '127.0.0.1', port: target, noDelay: true });
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
}).listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
