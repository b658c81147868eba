/* The statistics page's charts, drawn with the vendored Apache ECharts from the numbers the server put in
 * <script type="application/json" id="stats-data">. The same numbers are in the table under each chart, so the
 * page says everything without this script; series are told apart by patterns (decals) as well as colours.
 */
(function () {
  "use strict";

  var PALETTE = ["#1f4e8c", "#c0392b", "#2e7d32", "#b36b00", "#6a1b9a", "#00838f", "#5d4037", "#455a64", "#ad1457"];
  var charts = {};

  function readData() {
    var node = document.getElementById("stats-data");
    if (!node) { return {}; }
    try { return JSON.parse(node.textContent || "{}"); } catch (e) { return {}; }
  }

  function calm() {
    return window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  }

  function narrow(el) {
    return el.clientWidth < 600;
  }

  function common(el) {
    return {
      color: PALETTE,
      animation: !calm(),
      animationDuration: 300,
      aria: { enabled: true, decal: { show: true } },
      // Drawn on the canvas: the HTML tooltip writes style="" attributes, which the page's policy refuses.
      tooltip: { trigger: "axis", confine: true, renderMode: "richText" },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: narrow(el) ? 8 : 24, top: 16, bottom: 48, containLabel: true }
    };
  }

  function monthsOption(el, figure) {
    var option = common(el);
    option.xAxis = { type: "category", data: figure.months, axisLabel: { rotate: narrow(el) ? 45 : 0, hideOverlap: true } };
    option.yAxis = { type: "value", minInterval: 1 };
    option.series = figure.series.map(function (s) {
      return { type: "bar", name: s.name, stack: "total", data: s.values, emphasis: { focus: "series" } };
    });
    return option;
  }

  function ratesOption(el, figure) {
    var option = common(el);
    option.grid.right = 56;  // room for the "100%" label at a bar's end
    option.tooltip = { trigger: "axis", confine: true, renderMode: "richText", valueFormatter: function (v) { return v == null ? "—" : v + "%"; } };
    option.xAxis = { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } };
    option.yAxis = { type: "category", data: figure.units, inverse: true,
                     axisLabel: { width: narrow(el) ? 84 : 160, overflow: "truncate" } };
    option.series = figure.series.map(function (s) {
      return { type: "bar", name: s.name, data: s.values,
               label: { show: true, position: "right", formatter: function (p) { return p.value == null ? "" : p.value + "%"; } } };
    });
    return option;
  }

  function draw(el, figure) {
    var lang = (document.documentElement.lang || "zh-CN").toLowerCase().indexOf("zh") === 0 ? "ZH" : "EN";
    // A bar per unit: the unit chart grows with its rows (set here, as the page's policy allows no style="").
    var rows = parseInt(el.getAttribute("data-rows") || "", 10);
    if (rows > 0) { el.style.minHeight = (8 + 3 * rows) + "rem"; }
    var chart = window.echarts.init(el, null, { renderer: "canvas", locale: lang });
    chart.setOption(figure.kind === "rates" ? ratesOption(el, figure) : monthsOption(el, figure));
    return chart;
  }

  // The months run oldest first, as on the charts' axes: a table wider than its box opens at its right end, where
  // the newest month is, beside the total column that stays in view (lianfu.css). Done before the charts, so even a
  // page whose chart library failed to load shows the newest month first.
  function showNewestMonths() {
    Array.prototype.forEach.call(document.querySelectorAll(".figure-scroll"), function (box) {
      box.scrollLeft = box.scrollWidth;
    });
  }

  function start() {
    showNewestMonths();
    if (!window.echarts) { return; }
    var data = readData();
    Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), function (el) {
      var key = el.getAttribute("data-chart");
      if (data[key]) { charts[key] = draw(el, data[key]); }
    });
    var pending = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(pending);
      pending = window.setTimeout(function () {
        Object.keys(charts).forEach(function (key) { charts[key].resize(); });
      }, 150);
    });
    window.lianfuCharts = charts;
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
