// A small plotting module: line charts and bar charts as inline SVG. No chart library: the
// result page needs three kinds of plot, and SVG keeps them crisp, styleable and testable
// (each plot is a <figure class="plot" data-plot="..."> with one <path> per series).

const SVG_NS = 'http://www.w3.org/2000/svg';
export const COLORS = ['#4aa3ff', '#f0883e', '#3fb950', '#d2a8ff', '#ff7b72', '#e3b341'];

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** About five round tick values covering [lo, hi]. */
export function niceTicks(lo, hi, count = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi === lo) {
    hi = lo + 1;
    lo -= 1;
  }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return ticks;
}

function tickLabel(v) {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 100) return v.toFixed(0);
  // Up to three decimals, trailing zeros dropped: 0.25, 1.25, 0.005.
  return String(Number(v.toFixed(a >= 1 ? 2 : 3)));
}

function frame(title, { width, height }) {
  const figure = document.createElement('figure');
  figure.className = 'plot card';
  figure.style.margin = '0';
  const caption = document.createElement('h2');
  caption.textContent = title;
  figure.append(caption);
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title });
  figure.append(root);
  return { figure, root };
}

/**
 * Line chart. series: [{name, x: number[], y: number[], color?, dash?}].
 * Options: xLabel, yLabel, width (600), height (240), yMin/yMax to force the range,
 * hlines: [{y, label, color}] reference lines (limits, thresholds).
 */
export function linePlot(title, series, opts = {}) {
  const width = opts.width ?? 600;
  const height = opts.height ?? 240;
  const m = { left: 48, right: 12, top: 10, bottom: 34 };
  const { figure, root } = frame(title, { width, height });
  figure.dataset.plot = opts.id ?? title;

  const xs = series.flatMap((s) => s.x).filter(Number.isFinite);
  const ys = series.flatMap((s) => s.y).filter(Number.isFinite)
    .concat((opts.hlines || []).map((h) => h.y));
  if (!xs.length || !ys.length) {
    root.append(svg('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle' }, 'no data'));
    return figure;
  }
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [opts.yMin ?? Math.min(...ys), opts.yMax ?? Math.max(...ys)];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const pad = (y1 - y0) * 0.08;
  if (opts.yMin === undefined) y0 -= pad;
  if (opts.yMax === undefined) y1 += pad;
  const px = (x) => m.left + ((x - x0) / (x1 - x0)) * (width - m.left - m.right);
  const py = (y) => height - m.bottom - ((y - y0) / (y1 - y0)) * (height - m.top - m.bottom);

  for (const t of niceTicks(y0, y1)) {
    root.append(svg('line', { class: 'grid', x1: m.left, x2: width - m.right, y1: py(t), y2: py(t) }));
    root.append(svg('text', { x: m.left - 6, y: py(t) + 4, 'text-anchor': 'end' }, tickLabel(t)));
  }
  for (const t of niceTicks(x0, x1, 8)) {
    root.append(svg('line', { class: 'grid', x1: px(t), x2: px(t), y1: m.top, y2: height - m.bottom }));
    root.append(svg('text', { x: px(t), y: height - m.bottom + 14, 'text-anchor': 'middle' },
      tickLabel(t)));
  }
  root.append(svg('line', {
    class: 'axis', x1: m.left, x2: m.left, y1: m.top, y2: height - m.bottom,
  }));
  root.append(svg('line', {
    class: 'axis', x1: m.left, x2: width - m.right, y1: height - m.bottom, y2: height - m.bottom,
  }));
  if (opts.xLabel) {
    root.append(svg('text', { x: width - m.right, y: height - 4, 'text-anchor': 'end' },
      opts.xLabel));
  }
  if (opts.yLabel) {
    root.append(svg('text', { x: 4, y: m.top + 8, 'text-anchor': 'start' }, opts.yLabel));
  }
  for (const h of opts.hlines || []) {
    root.append(svg('line', {
      x1: m.left, x2: width - m.right, y1: py(h.y), y2: py(h.y),
      stroke: h.color ?? '#f85149', 'stroke-dasharray': '6 4', 'stroke-width': 1,
    }));
    if (h.label) {
      root.append(svg('text', { x: width - m.right - 4, y: py(h.y) - 4, 'text-anchor': 'end' },
        h.label));
    }
  }

  series.forEach((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length];
    let d = '';
    let pen = false;
    for (let k = 0; k < s.x.length; k += 1) {
      const x = s.x[k];
      const y = s.y[k];
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        pen = false; // gaps stay gaps
        continue;
      }
      d += `${pen ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`;
      pen = true;
    }
    const path = svg('path', {
      d, fill: 'none', stroke: color, 'stroke-width': s.width ?? 1.6,
      'stroke-linejoin': 'round', 'data-series': s.name,
    });
    if (s.dash) path.setAttribute('stroke-dasharray', s.dash);
    root.append(path);
  });

  // Legend along the top, left to right.
  const legend = svg('g', { class: 'legend' });
  let lx = m.left + 8;
  series.forEach((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length];
    legend.append(svg('line', {
      x1: lx, x2: lx + 16, y1: m.top + 8, y2: m.top + 8, stroke: color, 'stroke-width': 2,
      'stroke-dasharray': s.dash ?? '',
    }));
    legend.append(svg('text', { x: lx + 20, y: m.top + 12 }, s.name));
    lx += 28 + s.name.length * 7;
  });
  root.append(legend);
  return figure;
}

/**
 * Bar chart. bars: [{label, value}]; opts.limit draws a reference line (e.g. 1.0 for torque
 * ratio) and colours bars above it red.
 */
export function barPlot(title, bars, opts = {}) {
  const width = opts.width ?? 600;
  const height = opts.height ?? 260;
  const m = { left: 48, right: 12, top: 10, bottom: bars.length > 6 ? 80 : 30 };
  const { figure, root } = frame(title, { width, height });
  figure.dataset.plot = opts.id ?? title;
  if (!bars.length) {
    root.append(svg('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle' }, 'no data'));
    return figure;
  }
  const vmax = Math.max(opts.limit ?? 0, ...bars.map((b) => b.value)) * 1.1 || 1;
  const py = (v) => height - m.bottom - (v / vmax) * (height - m.top - m.bottom);
  const slot = (width - m.left - m.right) / bars.length;
  for (const t of niceTicks(0, vmax)) {
    root.append(svg('line', { class: 'grid', x1: m.left, x2: width - m.right, y1: py(t), y2: py(t) }));
    root.append(svg('text', { x: m.left - 6, y: py(t) + 4, 'text-anchor': 'end' }, tickLabel(t)));
  }
  bars.forEach((b, i) => {
    const x = m.left + i * slot + slot * 0.15;
    const over = opts.limit !== undefined && b.value > opts.limit;
    const rect = svg('rect', {
      x, y: py(Math.max(b.value, 0)), width: slot * 0.7,
      height: Math.max(0, py(0) - py(Math.max(b.value, 0))),
      fill: over ? '#f85149' : (opts.color ?? COLORS[0]),
    });
    rect.append(svg('title', {}, `${b.label}: ${tickLabel(b.value)}`));
    root.append(rect);
    const lx = x + slot * 0.35;
    const ly = height - m.bottom + 12;
    const label = b.label.replace(/_joint$/, '');
    // Many bars: slanted labels so they do not overlap; a few: straight and centred.
    root.append(bars.length > 6
      ? svg('text', { x: lx, y: ly, 'text-anchor': 'end', transform: `rotate(-60 ${lx} ${ly})` },
        label)
      : svg('text', { x: lx, y: ly + 4, 'text-anchor': 'middle' }, `${label}: ${tickLabel(b.value)}`));
  });
  if (opts.limit !== undefined) {
    root.append(svg('line', {
      x1: m.left, x2: width - m.right, y1: py(opts.limit), y2: py(opts.limit),
      stroke: '#f85149', 'stroke-dasharray': '6 4',
    }));
  }
  root.append(svg('line', {
    class: 'axis', x1: m.left, x2: width - m.right, y1: py(0), y2: py(0),
  }));
  return figure;
}
