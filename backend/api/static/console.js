// The console's charts: the dashboard's series from /console/dashboard.json, drawn with uPlot
// (served from this origin). No inline script anywhere: this file is the page's only code.
(function () {
  "use strict";

  function seconds(days) {
    return days.map(function (day) { return Date.parse(day + "T00:00:00Z") / 1000; });
  }

  function width(element) {
    return Math.max(280, Math.min(element.clientWidth || 600, 960));
  }

  function draw(element, title, x, series) {
    var options = {
      title: title,
      width: width(element),
      height: 220,
      scales: { x: { time: true } },
      series: [{}].concat(series.map(function (s) {
        return { label: s.label, stroke: s.colour, width: 2 };
      })),
    };
    element.textContent = "";
    new window.uPlot(options, [x].concat(series.map(function (s) { return s.values; })), element);
    element.setAttribute("data-drawn", "true");
  }

  function start() {
    var liability = document.getElementById("chart-liability");
    var daily = document.getElementById("chart-daily");
    if (!liability || !daily || !window.uPlot) { return; }
    fetch("/console/dashboard.json", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        var days = data.per_day;
        var x = seconds(days.days);
        draw(liability, "Points outstanding", x, [
          { label: "outstanding", colour: "#1d4ed8", values: days.outstanding },
        ]);
        draw(daily, "Points per day", x, [
          { label: "issued", colour: "#15803d", values: days.issued },
          { label: "redeemed", colour: "#1d4ed8", values: days.redeemed },
          { label: "expired", colour: "#b45309", values: days.expired },
          { label: "reversed", colour: "#b91c1c", values: days.reversed },
        ]);
      });
  }

  // A file chosen for a form (an EPCIS document) is read here into the form's text area: the form
  // posts text, as every console form does, and the text can be checked before it is sent.
  function files() {
    Array.prototype.forEach.call(document.querySelectorAll("input[type=file][data-fills]"), function (input) {
      input.addEventListener("change", function () {
        var target = document.getElementById(input.getAttribute("data-fills"));
        var file = input.files && input.files[0];
        if (!target || !file) { return; }
        file.text().then(function (text) { target.value = text; });
      });
    });
  }

  function ready() {
    start();
    files();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
