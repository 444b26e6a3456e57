// Charts from JSON embedded in the page (no inline scripts: the CSP forbids them),
// and confirmation for admin actions.
(function () {
  "use strict";

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  var layoutBase = {
    margin: { l: 56, r: 16, t: 36, b: 100 },
    height: 340,
    legend: { orientation: "h", y: -0.3, yanchor: "top" },
    font: { family: "system-ui, sans-serif", size: 12 },
  };
  var config = { displaylogo: false, responsive: true };

  function plot(id, traces, extra) {
    var node = document.getElementById(id);
    if (!node || typeof Plotly === "undefined") return;
    var layout = Object.assign({}, layoutBase, { title: { text: node.dataset.title || "" } }, extra || {});
    if (!traces.length) {
      layout.annotations = (layout.annotations || []).concat([{ text: "no data yet", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5 }]);
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

  var markColors = {
    drift: "#e67e22", data_quality: "#e67e22", performance: "#c0392b", estimated_performance: "#c0392b",
    alert: "#8e44ad", "retrain.requested": "#2980b9", "retrain.promoted": "#27ae60",
    "retrain.rejected": "#7f8c8d", "deployment.updated": "#27ae60", "deployment.rolled_back": "#d35400",
  };

  // What happened (breaches, alerts, retrains, versions, rollbacks): a line and a label
  // on every time chart, the event's title in the label's hover.
  function timelineLayout(marks) {
    var shapes = [], annotations = [];
    (marks || []).forEach(function (mark) {
      var color = markColors[mark.kind] || "#555";
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: mark.time, x1: mark.time, y0: 0, y1: 1, line: { width: 1, dash: "dot", color: color } });
      annotations.push({ x: mark.time, xref: "x", yref: "paper", y: 1, yanchor: "top", textangle: -90, showarrow: false,
        text: mark.label, hovertext: mark.title, font: { size: 10, color: color },
        xanchor: mark.side || "right", xshift: mark.shift || 0 });
    });
    return { shapes: shapes, annotations: annotations };
  }

  // Marks close in time (a breach, its alert, the retrain and the promotion within minutes)
  // would draw their labels over each other: side by side instead, left and right of the
  // line, and a version's "deployed" is left out beside its own "promoted".
  function spreadMarks(marks, rows) {
    var times = (marks || []).concat(rows || []).map(function (m) { return Date.parse(m.time || m[0]); });
    var near = (Math.max.apply(null, times) - Math.min.apply(null, times)) / 60 || 1;
    var groups = [];
    (marks || []).forEach(function (mark) {
      var last = groups[groups.length - 1];
      if (last && Date.parse(mark.time) - Date.parse(last[0].time) <= near) last.push(mark);
      else groups.push([mark]);
    });
    var spread = [];
    groups.forEach(function (group) {
      var labels = group.map(function (m) { return m.label; });
      group.filter(function (m) {
        var version = / deployed$/.test(m.label) && m.label.replace(/ deployed$/, " promoted");
        return !version || labels.indexOf(version) < 0;
      }).forEach(function (mark, index) {
        var step = Math.floor(index / 2) * 12;
        spread.push(Object.assign({}, mark, index % 2 ? { side: "left", shift: step } : { side: "right", shift: -step }));
      });
    });
    return spread;
  }

  function withTimeline(extra, marks, more) {
    var marksLayout = timelineLayout(marks);
    var layout = Object.assign({}, extra || {});
    layout.shapes = marksLayout.shapes.concat((more && more.shapes) || []);
    layout.annotations = marksLayout.annotations.concat((more && more.annotations) || []);
    return layout;
  }

  function driftShareChart(data, xaxis) {
    var points = data.drift_share;
    var traces = [];
    if (points.length) {
      traces.push(line(points, "drift share"));
      var breached = points.filter(function (p) { return p[2]; });
      if (breached.length) {
        traces.push(line(breached, "breach", { mode: "markers", marker: { color: "#c0392b", size: 9 } }));
      }
    }
    var shapes = data.threshold == null ? [] : [thresholdShape(data.threshold)];
    plot("chart-drift-share", traces, withTimeline({ xaxis: xaxis, yaxis: { range: [0, 1.05], tickformat: ".0%", title: { text: "share of features drifted" } } }, data.marks, { shapes: shapes }));
  }

  function featureChart(data, xaxis) {
    var traces = data.drift_score.map(function (entry) {
      return line(entry.points, entry.name, { text: entry.hover, hovertemplate: "%{text}<br>%{y:.3g} × threshold<extra></extra>" });
    });
    plot("chart-features", traces, withTimeline({ xaxis: xaxis, showlegend: true, yaxis: { rangemode: "tozero", title: { text: "score ÷ threshold" } } }, data.marks, { shapes: [thresholdShape(1)] }));
  }

  function metricAxis(metric) {
    var axis = { title: { text: metric.label }, rangemode: "tozero" };
    if (metric.share) { axis.range = [0, 1.05]; axis.tickformat = ".0%"; }
    return axis;
  }

  // The policy's metric is shown first; each other metric is one click away, on its own axis.
  function performanceChart(data, xaxis) {
    var perf = data.performance, traces = [], owner = [];
    perf.order.forEach(function (name, index) {
      var metric = perf.metrics[name];
      var visible = index === 0;
      if (metric.realized.length) {
        traces.push(line(metric.realized, metric.label, { visible: visible, connectgaps: false }));
        owner.push(name);
      }
      if (metric.estimated.length) {
        traces.push(line(metric.estimated, metric.label + " (estimate)", { visible: visible, line: { dash: "dash" }, marker: { symbol: "circle-open" }, connectgaps: false }));
        owner.push(name);
      }
    });
    function layoutFor(name) {
      var metric = perf.metrics[name];
      var shapes = metric.threshold == null ? [] : [thresholdShape(metric.threshold)];
      var marksLayout = timelineLayout(data.marks);
      return { yaxis: metricAxis(metric), shapes: marksLayout.shapes.concat(shapes), annotations: marksLayout.annotations };
    }
    var first = perf.order[0];
    var extra = { xaxis: xaxis, showlegend: true };
    if (first) {
      Object.assign(extra, layoutFor(first));
      if (perf.order.length > 1) {
        extra.updatemenus = [{
          type: "buttons", direction: "right", x: 0, xanchor: "left", y: 1.2, yanchor: "top", pad: { t: 0, r: 4 },
          buttons: perf.order.map(function (name) {
            return { label: perf.metrics[name].label, method: "update",
              args: [{ visible: owner.map(function (o) { return o === name; }) }, layoutFor(name)] };
          }),
        }];
        // The metric buttons sit between the title and the plot.
        extra.margin = { l: 56, r: 16, t: 84, b: 100 };
        extra.title = { text: document.getElementById("chart-performance").dataset.title, y: 0.98, yanchor: "top" };
      }
    } else {
      extra = withTimeline(extra, data.marks);
    }
    plot("chart-performance", traces, extra);
  }

  function volumeChart(data, xaxis) {
    var volume = [];
    if (data.rows.length) {
      volume.push(Object.assign(line(data.rows, "predictions"), { type: "bar" }));
    }
    if (data.coverage.length) {
      volume.push(line(data.coverage, "label coverage", { yaxis: "y2" }));
    }
    var layout = withTimeline({ xaxis: xaxis, margin: { l: 48, r: 56, t: 36, b: 100 }, yaxis: { title: { text: "predictions" } }, yaxis2: { overlaying: "y", side: "right", range: [0, 1.05], tickformat: ".0%" } }, data.marks);
    // Over the bars the labels need a ground of their own to be read.
    layout.annotations.forEach(function (label) { label.bgcolor = "rgba(255,255,255,0.8)"; });
    plot("chart-volume", volume, layout);
  }

  function deploymentCharts(data) {
    var xaxis = { type: "date", title: { text: "window start (" + data.zone + ")", standoff: 4 } };
    data.marks = spreadMarks(data.marks, data.rows);
    driftShareChart(data, xaxis);
    featureChart(data, xaxis);
    performanceChart(data, xaxis);
    volumeChart(data, xaxis);
  }

  // A run page whose report is still being built asks again every few seconds, and shows
  // the report as soon as it is there.
  function reportPoll() {
    var box = document.getElementById("report-pending");
    if (!box) return;
    var every = (parseFloat(box.dataset.every) || 5) * 1000, tries = 0;
    function ask() {
      tries += 1;
      fetch(box.dataset.status, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (answer) {
        if (answer.state === "ready") {
          var frame = document.createElement("iframe");
          frame.className = "report";
          frame.title = "Evidently report";
          frame.setAttribute("sandbox", "allow-scripts");
          frame.src = box.dataset.src;
          box.replaceWith(frame);
        } else if (answer.state === "pending" && tries < 720) {
          window.setTimeout(ask, every);
        }
      }).catch(function () { if (tries < 720) window.setTimeout(ask, every); });
    }
    window.setTimeout(ask, every);
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
    reportPoll();
    confirmations();
  });
})();
