// Mission Pulse · Mission Experience: the organisation's experience over time, hand-offs between
// departments, what moved it, value at risk. Plain JavaScript; every value from the API is written as text.
"use strict";

const DIMENSIONS = [["content", "#0b57d0"], ["operations", "#a50e0e"], ["principles", "#1e6b2f"]];

const money = (amount) => amount.toLocaleString(undefined, { maximumFractionDigits: 0 });
const duration = (seconds) => seconds === null ? "over 7 d" : seconds < 3600 ? `${seconds / 60} min`
  : seconds < 86400 ? `${seconds / 3600} h` : `${seconds / 86400} d`;

async function getJson(path) {
  const key = sessionStorage.getItem(KEY_STORE) || "";
  const response = await fetch(path, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
  if (response.status === 401) throw new Error("sign in on the operations console first (this tab keeps the key)");
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

async function load() {
  const days = Number($("days").value);
  const granularity = days <= 2 ? "hour" : "day";
  const to = new Date();
  const from = new Date(to.getTime() - days * 86400000);
  const range = `from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
  $("report-status").textContent = "Loading…";
  try {
    const [experience, handoffs] = await Promise.all([
      getJson(`/v1/reports/experience?granularity=${granularity}&${range}`),
      getJson(`/v1/reports/handoffs?${range}`),
    ]);
    renderDimensions(experience.rows, granularity);
    renderMatrix(handoffs.matrix);
    renderDrivers(experience.summary.drivers);
    renderRisk(experience.summary);
    const people = experience.rows.reduce((sum, row) => sum + row.people, 0);
    const unit = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
    $("report-status").textContent = `${unit(experience.rows.length, granularity)} with a touchpoint, `
      + `${unit(people, `person-${granularity}`)} · ${from.toLocaleDateString()} – ${to.toLocaleDateString()}`;
  } catch (error) {
    $("report-status").textContent = `Report unavailable: ${error.message}`;
  }
}

function renderDimensions(rows, granularity) {
  const width = 900, height = 240, left = 30, bottom = 20;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  const last = rows[rows.length - 1];
  svg.setAttribute("aria-label", last
    ? `Mean scores by ${granularity}; latest: content ${last.mean.content}, operations ${last.mean.operations}, principles ${last.mean.principles}`
    : "No touchpoints in this period");
  const add = (tag, attributes, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
  };
  const times = rows.map((row) => Date.parse(row.start));
  const start = Math.min(...times), span = Math.max(1, Math.max(...times) - start);
  const x = (t) => left + ((t - start) / span) * (width - left - 10);
  const y = (score) => 8 + (1 - score / 100) * (height - bottom - 8);
  for (const mark of [0, 25, 50, 75, 100]) {
    add("line", { class: "axis", x1: left, x2: width, y1: y(mark), y2: y(mark) });
    add("text", { x: 2, y: y(mark) + 3 }, String(mark));
  }
  if (rows.length) {
    add("text", { x: left, y: height - 4 }, new Date(start).toLocaleString());
    add("text", { x: width - 4, y: height - 4, "text-anchor": "end" }, new Date(start + span).toLocaleString());
  }
  for (const [name, colour] of DIMENSIONS) {
    const points = rows.map((row, i) => `${x(times[i]).toFixed(1)},${y(row.mean[name]).toFixed(1)}`);
    add("polyline", { points: points.join(" "), fill: "none", stroke: colour, "stroke-width": 2, "data-series": name });
    rows.forEach((row, i) => add("circle", { cx: x(times[i]).toFixed(1), cy: y(row.mean[name]).toFixed(1), r: 3, fill: colour }));
  }
  $("dimensions").replaceChildren(svg);
  $("dimensions-legend").replaceChildren(...DIMENSIONS.map(([name]) =>
    el("li", {}, el("span", { class: `swatch-${name}` }), last ? `${name} (latest ${last.mean[name]})` : name)));
}

function renderMatrix(matrix) {
  const pairs = new Map();
  for (const row of matrix) {
    const key = `${row.from}>${row.to}`;
    const cell = pairs.get(key) || { broken: 0, settled: 0 };
    cell.broken += row.broken;
    cell.settled += row.in_time + row.late + row.broken;
    pairs.set(key, cell);
  }
  const froms = [...new Set(matrix.map((row) => row.from))].sort();
  const tos = [...new Set(matrix.map((row) => row.to))].sort();
  const alerts = "./?kind=handoff.broken&status=open&view=grouped";
  $("matrix").replaceChildren(
    el("caption", { class: "visually-hidden" }, "Broken share of hand-offs, by department that starts them (rows) and that follows up (columns)"),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "from ↓ · to →"), tos.map((to) => el("th", { scope: "col" }, to)))),
    el("tbody", {}, froms.map((from) => el("tr", {}, el("th", { scope: "row" }, from), tos.map((to) => {
      const cell = pairs.get(`${from}>${to}`);
      if (!cell || !cell.settled) return el("td", { class: "none" }, "–");
      const share = cell.broken / cell.settled;
      const heat = Math.min(4, Math.floor(share * 10));
      return el("td", { class: `heat-${heat}`, "data-pair": `${from}>${to}` },
        el("a", { href: alerts }, `${Math.round(share * 100)}% (${cell.broken} of ${cell.settled})`));
    })))),
  );
  $("matrix-rules").replaceChildren(
    el("thead", {}, el("tr", {}, ["Rule", "Triggered", "In time", "Late", "Broken", "p50", "p90"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, matrix.map((row) => el("tr", {},
      el("td", {}, `${row.rule} (${row.from} → ${row.to})`), el("td", { class: "number" }, row.triggered),
      el("td", { class: "number" }, row.in_time), el("td", { class: "number" }, row.late),
      el("td", { class: "number" }, row.broken), el("td", {}, row.p50_s === null && !row.in_time && !row.late ? "–" : duration(row.p50_s)),
      el("td", {}, row.p90_s === null && !row.in_time && !row.late ? "–" : duration(row.p90_s))))),
  );
}

function renderDrivers(drivers) {
  const item = (row) => el("li", {}, `${row.type}: ${row.points > 0 ? "+" : ""}${Math.round(row.points)} points (${row.events} events)`);
  $("drivers-negative").replaceChildren(...(drivers.negative.length ? drivers.negative.map(item) : [el("li", {}, "nothing")]));
  $("drivers-positive").replaceChildren(...(drivers.positive.length ? drivers.positive.map(item) : [el("li", {}, "nothing")]));
}

function renderRisk(summary) {
  $("risk-people").textContent = String(summary.value_at_risk.people);
  $("risk-giving").textContent = money(summary.value_at_risk.giving_12_months);
  const count = summary.failed.reduce((sum, row) => sum + row.count, 0);
  const amount = summary.failed.reduce((sum, row) => sum + row.amount, 0);
  $("failed-total").textContent = `${count} (${money(amount)})`;
  $("recovered").textContent = `${summary.recovered.count} (${money(summary.recovered.amount)})`;
  $("failed").replaceChildren(
    el("caption", {}, "Failed gifts by processor and reason"),
    el("thead", {}, el("tr", {}, ["Processor", "Reason", "Gifts", "Amount"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, summary.failed.slice(0, 8).map((row) => el("tr", {},
      el("td", {}, row.processor), el("td", {}, row.error_code), el("td", { class: "number" }, row.count),
      el("td", { class: "number" }, money(row.amount))))),
  );
}

$("days").addEventListener("change", load);
$("print").addEventListener("click", () => window.print());
load();
setInterval(load, 30000);
