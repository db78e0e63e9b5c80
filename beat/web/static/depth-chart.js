// The queues page's depth chart: totals over all queues, sampled by the dashboard process
// (GET /api/queues/history), redrawn every 5 s with uPlot (shipped beside this file).
(function () {
  const el = document.getElementById("depth-chart");
  if (!el || typeof uPlot === "undefined") return;
  const kinds = ["ready", "delayed", "in_flight", "dead"];
  const colours = ["#1f77b4", "#9467bd", "#2ca02c", "#d62728"];
  const opts = {
    width: Math.min(el.clientWidth || 800, 1000),
    height: 220,
    series: [{}].concat(kinds.map((k, i) => ({ label: k.replace("_", " "), stroke: colours[i], width: 2 }))),
    axes: [{}, { label: "messages" }],
  };
  let plot = null;
  function draw() {
    fetch("/api/queues/history", { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((h) => {
        if (!h) return;
        const data = [h.t].concat(kinds.map((k) => h[k]));
        if (plot === null) plot = new uPlot(opts, data, el);
        else plot.setData(data);
        el.dataset.samples = String(h.t.length);
      })
      .catch(() => {});
  }
  draw();
  setInterval(draw, 5000);
})();
