"""Runs one case of bench/peers.ts on Brian2's C++ standalone device.

Reads the case (JSON) from the file named by argv[1]: two populations joined
by one STDP connection, model.md's LIF step and STDP rule, the input currents
held constant and the initial weights given. Writes one JSON line: the time
of the run itself (the compiled loop, without code generation or compiling),
the steps, and the spikes of each population. The build directory is
argv[2].
"""
import json
import sys

from brian2 import NeuronGroup, SpikeMonitor, Synapses, defaultclock, device, ms, prefs, run, set_device


def lif_code(p, dt, input_expr):
    """model.md's population step, steps 1-5, for every neuron: arithmetic
    on sp (0 or 1) instead of branches, with the same results."""
    decay = f"exp(-{dt!r} / {p['tau_s']!r})"
    floor = f"\nv = clip(v, {p['lower_bound']!r}, inf)" if p["lower_bound"] is not None else ""
    trace = f"tr = tr * {decay} + {p['trace_scale']!r} * sp" if p["additive_spike_trace"] else f"tr = tr * {decay} * (1 - sp) + sp"
    return f"""
v = v + ((-(v - {p['rest_pot']!r}) + {p['R']!r} * ({input_expr})) * {dt!r} / {p['tau_s']!r}) * int(rc <= 0)
sp = int(v >= {p['threshold']!r})
rc = (rc - {dt!r}) * (1 - sp) + {p['refrac_length']!r} * sp
v = v * (1 - sp) + {p['reset_pot']!r} * sp{floor}
{trace}
"""


def main():
    case = json.load(open(sys.argv[1]))
    build_dir = sys.argv[2]
    set_device("cpp_standalone", directory=build_dir, build_on_run=False)
    prefs.devices.cpp_standalone.openmp_threads = 0
    dt = case["dt"]
    defaultclock.dt = dt * ms
    pre_p, post_p = case["pre"], case["post"]
    eqs = "v : 1\nrc : 1\ntr : 1\nsp : 1\nx : 1\nI : 1"
    # The step code below resets; the threshold only reports its spikes.
    pre = NeuronGroup(pre_p["n"], eqs, threshold="sp > 0.5", reset="", name="pre")
    post = NeuronGroup(post_p["n"], eqs, threshold="sp > 0.5", reset="", name="post")
    pre.v = pre_p["rest_pot"]
    post.v = post_p["rest_pot"]
    pre.x = case["x_pre"]
    lo, hi = case["w_min"], case["w_max"]
    lr_pre, lr_post = case["lr"]
    syn = Synapses(
        pre, post, "w : 1",
        on_pre={
            "deliver": "I_post += w",
            "depress": f"w = clip(w - {lr_pre!r} * tr_post, {lo!r}, {hi!r})",
        },
        on_post=f"w = clip(w + {lr_post!r} * tr_pre, {lo!r}, {hi!r})",
        name="syn",
    )
    # Row-major, as the engine's matrices: synapse k joins i = k // n_post to j = k % n_post.
    syn.connect(True)
    syn.w = case["w"]
    # model.md's order within a step: the pre population steps, its spikes
    # reach the post population's input, the post population steps, then the
    # rule runs with both populations' new spikes and traces.
    order = [
        pre.run_regularly(lif_code(pre_p, dt, "x"), when="start", order=0),
        pre.thresholder["spike"],
        syn.deliver,
        post.run_regularly(lif_code(post_p, dt, "x + I") + "I = 0", when="start", order=3),
        post.thresholder["spike"],
        syn.depress,
        syn.post,
    ]
    for k, obj in enumerate(order):
        obj.when = "start"
        obj.order = k
    spike_counts = {"pre": 0, "post": 0}
    mon_pre = SpikeMonitor(pre, record=False)
    mon_post = SpikeMonitor(post, record=False)
    run(case["steps"] * dt * ms)
    device.build(directory=build_dir, compile=True, run=True, debug=False, clean=False)
    spike_counts["pre"] = int(mon_pre.num_spikes)
    spike_counts["post"] = int(mon_post.num_spikes)
    # The compiled program again, as often as asked: the fastest run counts.
    times = [device._last_run_time]
    for _ in range(case.get("reps", 1) - 1):
        device.run(directory=build_dir, with_output=False, run_args=[])
        times.append(device._last_run_time)
    print(json.dumps({"run_s": min(times), "runs_s": times, "steps": case["steps"], "spikes": spike_counts}))


if __name__ == "__main__":
    main()
