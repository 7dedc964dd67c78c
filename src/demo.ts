/**
 * The seed's STDP example on the engine: two pre neurons and one post neuron,
 * weights before and after 1000 steps. It shows the engine working before
 * the service exists.
 */
import { Network } from './engine/index.js';

const net = Network.create({
  dt: 0.1,
  populations: { pre: { n: 2, refrac_length: 0 }, post: { n: 1, refrac_length: 0 } },
  connections: {
    pre_post: {
      pre: 'pre',
      post: 'post',
      w: [[0.4434], [0.8602]],
      rule: { type: 'STDP', lr: [0.0003, 0.0002], weight_decay: 0.0001 },
    },
  },
});

const fmt = (w: number[][]) => JSON.stringify(w.map((r) => r.map((x) => Number(x.toFixed(4)))));
console.log('weights before:', fmt(net.weights('pre_post')));
net.run({ steps: 1000, inputs: { pre: [0, 50], post: [50] } });
console.log('weights after 1000 steps:', fmt(net.weights('pre_post')));
