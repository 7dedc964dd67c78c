/**
 * The network spec as JSON Schema (TypeBox). This is the single source of the
 * spec's shape: the engine validates against it, the HTTP layer reuses it for
 * request bodies and openapi.yaml, and the TypeScript types are derived from it.
 * Names and defaults follow SynapticFlow (docs/model.md).
 */
import { Type, type Static } from '@sinclair/typebox';

/** A name starts with a letter so that no key is integer-like: integer-like
 * keys are moved to the front of a JavaScript object, which would silently
 * change the declaration order, and the order is the update order. */
export const NAME_PATTERN = '^[A-Za-z][A-Za-z0-9_-]{0,63}$';
export const Name = Type.String({ pattern: NAME_PATTERN, description: 'Starts with a letter; letters, digits, _ and -; at most 64 characters.' });

export const PopulationSpecSchema = Type.Object(
  {
    n: Type.Integer({ minimum: 1, description: 'Number of neurons.' }),
    threshold: Type.Optional(Type.Number({ description: 'Spike when v >= threshold. Default -52.' })),
    rest_pot: Type.Optional(Type.Number({ description: 'Resting potential; v starts here. Default -62.' })),
    reset_pot: Type.Optional(Type.Number({ description: 'v after a spike. Default -62.' })),
    refrac_length: Type.Optional(Type.Number({ minimum: 0, description: 'Refractory time in the units of dt. Default 5.' })),
    tau_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Membrane and spike-trace time constant. Default 10.' })),
    R: Type.Optional(Type.Number({ description: 'Membrane resistance. Default 20.' })),
    lower_bound: Type.Optional(Type.Union([Type.Number(), Type.Null()], { description: 'Floor for v; null or absent for none.' })),
    additive_spike_trace: Type.Optional(Type.Boolean({ description: 'Trace adds trace_scale per spike instead of being set to 1. Default false.' })),
    trace_scale: Type.Optional(Type.Number({ description: 'Added per spike when additive_spike_trace. Default 1.' })),
  },
  { additionalProperties: false, description: 'A LIF population (SynapticFlow LIFPopulation).' },
);

/** SynapticFlow spells rule names in several cases ("MSTDP", "mstdp"); all are
 * accepted and the resolved spec uses the canonical spelling. */
export const RULE_TYPES = ['NoOp', 'STDP', 'MSTDP', 'MSTDPET'] as const;
/** The rules that learn from rewards. */
export const REWARD_RULE_TYPES: readonly RuleType[] = ['MSTDP', 'MSTDPET'];
export type RuleType = (typeof RULE_TYPES)[number];

export const RuleSpecSchema = Type.Object(
  {
    type: Type.String({ description: 'NoOp, STDP, MSTDP or MSTDPET (any letter case).' }),
    lr: Type.Optional(
      Type.Union([Type.Number(), Type.Array(Type.Number(), { minItems: 2, maxItems: 2 })], {
        description: 'A number a (meaning [a, a]) or [pre, post]. Default [0, 0].',
      }),
    ),
    weight_decay: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'w *= (1 - weight_decay) every update. Default 0.' })),
    boundary: Type.Optional(Type.Union([Type.Literal('hard'), Type.Literal('soft')], { description: 'Default hard.' })),
    reduction: Type.Optional(Type.Union([Type.Literal('sum'), Type.Literal('mean')], { description: 'Over the batch dimension; with one copy of the network it changes nothing. Default sum.' })),
    tc_plus: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'MSTDP and MSTDPET only. Default 20.' })),
    tc_minus: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'MSTDP and MSTDPET only. Default 20.' })),
    a_plus: Type.Optional(Type.Number({ description: 'MSTDP and MSTDPET only. Default 1.' })),
    a_minus: Type.Optional(Type.Number({ description: 'MSTDP and MSTDPET only. Default -1.' })),
    tc_e_trace: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'MSTDPET only: time constant of the eligibility trace. Default 25.' })),
  },
  { additionalProperties: false, description: 'A learning rule (SynapticFlow NoOp, STDP, MSTDP; BindsNET MSTDPET).' },
);

export const ConnectionSpecSchema = Type.Object(
  {
    pre: Name,
    post: Name,
    w_min: Type.Optional(Type.Number({ description: 'Lower weight bound. Default 0.' })),
    w_max: Type.Optional(Type.Number({ description: 'Upper weight bound. Default 1.' })),
    w: Type.Optional(Type.Array(Type.Array(Type.Number()), { description: 'Initial weights [pre.n][post.n], clamped into bounds. Default: uniform in [w_min, w_max] from the seeded generator.' })),
    rule: Type.Optional(RuleSpecSchema),
  },
  { additionalProperties: false, description: 'A dense connection (SynapticFlow Connection); row = pre neuron.' },
);

export const NetworkSpecSchema = Type.Object(
  {
    dt: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Time step of every population and rule. Default 0.1.' })),
    batch_size: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Copies of the network that share its weights, each with its own neuron and rule state, inputs and reward (one policy, several environments). Default 1.' }),
    ),
    populations: Type.Record(Name, PopulationSpecSchema, { minProperties: 1, additionalProperties: false, description: 'Populations by name; declaration order is update order.' }),
    connections: Type.Optional(Type.Record(Name, ConnectionSpecSchema, { additionalProperties: false, description: 'Connections by name; declaration order is rule order.' })),
  },
  { additionalProperties: false, $id: 'NetworkSpec', description: 'A network spec (docs/model.md).' },
);

export type PopulationSpec = Static<typeof PopulationSpecSchema>;
export type RuleSpec = Static<typeof RuleSpecSchema>;
export type ConnectionSpec = Static<typeof ConnectionSpecSchema>;
export type NetworkSpec = Static<typeof NetworkSpecSchema>;

/** Every default filled in: what the engine runs and what the API echoes. */
export const ResolvedPopulationSchema = Type.Required(PopulationSpecSchema, { additionalProperties: false });

export const ResolvedRuleSchema = Type.Object(
  {
    type: Type.Union(RULE_TYPES.map((t) => Type.Literal(t))),
    lr: Type.Tuple([Type.Number(), Type.Number()]),
    weight_decay: Type.Number(),
    boundary: Type.Union([Type.Literal('hard'), Type.Literal('soft')]),
    reduction: Type.Union([Type.Literal('sum'), Type.Literal('mean')]),
    tc_plus: Type.Optional(Type.Number()),
    tc_minus: Type.Optional(Type.Number()),
    a_plus: Type.Optional(Type.Number()),
    a_minus: Type.Optional(Type.Number()),
    tc_e_trace: Type.Optional(Type.Number()),
  },
  { additionalProperties: false },
);

export const ResolvedConnectionSchema = Type.Object(
  {
    pre: Name,
    post: Name,
    w_min: Type.Number(),
    w_max: Type.Number(),
    w: Type.Optional(Type.Array(Type.Array(Type.Number()))),
    rule: ResolvedRuleSchema,
  },
  { additionalProperties: false },
);

export const ResolvedNetworkSchema = Type.Object(
  {
    dt: Type.Number(),
    batch_size: Type.Integer({ minimum: 1 }),
    populations: Type.Record(Name, ResolvedPopulationSchema),
    connections: Type.Record(Name, ResolvedConnectionSchema),
  },
  { additionalProperties: false, $id: 'ResolvedNetwork', description: 'A network spec with every default filled in.' },
);

export type ResolvedPopulation = Static<typeof ResolvedPopulationSchema>;
export type ResolvedRule = Static<typeof ResolvedRuleSchema>;
export type ResolvedConnection = Static<typeof ResolvedConnectionSchema>;
export type ResolvedNetwork = Static<typeof ResolvedNetworkSchema>;
