// The entry page's chart: run time of each fire (GET /api/entries/{name}/history), one point
// series per outcome, redrawn every 5 s with uPlot (shipped beside this file).
(function () {
  const el = document.getElementById("history-chart");
  if (!el || typeof uPlot === "undefined") return;
  const groups = [
    ["succeeded", "#2ca02c", (f) => f.state === "SUCCESS"],
    ["failed", "#d62728", (f) => ["FAILURE", "DEAD", "REVOKED", "EXPIRED"].includes(f.state)],
    ["other", "#7f7f7f", (f) => !["SUCCESS", "FAILURE", "DEAD", "REVOKED", "EXPIRED"].includes(f.state)],
  ];
  const opts = {
    width: Math.min(el.clientWidth || 800, 1000),
    height: 200,
    series: [{}].concat(groups.map(([label, colour]) => ({
      label: label, stroke: colour, fill: colour, width: 0, paths: () => null,
      points: { show: true, size: 8, fill: colour },
    }))),
    axes: [{}, { label: "run time (s)" }],
  };
  let plot = null;
  function draw() {
    fetch(el.dataset.api, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((h) => {
        if (!h) return;
        // Oldest first; a fire that has not run (yet) sits at 0 s in "other".
        const fires = h.fires.slice().reverse();
        const t = fires.map((f) => Date.parse(f.scheduled_for) / 1000);
        const data = [t].concat(groups.map(([, , match]) =>
          fires.map((f) => (match(f) ? (f.runtime_s === null ? 0 : f.runtime_s) : null))));
        if (plot === null) plot = new uPlot(opts, data, el);
        else plot.setData(data);
        el.dataset.fires = String(fires.length);
      })
      .catch(() => {});
  }
  draw();
  setInterval(draw, 5000);
})();
