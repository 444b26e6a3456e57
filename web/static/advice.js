// The serving advice's chart: traffic by hour against the machines each option runs.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var node = document.getElementById("advice-data");
    var chart = document.getElementById("chart-advice");
    if (!node || !chart || typeof Plotly === "undefined") return;
    var advice = JSON.parse(node.textContent);
    var running = advice.running_by_hour;
    if (!running) return;
    var hours = [];
    for (var h = 0; h < 24; h++) hours.push(h);
    var traces = [
      { x: hours, y: running.predictions, type: "bar", name: "predictions per hour", marker: { color: "#9db4d0" } },
      { x: hours, y: running.realtime, type: "scatter", mode: "lines", name: "real-time instances", yaxis: "y2", line: { shape: "hv", color: "#c0392b" } },
    ];
    if (advice.costs.batch) {
      traces.push({ x: hours, y: running.batch, type: "scatter", mode: "lines", name: "batch node-hours", yaxis: "y2", line: { shape: "hv", color: "#27ae60" } });
    }
    Plotly.newPlot(chart, traces, {
      title: { text: chart.dataset.title || "" },
      height: 260, margin: { l: 48, r: 48, t: 36, b: 40 },
      legend: { orientation: "h", y: -0.3 },
      xaxis: { title: { text: "hour of day" }, dtick: 2 },
      yaxis: { title: { text: "predictions" } },
      yaxis2: { title: { text: "machines" }, overlaying: "y", side: "right", rangemode: "tozero" },
      font: { family: "system-ui, sans-serif", size: 12 },
    }, { displaylogo: false, responsive: true });
  });
})();
