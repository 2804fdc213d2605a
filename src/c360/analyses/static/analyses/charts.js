// Charts of stored analysis results, drawn with ECharts (served from node_modules, no CDN).
// Each chart is a <div data-chart="kind" data-source="id of a json_script element">.
(function () {
  "use strict";

  function treeNode(node, label) {
    var counts = Object.keys(node.counts).map(function (k) { return k + " " + node.counts[k]; });
    var name = node.feature
      ? (label ? label + ": " : "") + node.feature + (node.value === null ? " ≤ " + node.threshold : "") + "?"
      : (label ? label + ": " : "") + "→ " + node.predicted;
    var out = { name: name, value: node.samples + " cases · " + counts.join(", ") };
    if (node.left) {
      var no = node.value === null ? "yes" : "no";
      var yes = node.value === null ? "no" : "yes";
      out.children = [treeNode(node.left, no), treeNode(node.right, yes)];
    }
    return out;
  }

  var builders = {
    elbow: function (data, el) {
      var measure = el.getAttribute("data-measure") || "inertia";
      return {
        tooltip: { trigger: "axis" },
        legend: { data: [measure, "silhouette"] },
        xAxis: { type: "category", name: "k", data: data.map(function (p) { return p.k; }) },
        yAxis: [{ type: "value", name: measure }, { type: "value", name: "silhouette", min: -1, max: 1 }],
        series: [
          { name: measure, type: "line", data: data.map(function (p) { return p.inertia; }) },
          { name: "silhouette", type: "line", yAxisIndex: 1, data: data.map(function (p) { return p.silhouette; }) }
        ]
      };
    },
    funnel: function (data) {
      return {
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: data.map(function (s) { return s.step + ". " + s.activity; }) },
        yAxis: { type: "value", name: "cases" },
        series: [{ type: "bar", data: data.map(function (s) { return s.cases; }), label: { show: true, position: "top" } }]
      };
    },
    importances: function (data) {
      var top = data.slice(0, 15).reverse();
      return {
        tooltip: {},
        grid: { left: 220 },
        xAxis: { type: "value", max: 1 },
        yAxis: { type: "category", data: top.map(function (f) { return f.feature; }) },
        series: [{ type: "bar", data: top.map(function (f) { return f.importance; }) }]
      };
    },
    tree: function (data) {
      return {
        tooltip: { formatter: function (p) { return p.name + "<br>" + p.value; } },
        series: [{
          type: "tree", data: [treeNode(data, "")], orient: "TB", top: 40, bottom: 80,
          expandAndCollapse: true, initialTreeDepth: 4,
          label: { fontSize: 11, position: "top" }, leaves: { label: { position: "bottom" } }
        }]
      };
    }
  };

  function draw() {
    if (!window.echarts) return;
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-source"));
      var build = builders[el.getAttribute("data-chart")];
      if (!source || !build) return;
      var chart = window.echarts.init(el);
      chart.setOption(build(JSON.parse(source.textContent), el));
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
