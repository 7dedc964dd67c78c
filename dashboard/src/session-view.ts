/**
 * /dashboard/{id}: one session, live. The observer stream (observer.ts) feeds
 * a SessionStore; a requestAnimationFrame loop draws whatever is newest, at
 * most once per frame, so the page keeps up with a session stepping at full
 * speed without queueing work per event. REST is used for the layout at load,
 * for the downloads, and to catch up the weights once the stream goes quiet.
 */
import type { SessionDetail } from '../../src/api/sessions.js';
import { ApiError, getSession, getSnapshot, getWeights } from './api.js';
import { POPULATION_COLOURS, formatNumber } from './canvas.js';
import { clear, compact, count, h } from './dom.js';
import { fileStem, saveFile, weightsCsv } from './downloads.js';
import { HeatmapView, type ScaleMode } from './heatmap.js';
import { LineChart, type Trace } from './lines.js';
import { observe, type Observer } from './observer.js';
import { RasterView, rasterHeight } from './raster.js';
import { SessionStore, type Layout } from './store.js';
import type { View, ViewContext } from './sessions-view.js';

/** Steps the reward and rate charts span. */
const CHART_STEPS = 2000;
/** The stream quiet this long with weights older than the step count: read them over REST once. */
const WEIGHTS_CATCH_UP_MS = 800;
/** Matrices up to this many synapses are also written into the DOM (data-weights), for scripts and tests. */
const DOM_WEIGHTS_MAX = 4096;

export function layoutOf(detail: SessionDetail): Layout {
  return {
    dt: detail.network.dt,
    batchSize: detail.network.batch_size,
    populations: Object.entries(detail.populations).map(([name, n]) => ({ name, n })),
    connections: Object.entries(detail.network.connections).map(([name, c]) => ({
      name,
      pre: c.pre,
      post: c.post,
      rows: detail.populations[c.pre],
      cols: detail.populations[c.post],
      wMin: c.w_min,
      wMax: c.w_max,
      rule: c.rule.type,
    })),
  };
}

export function sessionView(ctx: ViewContext, id: string): View {
  let stopped = false;
  let teardown: (() => void) | null = null;
  clear(ctx.root);
  ctx.root.append(h('p', { class: 'muted' }, 'Loading session…'));
  ctx.setStatus('loading', 'wait');

  void (async () => {
    let detail: SessionDetail;
    try {
      detail = await getSession(id);
    } catch (e) {
      if (stopped) return;
      const err = e instanceof ApiError ? e : new ApiError(0, 'UNKNOWN', String(e));
      clear(ctx.root);
      ctx.root.append(h('section', { class: 'panel error' }, h('h2', {}, 'Cannot open this session'), h('p', {}, `${err.code}: ${err.message}`), h('p', {}, h('a', { href: '/dashboard' }, '← all sessions'))));
      ctx.setStatus(err.code, 'error');
      if (err.isAuth) ctx.onAuthError();
      return;
    }
    if (!stopped) teardown = live(ctx, detail);
  })();

  return {
    stop() {
      stopped = true;
      teardown?.();
    },
  };
}

function live(ctx: ViewContext, detail: SessionDetail): () => void {
  const id = detail.id;
  const layout = layoutOf(detail);
  const store = new SessionStore(layout);
  store.noteStep(detail.step);
  const colourOf = new Map(layout.populations.map((p, i) => [p.name, POPULATION_COLOURS[i % POPULATION_COLOURS.length]]));
  const shown = new Set(layout.populations.map((p) => p.name));
  let paused = false;
  let scaleMode: ScaleMode = 'bounds';

  // Header: name, counters, controls.
  const stepEl = h('span', { id: 'step', class: 'big', 'data-step': detail.step }, count(detail.step));
  const rateEl = h('span', { id: 'steps-per-second', class: 'big' }, '–');
  const streamEl = h('span', { id: 'stream', class: 'small' }, '');
  const rewardEl = h('span', { id: 'reward-average', class: 'big' }, '–');
  const pauseBtn = h('button', { type: 'button', id: 'pause', 'aria-pressed': 'false' }, 'Pause view');
  const popBoxes = layout.populations.map((p) => {
    const box = h('input', { type: 'checkbox', checked: true, value: p.name, 'data-population': p.name });
    box.addEventListener('change', () => {
      if (box.checked) shown.add(p.name);
      else shown.delete(p.name);
      applyShown();
    });
    return h('label', { class: 'chip' }, box, h('span', { class: 'swatch', 'data-colour': colourOf.get(p.name) }), p.name);
  });
  // A batch: which copy's spikes, rates and rewards to show (the weights are every copy's).
  const copySel =
    layout.batchSize > 1
      ? h('select', { id: 'copy', 'aria-label': 'copy of the batch shown' }, ...Array.from({ length: layout.batchSize }, (_, b) => h('option', { value: String(b) }, `copy ${b}`)))
      : null;
  copySel?.addEventListener('change', () => {
    store.clearActivity();
    observer?.setCopy(Number(copySel.value));
  });
  const scaleSel = h('select', { id: 'scale', 'aria-label': 'heatmap colour scale' }, h('option', { value: 'bounds' }, 'scale: w_min … w_max'), h('option', { value: 'data' }, 'scale: data min … max'));
  scaleSel.addEventListener('change', () => (scaleMode = scaleSel.value === 'data' ? 'data' : 'bounds'));
  const csvBtn = h('button', { type: 'button', id: 'download-csv', class: 'secondary' }, 'Weights CSV');
  const jsonBtn = h('button', { type: 'button', id: 'download-json', class: 'secondary' }, 'Weights JSON');
  const snapBtn = h('button', { type: 'button', id: 'download-snapshot', class: 'secondary' }, 'Snapshot');
  const messageEl = h('p', { class: 'message', id: 'message', hidden: true });

  const { neurons, synapses } = {
    neurons: layout.populations.reduce((a, p) => a + p.n, 0),
    synapses: layout.connections.reduce((a, c) => a + c.rows * c.cols, 0),
  };
  const head = h(
    'section',
    { class: 'panel session-head' },
    h('div', { class: 'title' }, h('a', { href: '/dashboard', class: 'back' }, '← sessions'), h('h2', {}, detail.name ?? 'unnamed session'), h('span', { class: 'mono muted', title: 'session id' }, id)),
    h(
      'p',
      { class: 'muted small' },
      `${count(neurons)} neurons in ${layout.populations.length} populations, ${count(synapses)} synapses in ${layout.connections.length} connections; dt ${detail.network.dt} ms; seed ${detail.seed}` +
        (layout.batchSize > 1 ? `; a batch of ${layout.batchSize} copies sharing these weights, each with its own neurons, inputs and rewards` : ''),
    ),
    h(
      'div',
      { class: 'counters' },
      h('div', { class: 'counter' }, h('span', { class: 'label' }, 'step'), stepEl),
      h('div', { class: 'counter' }, h('span', { class: 'label' }, 'steps / s'), rateEl),
      h('div', { class: 'counter' }, h('span', { class: 'label' }, `reward, mean of last ${store.options.window}`), rewardEl),
      h('div', { class: 'counter' }, h('span', { class: 'label' }, 'stream'), streamEl),
    ),
    h('div', { class: 'controls' }, pauseBtn, copySel, h('span', { class: 'group', role: 'group', 'aria-label': 'populations shown' }, ...popBoxes), scaleSel, h('span', { class: 'spacer' }), csvBtn, jsonBtn, snapBtn),
    messageEl,
  );
  for (const sw of head.querySelectorAll<HTMLElement>('.swatch')) sw.style.background = sw.dataset.colour ?? '';

  // Panels.
  const rasters = layout.populations.map((p) => {
    const canvas = h('canvas', { class: 'raster-canvas', 'aria-label': `spike raster of ${p.name}` });
    canvas.style.height = `${rasterHeight(p.n)}px`;
    const rate = h('span', { class: 'rate', 'data-rate': '0' }, '–');
    const box = h('div', { class: 'raster', 'data-population': p.name }, h('h3', {}, h('span', { class: 'swatch' }), h('strong', {}, p.name), h('span', { class: 'muted' }, ` · ${count(p.n)} neuron${p.n === 1 ? '' : 's'} · `), rate), canvas);
    (box.querySelector('.swatch') as HTMLElement).style.background = colourOf.get(p.name)!;
    return { name: p.name, box, rate, view: new RasterView(canvas, store.spikes.get(p.name)!, colourOf.get(p.name)!) };
  });
  const heatmaps = layout.connections.map((c) => {
    const canvas = h('canvas', { class: 'heatmap-canvas', 'aria-label': `weights of ${c.name}` });
    const stats = h('span', { class: 'stats muted' }, '');
    const fig = h('figure', { class: 'heatmap', 'data-connection': c.name }, h('figcaption', {}, h('strong', {}, c.name), h('span', { class: 'muted' }, ` · ${c.pre} → ${c.post} · ${c.rule} · ${c.rows}×${c.cols} · `), stats), canvas);
    return { name: c.name, fig, stats, view: new HeatmapView(canvas, c), drawn: -1 };
  });
  const rewardChart = new LineChart(h('canvas', { class: 'chart-canvas', id: 'reward-chart', 'aria-label': 'reward per step' }), CHART_STEPS, null, 'no rewards yet');
  const rewardPanel = h(
    'section',
    { class: 'panel', id: 'reward-panel', 'data-count': '0' },
    h('h2', {}, `Reward per step, and its mean over the last ${store.options.window} rewards`),
    rewardChart.canvas,
  );
  let rewardsDrawn = -1;
  const rateChart = new LineChart(h('canvas', { class: 'chart-canvas', id: 'rate-chart', 'aria-label': 'firing rates' }), CHART_STEPS, 0);

  clear(ctx.root);
  ctx.root.append(
    head,
    h(
      'div',
      { class: 'grid' },
      h('section', { class: 'panel', id: 'rasters' }, h('h2', {}, `Spikes, last ${store.options.rasterSteps} steps received`), ...rasters.map((r) => r.box)),
      h('section', { class: 'panel', id: 'heatmaps' }, h('h2', {}, 'Weights'), layout.connections.length === 0 ? h('p', { class: 'muted' }, 'This network has no connections.') : null, ...heatmaps.map((m) => m.fig)),
      rewardPanel,
      h('section', { class: 'panel' }, h('h2', {}, `Firing rate, Hz (mean over the last ${store.options.window} steps)`), rateChart.canvas),
    ),
  );

  const say = (text: string | null) => {
    messageEl.hidden = text === null;
    messageEl.textContent = text ?? '';
  };

  // The data: the initial weights over REST, then the stream.
  let lastEvent = performance.now();
  /**
   * A stream step lower than the stream's last means a reset: the history no
   * longer applies. Only stream events count: a REST read of the weights can
   * report a later step than events still on their way, which is no reset.
   */
  let streamStep = detail.step;
  const noteStep = (step: number) => {
    if (step < streamStep) {
      store.clearHistory();
      void catchUpWeights();
    }
    streamStep = step;
    store.noteStep(step);
  };
  let catchingUp = false;
  let lastCatchUp = 0;
  /** The session's stream ended for good: nothing more to catch up with, and the reason stays on screen. */
  let ended = false;
  const end = (reason: string) => {
    ended = true;
    observer?.close();
    observer = null;
    say(reason);
  };
  const catchUpWeights = async () => {
    catchingUp = true;
    lastCatchUp = performance.now();
    try {
      const w = await getWeights(id);
      if (ended) return;
      for (const [name, m] of Object.entries(w.weights)) store.setWeights(name, w.step, m);
    } catch (e) {
      if (ended || !(e instanceof ApiError)) return;
      // Deleted between two frames of the stream: the read learns it first.
      if (e.code === 'SESSION_NOT_FOUND') {
        ctx.setStatus('session gone', 'error');
        end(`The session is gone (${e.message}). Its last state stays on screen.`);
      } else say(`weights: ${e.code}: ${e.message}`);
    } finally {
      catchingUp = false;
    }
  };
  void catchUpWeights();

  let observer: Observer | null = observe(id, layout, {
    onStatus: (text, kind) => ctx.setStatus(text, kind),
    onAuthError: () => ctx.onAuthError(),
    onStep(step) {
      lastEvent = performance.now();
      noteStep(step);
    },
    onSpikes(step, spikes) {
      lastEvent = performance.now();
      noteStep(step);
      store.addSpikes(step, spikes);
    },
    onWeights(step, weights, pending) {
      lastEvent = performance.now();
      for (const [name, m] of Object.entries(weights)) store.setWeights(name, step, m, pending);
    },
    onReward(step, reward) {
      lastEvent = performance.now();
      noteStep(step);
      store.addReward(step, reward);
    },
    onDropped(total) {
      store.dropped = total;
    },
    onEnd(reason) {
      end(reason);
    },
  });
  observer?.setPopulations([...shown]);

  function applyShown(): void {
    for (const r of rasters) r.box.hidden = !shown.has(r.name);
    observer?.setPopulations([...shown]);
  }

  pauseBtn.addEventListener('click', () => {
    paused = !paused;
    pauseBtn.textContent = paused ? 'Resume view' : 'Pause view';
    pauseBtn.setAttribute('aria-pressed', String(paused));
    document.body.classList.toggle('paused', paused);
  });

  const download = (btn: HTMLButtonElement, job: () => Promise<void>) => {
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      try {
        await job();
        say(null);
      } catch (e) {
        say(e instanceof ApiError ? `download failed: ${e.code}: ${e.message}` : `download failed: ${String(e)}`);
        if (e instanceof ApiError && e.isAuth) ctx.onAuthError();
      } finally {
        btn.disabled = false;
      }
    });
  };
  download(csvBtn, async () => {
    const w = await getWeights(id);
    saveFile(`${fileStem(detail.name, id, w.step)}-weights.csv`, weightsCsv(w), 'text/csv');
  });
  download(jsonBtn, async () => {
    const w = await getWeights(id);
    saveFile(`${fileStem(detail.name, id, w.step)}-weights.json`, JSON.stringify(w), 'application/json');
  });
  download(snapBtn, async () => {
    const snap = (await getSnapshot(id)) as { step?: number };
    saveFile(`${fileStem(detail.name, id, typeof snap.step === 'number' ? snap.step : store.step)}-snapshot.json`, JSON.stringify(snap), 'application/json');
  });

  // Steps per second, from the step count over the last couple of seconds.
  const rateSamples: { t: number; step: number }[] = [];
  let stepsPerSecond = 0;

  let frame = 0;
  const draw = (now: number) => {
    frame = requestAnimationFrame(draw);
    rateSamples.push({ t: now, step: store.step });
    while (rateSamples.length > 2 && now - rateSamples[0].t > 2000) rateSamples.shift();
    const first = rateSamples[0];
    if (now - first.t > 250) stepsPerSecond = Math.max(0, ((store.step - first.step) * 1000) / (now - first.t));
    if (!ended && !catchingUp && now - lastEvent > WEIGHTS_CATCH_UP_MS && now - lastCatchUp > WEIGHTS_CATCH_UP_MS) {
      // Stale: older than the step count, or taken before a reward that has since been applied
      // (a REST read reflects the session as it is, so it ends the catching up either way).
      const stale = heatmaps.some((m) => {
        const w = store.weights.get(m.name);
        return !w || w.step < store.step || w.pending;
      });
      if (stale) void catchUpWeights();
    }
    if (paused) return;

    setText(stepEl, count(store.step));
    stepEl.dataset.step = String(store.step);
    setText(rateEl, stepsPerSecond >= 0.5 ? compact(stepsPerSecond) : '0');
    setText(streamEl, `${count(store.stepsReceived)} steps received${store.dropped > 0 ? `, ${count(store.dropped)} thinned out` : ''}`);
    const avg = store.rewardAverage.last();
    setText(rewardEl, avg ? formatNumber(avg.value) : '–');

    const latest = store.step;
    const hz = 1000 / layout.dt;
    for (const r of rasters) {
      if (!shown.has(r.name)) continue;
      r.view.render(latest);
      const rate = store.spikes.get(r.name)!.rate(store.options.window) * hz;
      r.rate.dataset.rate = String(rate);
      setText(r.rate, `${formatNumber(rate)} Hz`);
    }
    for (const m of heatmaps) {
      const w = store.weights.get(m.name);
      m.view.render(w, scaleMode);
      if (w && w.version !== m.drawn) {
        m.drawn = w.version;
        m.fig.dataset.step = String(w.step);
        m.fig.dataset.pending = String(w.pending);
        m.fig.dataset.min = String(w.min);
        m.fig.dataset.max = String(w.max);
        if (w.data.length <= DOM_WEIGHTS_MAX) {
          const rows: number[][] = [];
          for (let i = 0; i < w.rows; i++) rows.push(Array.from(w.data.subarray(i * w.cols, (i + 1) * w.cols)));
          m.fig.dataset.weights = JSON.stringify(rows);
        }
        m.stats.textContent = `min ${formatNumber(w.min)} · max ${formatNumber(w.max)} · at step ${count(w.step)}`;
      }
    }
    const rewardTraces: Trace[] = [
      { series: store.reward, colour: '#8b949e', label: 'reward', style: 'dots' },
      { series: store.rewardAverage, colour: '#ffb703', label: `mean of last ${store.options.window}`, style: 'line' },
    ];
    rewardChart.render(rewardTraces, latest);
    if (store.reward.version !== rewardsDrawn) {
      rewardsDrawn = store.reward.version;
      // For scripts and tests, as data-weights: the rewards the average is taken over, and the average.
      const r = store.reward;
      const recent: [number, number][] = [];
      for (let k = Math.max(0, r.size - store.options.window); k < r.size; k++) recent.push([r.stepAt(k), r.valueAt(k)]);
      rewardPanel.dataset.count = String(store.rewardsReceived);
      rewardPanel.dataset.rewards = JSON.stringify(recent);
      rewardPanel.dataset.average = String(avg ? avg.value : '');
    }
    const rateTraces: Trace[] = rasters
      .filter((r) => shown.has(r.name))
      .map((r) => ({ series: store.rates.get(r.name)!, colour: colourOf.get(r.name)!, label: r.name, style: 'line', scale: hz }));
    rateChart.render(rateTraces, latest);
  };
  frame = requestAnimationFrame(draw);

  return () => {
    cancelAnimationFrame(frame);
    observer?.close();
    observer = null;
  };
}

function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}
