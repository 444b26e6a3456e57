// Charts from JSON embedded in the page (no inline scripts: the CSP forbids them),
// and confirmation for admin actions.
(function () {
  "use strict";

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  var layoutBase = {
    margin: { l: 48, r: 16, t: 36, b: 40 },
    height: 280,
    legend: { orientation: "h", y: -0.25 },
    font: { family: "system-ui, sans-serif", size: 12 },
  };
  var config = { displaylogo: false, responsive: true };

  function plot(id, traces, extra) {
    var node = document.getElementById(id);
    if (!node || typeof Plotly === "undefined") return;
    var layout = Object.assign({}, layoutBase, { title: { text: node.dataset.title || "" } }, extra || {});
    if (!traces.length) {
      layout.annotations = [{ text: "no data yet", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }];
    }
    Plotly.newPlot(node, traces, layout, config);
  }

  function line(points, name, extra) {
    return Object.assign({
      x: points.map(function (p) { return p[0]; }),
      y: points.map(function (p) { return p[1]; }),
      name: name, type: "scatter", mode: "lines+markers",
    }, extra || {});
  }

  function thresholdShape(value) {
    return { type: "line", xref: "paper", x0: 0, x1: 1, y0: value, y1: value, line: { dash: "dot", color: "#c0392b" } };
  }

  function deploymentCharts(data) {
    var drift = (data.drift_share[""] || []);
    plot("chart-drift-share", drift.length ? [line(drift, "drift share")] : [],
      { yaxis: { range: [0, 1], tickformat: ".0%" }, shapes: data.threshold == null ? [] : [thresholdShape(data.threshold)] });

    var features = [];
    Object.keys(data.drift_score).forEach(function (name) {
      var entry = data.drift_score[name];
      features.push(line(entry.points, name + (entry.threshold == null ? "" : " (threshold " + entry.threshold + ")")));
    });
    plot("chart-features", features, { showlegend: true });

    var perf = [];
    Object.keys(data.performance).forEach(function (metric) {
      var estimated = metric.indexOf("estimated.") === 0;
      perf.push(line(data.performance[metric], metric, estimated ? { line: { dash: "dash" } } : {}));
    });
    plot("chart-performance", perf);

    var volume = [];
    if ((data.rows[""] || []).length) {
      volume.push(Object.assign(line(data.rows[""], "predictions"), { type: "bar" }));
    }
    if (data.coverage.length) {
      volume.push(line(data.coverage, "label coverage", { yaxis: "y2" }));
    }
    plot("chart-volume", volume, { margin: { l: 48, r: 56, t: 36, b: 40 }, yaxis2: { overlaying: "y", side: "right", range: [0, 1], tickformat: ".0%" } });
  }

  function profileCharts(profile) {
    var hours = [];
    for (var h = 0; h < 24; h++) hours.push(h);
    plot("chart-hours", [{ x: hours, y: profile.by_hour, type: "bar", name: "predictions" }], { height: 220 });
    plot("chart-weekdays", [{ x: profile.weekdays, y: profile.by_weekday, type: "bar", name: "predictions" }], { height: 220 });
  }

  function sparklines() {
    document.querySelectorAll(".spark").forEach(function (node) {
      var points = JSON.parse(node.dataset.points || "[]");
      if (!points.length || typeof Plotly === "undefined") { node.textContent = "–"; return; }
      Plotly.newPlot(node, [line(points, "drift share", { mode: "lines", line: { width: 1.5 } })], {
        margin: { l: 0, r: 0, t: 0, b: 0 }, height: 32, width: 140, showlegend: false,
        xaxis: { visible: false }, yaxis: { visible: false, range: [0, 1] },
      }, { staticPlot: true });
    });
  }

  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var charts = readJson("chart-data");
    if (charts) deploymentCharts(charts);
    var profile = readJson("profile-data");
    if (profile) profileCharts(profile);
    sparklines();
    confirmations();
  });
})();
