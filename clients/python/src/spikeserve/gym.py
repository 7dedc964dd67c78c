"""A session as the policy of an agent in a Gymnasium environment.

An encoder turns an observation into input currents, the network runs a few
steps with them, a decoder turns the output spikes into an action, and the
environment's reward goes back to the network's reward-modulated rules
(MSTDP) as the deferred reward of the last step that chose the action.

    from spikeserve.gym import SpikingPolicy, PopulationEncoder, MostActiveGroup, run_episode
    policy = SpikingPolicy(socket, PopulationEncoder(env.observation_space, 8), MostActiveGroup(2, 10))
    total = run_episode(env, policy)

Needs ``gymnasium`` (``pip install './clients/python[gym]'``) only for
:func:`run_episode`'s environment; the encoders and decoders are numpy.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from .results import StepResult


class Encoder(Protocol):
    """Observation -> one current per input neuron."""

    n: int

    def __call__(self, obs: Any) -> np.ndarray: ...


class Decoder(Protocol):
    """Spike counts of the output population over the action's steps -> action."""

    n: int

    def __call__(self, counts: np.ndarray) -> Any: ...


def _bounds(space: Any, low: Sequence[float] | None, high: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    lo = np.asarray(low if low is not None else space.low, dtype=np.float64).ravel()
    hi = np.asarray(high if high is not None else space.high, dtype=np.float64).ravel()
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError("the observation space is unbounded: give low= and high= (the range the encoder maps)")
    return lo, hi


class ScaledEncoder:
    """Each observation value, clipped into [low, high], scaled linearly to a
    current in [0, gain]: one input neuron per value. ``low``/``high`` default
    to the space's bounds (required where those are infinite)."""

    def __init__(self, space: Any = None, gain: float = 100.0, *, low: Sequence[float] | None = None, high: Sequence[float] | None = None):
        self.low, self.high = _bounds(space, low, high)
        self.gain = gain
        self.n = self.low.size

    def __call__(self, obs: Any) -> np.ndarray:
        x = np.clip(np.asarray(obs, dtype=np.float64).ravel(), self.low, self.high)
        span = np.where(self.high > self.low, self.high - self.low, 1.0)
        return self.gain * (x - self.low) / span


class PopulationEncoder:
    """A population (receptive-field) code: each observation value drives
    ``k`` neurons whose Gaussian tuning curves have centres spread evenly over
    [low, high] and a width of ``width`` times their spacing; a neuron's
    current is ``gain`` at its centre. ``k`` x (number of values) inputs."""

    def __init__(self, space: Any = None, k: int = 8, gain: float = 100.0, width: float = 1.0, *, low: Sequence[float] | None = None, high: Sequence[float] | None = None):
        if k < 2:
            raise ValueError("k must be at least 2")
        self.low, self.high = _bounds(space, low, high)
        self.k = k
        self.gain = gain
        self.centres = np.linspace(self.low, self.high, k, axis=1)  # [values, k]
        self.sigma = np.maximum(width * (self.high - self.low) / (k - 1), 1e-12)[:, None]
        self.n = self.low.size * k

    def __call__(self, obs: Any) -> np.ndarray:
        x = np.clip(np.asarray(obs, dtype=np.float64).ravel(), self.low, self.high)[:, None]
        return (self.gain * np.exp(-0.5 * ((x - self.centres) / self.sigma) ** 2)).ravel()


class MostActiveGroup:
    """Discrete actions from ``actions`` groups of ``group_size`` output
    neurons (group ``a`` = neurons ``a*group_size`` to ``(a+1)*group_size - 1``):
    the action is the group that fired most; ties (silence included) are
    broken at random, which is the policy's exploration."""

    def __init__(self, actions: int, group_size: int = 1, seed: int | None = None):
        self.actions = actions
        self.group_size = group_size
        self.n = actions * group_size
        self.rng = np.random.default_rng(seed)

    def __call__(self, counts: np.ndarray) -> int:
        per_group = np.asarray(counts).reshape(self.actions, self.group_size).sum(axis=1)
        best = np.flatnonzero(per_group == per_group.max())
        return int(best[0] if best.size == 1 else self.rng.choice(best))


class AnySpike:
    """Two actions from one output population: 1 if any of its neurons fired, else 0."""

    def __init__(self, n: int = 1):
        self.n = n

    def __call__(self, counts: np.ndarray) -> int:
        return int(np.asarray(counts).sum() > 0)


class SpikingPolicy:
    """A session (a blocking :class:`~spikeserve.SessionSocket` or
    :class:`~spikeserve.Session`) acting as a policy.

    :meth:`act` encodes the observation into the currents of ``input``, runs
    ``steps_per_action`` network steps holding them, with the last step's
    learning update deferred, and decodes the spike counts of ``output``.
    :meth:`learn` sends the environment's reward (times ``reward_scale``) as
    that step's reward; if it is not called before the next :meth:`act`, the
    pending update gets reward 0, as the server does. The steps before the
    last of each action take reward 0: what the reward reinforces is the
    eligibility the action's spikes left (MSTDP's traces)."""

    def __init__(
        self,
        session: Any,
        encoder: Encoder,
        decoder: Decoder,
        *,
        input: str = "pre",
        output: str = "post",
        steps_per_action: int = 10,
        reward_scale: float = 1.0,
    ):
        self.session = session
        self.encoder = encoder
        self.decoder = decoder
        self.input = input
        self.output = output
        self.steps_per_action = steps_per_action
        self.reward_scale = reward_scale
        self.pending = False
        self.last: StepResult | None = None

    def act(self, obs: Any) -> Any:
        r = self.session.step(
            {self.input: self.encoder(obs)},
            steps=self.steps_per_action,
            defer_reward=True,
            populations=[self.output],
            spikes="counts",
        )
        self.last = r
        self.pending = True
        assert r.spike_counts is not None
        return self.decoder(r.spike_counts[self.output])

    def learn(self, reward: float) -> None:
        if self.pending:
            self.session.reward(float(reward) * self.reward_scale)
            self.pending = False


def run_episode(env: Any, policy: SpikingPolicy, *, learn: bool = True, seed: int | None = None, max_steps: int | None = None) -> tuple[float, int]:
    """Play one episode of a Gymnasium ``env`` with ``policy``; the total
    reward and the number of steps. With ``learn``, every reward goes to the
    network."""
    obs, _ = env.reset(seed=seed)
    total, steps = 0.0, 0
    while True:
        action = policy.act(obs)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        steps += 1
        if learn:
            policy.learn(float(reward))
        if terminated or truncated or (max_steps is not None and steps >= max_steps):
            return total, steps
