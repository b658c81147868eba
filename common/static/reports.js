/* A report's charts, drawn with the vendored Apache ECharts from <script type="application/json" id="report-data">
 * (a list of {id, title, kind, unit, labels, series}); the same numbers are in the table under each chart. */
(function () {
  "use strict";

  var PALETTE = ["#1f4e8c", "#c0392b", "#2e7d32", "#b36b00", "#6a1b9a", "#00838f"];
  var charts = [];

  function readData() {
    var node = document.getElementById("report-data");
    if (!node) { return []; }
    try { return JSON.parse(node.textContent || "[]"); } catch (e) { return []; }
  }

  function option(el, figure) {
    var narrow = el.clientWidth < 600;
    var calm = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    var suffix = figure.unit || "";
    return {
      color: PALETTE,
      animation: !calm,
      aria: { enabled: true, decal: { show: true } },
      tooltip: { trigger: "axis", confine: true, renderMode: "richText",
                 valueFormatter: function (v) { return v == null || v === "—" ? "—" : v + suffix; } },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: narrow ? 8 : 24, top: 16, bottom: 48, containLabel: true },
      xAxis: { type: "category", data: figure.labels,
               axisLabel: { rotate: narrow ? 45 : 0, hideOverlap: true, width: 96, overflow: "truncate" } },
      yAxis: { type: "value", minInterval: 1, axisLabel: { formatter: "{value}" + suffix } },
      series: figure.series.map(function (s) {
        return { type: figure.kind === "line" ? "line" : "bar", name: s.name,
                 data: s.values.map(function (v) { return v === "—" ? null : v; }) };
      })
    };
  }

  function start() {
    var busy = document.getElementById("download-busy");
    var pdf = document.getElementById("report-pdf");
    if (busy && pdf) {
      pdf.addEventListener("click", function () {
        busy.hidden = false;
        window.setTimeout(function () { busy.hidden = true; }, 4000);
      });
    }
    if (!window.echarts) { return; }
    var lang = (document.documentElement.lang || "zh-CN").toLowerCase().indexOf("zh") === 0 ? "ZH" : "EN";
    readData().forEach(function (figure) {
      var el = document.getElementById("chart-" + figure.id);
      if (!el) { return; }
      var chart = window.echarts.init(el, null, { renderer: "canvas", locale: lang });
      chart.setOption(option(el, figure));
      charts.push(chart);
    });
    var pending = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(pending);
      pending = window.setTimeout(function () { charts.forEach(function (c) { c.resize(); }); }, 150);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
