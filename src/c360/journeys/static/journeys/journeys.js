// Journey pages: the process map drawn with Viz.js (Graphviz in WebAssembly, served from
// node_modules), its sliders and measure switch (the server sends new DOT through htmx),
// clicks that list the cases behind an activity or path, Petri nets of the discovered models,
// and the case-statistics charts (ECharts).
(function () {
  "use strict";

  var vizReady = null;
  function viz() {
    if (!vizReady) vizReady = Viz.instance();
    return vizReady;
  }

  // Graphviz writes its size in points. A drawing wider than its box shrinks to fit, but
  // never below `least` of its size (text stays readable; the box scrolls instead).
  function fit(svg, box, least) {
    var view = svg.viewBox && svg.viewBox.baseVal;
    if (box && view && view.width) {
      var natural = view.width * 4 / 3;
      var room = box.clientWidth - 24;
      var scale = Math.max(Math.min(1, room / natural), least);
      svg.setAttribute("width", String(Math.round(natural * scale)));
      svg.setAttribute("height", String(Math.round(view.height * 4 / 3 * scale)));
    } else {
      svg.removeAttribute("width");
      svg.removeAttribute("height");
    }
    svg.setAttribute("preserveAspectRatio", "xMidYMin meet");
    // Graphviz's own tooltips: the <title> of each <g> would otherwise repeat the DOT id.
    svg.querySelectorAll("g > title").forEach(function (title) {
      var link = title.parentNode.querySelector("a[title], a[*|title]");
      if (link) title.textContent = link.getAttribute("title") || link.getAttribute("xlink:title");
    });
    return svg;
  }

  // -- the process map ----------------------------------------------------------------
  var drawCount = 0;

  function selectElement(group, element, payload) {
    document.querySelectorAll("#map-canvas .selected").forEach(function (g) {
      g.classList.remove("selected");
    });
    group.classList.add("selected");
    var query;
    if (element.kind === "activity") {
      query = "&activity=" + encodeURIComponent(element.name);
    } else {
      query = "&edge=1";
      if (element.source !== null) query += "&source=" + encodeURIComponent(element.source);
      if (element.target !== null) query += "&target=" + encodeURIComponent(element.target);
    }
    htmx.ajax("GET", payload.casesUrl + query, { target: "#case-panel", swap: "innerHTML" });
  }

  function drawMap() {
    var data = document.getElementById("map-data");
    var canvas = document.getElementById("map-canvas");
    if (!data || !canvas) return;
    var payload = JSON.parse(data.textContent);
    var mine = ++drawCount;
    canvas.setAttribute("aria-busy", "true");
    viz().then(function (instance) {
      if (mine !== drawCount) return; // a newer map arrived meanwhile
      var svg = fit(instance.renderSVGElement(payload.dot), canvas, 0.55);
      canvas.replaceChildren(svg);
      // A map wider than its box opens on its middle, where the start node is.
      canvas.scrollLeft = Math.max(0, (canvas.scrollWidth - canvas.clientWidth) / 2);
      svg.querySelectorAll("g.node, g.edge").forEach(function (group) {
        var element = payload.elements[group.id];
        if (!element || element.kind === "start" || element.kind === "end") return;
        group.classList.add("clickable");
        group.addEventListener("click", function (event) {
          event.preventDefault();
          selectElement(group, element, payload);
        });
      });
      canvas.dataset.measure = payload.measure;
      canvas.dataset.nodes = String(svg.querySelectorAll("g.node").length);
      canvas.dataset.edges = String(svg.querySelectorAll("g.edge").length);
      canvas.dataset.drawn = String(mine);
      canvas.removeAttribute("aria-busy");
    }).catch(function (error) {
      canvas.removeAttribute("aria-busy");
      canvas.textContent = "The map could not be drawn: " + error;
    });
  }

  function showSliderValues() {
    document.querySelectorAll("input[type=range][data-output]").forEach(function (input) {
      var output = document.getElementById(input.getAttribute("data-output"));
      if (output) output.textContent = input.value + "%";
    });
  }

  // -- Petri nets of the discovered models ------------------------------------------------
  function drawModels() {
    document.querySelectorAll("[data-dot]").forEach(function (box) {
      var source = document.getElementById(box.getAttribute("data-dot"));
      if (!source) return;
      var dot = JSON.parse(source.textContent);
      viz().then(function (instance) {
        box.replaceChildren(fit(instance.renderSVGElement(dot), box, 0.5));
        box.dataset.drawn = "1";
      });
    });
  }

  // -- case statistics ------------------------------------------------------------------
  function durationText(seconds) {
    if (seconds >= 86400) return (seconds / 86400).toFixed(1) + " d";
    if (seconds >= 3600) return (seconds / 3600).toFixed(1) + " h";
    if (seconds >= 60) return Math.round(seconds / 60) + " min";
    return Math.round(seconds) + " s";
  }

  var chartBuilders = {
    durations: function (bins) {
      return {
        tooltip: { trigger: "axis" },
        grid: { left: 48, right: 16, top: 24, bottom: 56 },
        xAxis: {
          type: "category",
          name: "case duration",
          nameLocation: "middle",
          nameGap: 40,
          data: bins.map(function (b) { return durationText(b.low) + "–" + durationText(b.high); }),
          axisLabel: { rotate: 30, fontSize: 10 },
        },
        yAxis: { type: "value", name: "cases" },
        series: [{ type: "bar", data: bins.map(function (b) { return b.cases; }), itemStyle: { color: "#4f46e5" } }],
      };
    },
    events: function (rows) {
      return {
        tooltip: { trigger: "axis" },
        grid: { left: 48, right: 16, top: 24, bottom: 48 },
        xAxis: {
          type: "category",
          name: "events in the case",
          nameLocation: "middle",
          nameGap: 30,
          data: rows.map(function (r) { return String(r.events); }),
        },
        yAxis: { type: "value", name: "cases" },
        series: [{ type: "bar", data: rows.map(function (r) { return r.cases; }), itemStyle: { color: "#0e9384" } }],
      };
    },
  };

  function drawCharts() {
    if (typeof echarts === "undefined") return;
    document.querySelectorAll("[data-journey-chart]").forEach(function (box) {
      var build = chartBuilders[box.getAttribute("data-journey-chart")];
      var source = document.getElementById(box.getAttribute("data-source"));
      if (!build || !source) return;
      var chart = echarts.init(box);
      chart.setOption(build(JSON.parse(source.textContent)));
      window.addEventListener("resize", function () { chart.resize(); });
      box.dataset.drawn = "1";
    });
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("input[type=range][data-output]")) showSliderValues();
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "map-draw") drawMap();
  });
  document.addEventListener("DOMContentLoaded", function () {
    showSliderValues();
    drawMap();
    drawModels();
    drawCharts();
  });
})();
