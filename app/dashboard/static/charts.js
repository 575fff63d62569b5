// The charts, drawn with the vendored uPlot (canvas; styles set through the DOM, so the
// page's CSP needs no 'unsafe-inline'). Each chart also fills a table with its data.
"use strict";
window.Dashboard = window.Dashboard || {};
window.Dashboard.charts = (() => {
  const format = window.Dashboard.format;
  const COLORS = ["#2f6fdb", "#d9622b", "#2a9d5c", "#8a4fd1", "#c23b6b"];
  const HEIGHT = 240;
  const plots = new Map(); // container id -> its uPlot, replaced on each render

  function width(container) {
    return Math.max(container.clientWidth, 280);
  }

  function replace(id, make) {
    const container = document.getElementById(id);
    if (plots.has(id)) plots.get(id).destroy();
    plots.delete(id);
    container.replaceChildren();
    const plot = make(container);
    if (plot) plots.set(id, plot);
  }

  function empty(container, text) {
    const note = document.createElement("p");
    note.className = "empty";
    note.textContent = text;
    container.append(note);
    return null;
  }

  // Shares (0..1, or null for a gap) at each point's start, drawn as percentages.
  function rates(id, points) {
    replace(id, (container) => {
      if (points.length === 0) return empty(container, "No data for this period.");
      const xs = points.map((p) => Date.parse(p.from) / 1000);
      const pct = (key) => points.map((p) => (p[key] === null ? null : p[key] * 100));
      const opts = {
        width: width(container),
        height: HEIGHT,
        scales: { y: { range: [0, 100] } },
        series: [
          {},
          { label: "Repurchase", stroke: COLORS[0], width: 2, value: (u, v) => percent(v) },
          { label: "Retention", stroke: COLORS[1], width: 2, value: (u, v) => percent(v) },
        ],
        axes: [{}, { values: (u, ticks) => ticks.map((t) => `${t}%`) }],
      };
      return new uPlot(opts, [xs, pct("repurchaseRate"), pct("retentionRate")], container);
    });
  }

  function percent(v) {
    return v === null || v === undefined ? format.NONE : `${v.toFixed(1)}%`;
  }

  // One bar per label; `values` are Money (or null), shown with the currency.
  function bars(id, labels, values, emptyText) {
    replace(id, (container) => {
      if (labels.length === 0) return empty(container, emptyText);
      const money = values.find((m) => m);
      const tick = (v) => (money ? format.money({ amount: String(v), currencyCode: money.currencyCode }) : v);
      const opts = {
        width: width(container),
        height: HEIGHT,
        legend: { show: false },
        scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: (u, lo, hi) => [0, hi > 0 ? hi * 1.1 : 1] } },
        series: [
          {},
          {
            label: "Amount",
            fill: COLORS[0],
            stroke: COLORS[0],
            paths: uPlot.paths.bars({ size: [0.6, 80] }),
            points: { show: false },
          },
        ],
        axes: [
          { splits: () => labels.map((_, i) => i), values: (u, ticks) => ticks.map((i) => labels[i] || "") },
          { size: 90, values: (u, ticks) => ticks.map(tick) },
        ],
      };
      const xs = labels.map((_, i) => i);
      return new uPlot(opts, [xs, values.map(format.moneyValue)], container);
    });
  }

  function table(id, head, rows) {
    const element = document.getElementById(id);
    const line = (cells, tag) => {
      const tr = document.createElement("tr");
      for (const cell of cells) {
        const td = document.createElement(tag);
        td.textContent = cell;
        tr.append(td);
      }
      return tr;
    };
    const thead = document.createElement("thead");
    thead.append(line(head, "th"));
    const tbody = document.createElement("tbody");
    for (const row of rows) tbody.append(line(row, "td"));
    element.replaceChildren(thead, tbody);
  }

  function resize() {
    for (const [id, plot] of plots) {
      plot.setSize({ width: width(document.getElementById(id)), height: HEIGHT });
    }
  }

  window.addEventListener("resize", resize);
  return { rates, bars, table };
})();
