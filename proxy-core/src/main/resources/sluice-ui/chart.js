// A stacked bar chart in SVG (no library): one bar per day, one colour per series.
const NS = 'http://www.w3.org/2000/svg';
export const COLORS = ['#1d4ed8', '#059669', '#d97706', '#7c3aed', '#db2777', '#0891b2', '#6b7280'];

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** days: ['2026-01-01', …]; series: [{name, values: [number per day]}]; format: value → label. */
export function stackedBars(title, days, series, format) {
  const W = 960, H = 260, L = 64, B = 28, T = 12, R = 8;
  const totals = days.map((_, i) => series.reduce((s, x) => s + (x.values[i] || 0), 0));
  const max = Math.max(...totals, 0) || 1;
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title });
  svg.append(el('title', {}, title));
  for (let g = 0; g <= 4; g++) {
    const y = T + (H - T - B) * (1 - g / 4);
    svg.append(el('line', { x1: L, x2: W - R, y1: y, y2: y, stroke: '#e5e7eb' }));
    svg.append(el('text', { x: L - 6, y: y + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#6b7280' }, format(max * g / 4)));
  }
  const n = Math.max(days.length, 1);
  const slot = (W - L - R) / n, bw = Math.max(2, slot * 0.7);
  days.forEach((d, i) => {
    let y = H - B;
    const x = L + i * slot + (slot - bw) / 2;
    series.forEach((s, k) => {
      const v = s.values[i] || 0;
      if (!v) return;
      const hgt = (H - T - B) * v / max;
      y -= hgt;
      const r = el('rect', { x, y, width: bw, height: Math.max(hgt, 0.5), fill: COLORS[k % COLORS.length] });
      r.append(el('title', {}, `${d} · ${s.name}: ${format(v)}`));
      svg.append(r);
    });
    const every = Math.ceil(n / 10);
    if (i % every === 0) svg.append(el('text', { x: x + bw / 2, y: H - 8, 'text-anchor': 'middle', 'font-size': 11, fill: '#6b7280' }, d.slice(5)));
  });
  return svg;
}
