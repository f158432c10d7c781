// Mission Pulse operations console: plain JavaScript, no build step, no external resources.
// Data comes from the API this page is served by; every value from it is written as text, never as HTML.
"use strict";

const NAME_STORE = "mission-pulse.operator"; // localStorage: the operator's name
const TEAM_STORE = "mission-pulse.team"; // localStorage: "my team", the owner filter
const SHOWN = 300; // alerts rendered at most
const KEPT = 2000; // alerts held in the page; beyond, the oldest resolved ones are forgotten
const STALL_MS = 40000; // no byte (not even a keep-alive) for this long: the stream is dead, reconnect
const SERIES = [
  ["overall", "#1b1f24"], ["content", "#0b57d0"], ["operations", "#a50e0e"], ["principles", "#1e6b2f"],
];

const state = {
  key: sessionStorage.getItem(KEY_STORE) || "",
  operator: localStorage.getItem(NAME_STORE) || "",
  alerts: new Map(), // alert_id -> alert
  fresh: new Set(),
  lastEventId: null,
  reconnects: 0,
  restarting: false, // the stream was stopped on purpose (a new key): not a lost connection
  offering: false, // a key from a link is being shown to the operator: no sign-in dialog over it
  floor: 30,
  constituent: null,
  groups: [], // GET /v1/alerts/groups, for the grouped view
  expanded: new Map(), // "rule owner" -> the group's open alerts, once shown
};


function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

function age(iso) {
  if (!iso) return "–";
  const minutes = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60000));
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  return `${Math.floor(minutes / 1440)} d`;
}

function announce(text) {
  $("announce").textContent = text;
}

function setConnection(stateName, text) {
  const node = $("connection");
  node.dataset.state = stateName;
  node.textContent = text;
}

// ---- talking to the API -------------------------------------------------------------------------

class SignedOut extends Error {}

function authHeaders() {
  return state.key ? { Authorization: `Bearer ${state.key}` } : {};
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  if (response.status === 401) {
    askForKey("The API needs a key: paste the one make run printed.");
    throw new SignedOut();
  }
  return response;
}

async function getJson(path) {
  const response = await api(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

// ---- sign-in ------------------------------------------------------------------------------------

function askForKey(message) {
  setConnection("signed-out", "Signed out");
  $("sign-in-error").textContent = message || "";
  $("token").value = state.key;
  $("operator").value = state.operator;
  if (!$("sign-in").open && !$("linked-key").open && !state.offering) $("sign-in").showModal();
}

async function showWhoIsSignedIn() {
  if (!state.key) { $("sign-in-open").textContent = "Key & name"; return; }
  const response = await fetch("/v1/whoami", { headers: authHeaders() });
  $("sign-in-open").textContent = response.ok ? `Key: ${(await response.json()).name}` : "Key & name";
}

async function offerLinkedKey(linked) {
  // A key in a link is used only once the operator saw whose it is and said so: anyone can send a link,
  // and a planted key would act (and be recorded) in someone else's name.
  state.offering = true;
  const response = await fetch("/v1/whoami", { headers: { Authorization: `Bearer ${linked}` } });
  if (!response.ok) {
    state.offering = false;
    askForKey("The key in that link is not one this API knows: it was not used.");
    return;
  }
  if ($("sign-in").open) $("sign-in").close();
  const who = await response.json();
  $("linked-key-who").textContent = `${who.name} (${who.scopes.join(", ")})`;
  $("linked-key-use").onclick = () => {
    state.key = linked;
    state.offering = false;
    sessionStorage.setItem(KEY_STORE, state.key);
    $("linked-key").close();
    showWhoIsSignedIn();
    restartStream();
    refreshSide();
  };
  $("linked-key-ignore").onclick = () => {
    state.offering = false;
    $("linked-key").close();
    if (!state.key) askForKey("");
  };
  $("linked-key").showModal();
}

function setUpSignIn() {
  // make run prints the console's address with the key in the fragment, which browsers never send
  const fragment = new URLSearchParams(location.hash.slice(1));
  const linked = fragment.get("key");
  if (linked) {
    history.replaceState(null, "", location.pathname + location.search);
    if (linked !== state.key) offerLinkedKey(linked);
  }
  showWhoIsSignedIn();
  $("sign-in-open").addEventListener("click", () => askForKey());
  $("sign-in-cancel").addEventListener("click", () => $("sign-in").close());
  $("sign-in-form").addEventListener("submit", () => {
    state.key = $("token").value.trim();
    state.operator = $("operator").value.trim();
    sessionStorage.setItem(KEY_STORE, state.key);
    localStorage.setItem(NAME_STORE, state.operator);
    showWhoIsSignedIn();
    restartStream();
    refreshSide();
  });
}

// ---- the live alert feed ------------------------------------------------------------------------

let streamAbort = null;

function restartStream() {
  state.restarting = true;
  if (streamAbort) streamAbort.abort();
}

function remember(alert, fresh) {
  const known = state.alerts.has(alert.alert_id);
  state.alerts.set(alert.alert_id, alert);
  if (state.alerts.size > KEPT) {
    for (const [id, old] of state.alerts) {
      if (state.alerts.size <= KEPT) break;
      if (old.status === "resolved") state.alerts.delete(id);
    }
  }
  if (fresh && !known) {
    state.fresh.add(alert.alert_id);
    if (alert.severity === "critical") announce(`New critical alert: ${alert.title}`);
  }
}

async function loadAlerts() {
  const body = await getJson(`/v1/alerts?limit=${SHOWN}`);
  for (const alert of body.alerts.reverse()) remember(alert, false);
  state.lastEventId = String(body.last_event_id); // the stream follows on from exactly here
  render();
}

function parseEvent(block) {
  let id = null;
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("id:")) id = line.slice(3).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  return { id, data: data.join("\n") };
}

async function followStream() {
  // fetch rather than EventSource: the key goes in a header (never in a URL or a log), and every
  // reconnection is ours to show. Last-Event-ID resumes exactly after the last update we saw.
  for (;;) {
    streamAbort = new AbortController();
    let stall = null;
    const kick = () => {
      clearTimeout(stall);
      stall = setTimeout(() => streamAbort.abort(), STALL_MS);
    };
    try {
      if (state.lastEventId === null) await loadAlerts();
      const headers = { Accept: "text/event-stream", "Last-Event-ID": state.lastEventId };
      const response = await api("/v1/alerts/stream", { headers, signal: streamAbort.signal });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      kick();
      setConnection("live", state.reconnects ? `Live (reconnected ×${state.reconnects})` : "Live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error("the stream ended");
        kick();
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = parseEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (event.data) {
            remember(JSON.parse(event.data), true);
            state.lastEventId = event.id;
            scheduleRender();
          }
        }
      }
    } catch (error) {
      clearTimeout(stall);
      if (error instanceof SignedOut) {
        await waitForKey();
        continue;
      }
      if (state.restarting) {
        state.restarting = false;
        continue;
      }
      state.reconnects += 1;
      const resume = state.lastEventId === null ? "" : ` from update ${state.lastEventId}`;
      setConnection("reconnecting", `Connection lost (${error.message}) — reconnecting${resume}…`);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

function waitForKey() {
  // a key comes from the sign-in dialog, or from a link the operator accepted
  return new Promise((resolve) => {
    $("sign-in").addEventListener("close", resolve, { once: true });
    $("linked-key").addEventListener("close", resolve, { once: true });
  });
}

let renderPending = false;
function scheduleRender() {
  if (!renderPending) {
    renderPending = true;
    requestAnimationFrame(() => {
      renderPending = false;
      render();
    });
  }
}

function filters() {
  return Object.fromEntries(new FormData($("filters")).entries());
}

function fillSelect(select, values) {
  const have = new Set([...select.options].map((option) => option.value));
  for (const value of [...values].sort()) {
    if (!have.has(value)) select.append(el("option", {}, value));
  }
}

const FILTERED = ["kind", "severity", "source", "status", "owner"];
// open alerts of priority constituents first, then the newest
const byUrgency = (a, b) =>
  Number(Boolean(b.priority && b.status === "open")) - Number(Boolean(a.priority && a.status === "open")) ||
  (b.opened_at || "").localeCompare(a.opened_at || "");

function render() {
  const wanted = filters();
  localStorage.setItem(TEAM_STORE, wanted.owner || "");
  const all = [...state.alerts.values()];
  fillSelect($("filters").elements.kind, new Set(all.map((a) => a.kind)));
  fillSelect($("filters").elements.source, new Set(all.map((a) => a.source).filter(Boolean)));
  fillSelect($("filters").elements.owner, new Set(all.map((a) => a.owner).filter(Boolean)));
  const grouped = wanted.view === "grouped";
  $("groups").hidden = !grouped;
  $("alerts").hidden = grouped;
  if (grouped) scheduleGroups();

  const open = new Map();
  for (const alert of all) if (alert.status === "open") open.set(alert.kind, (open.get(alert.kind) || 0) + 1);
  $("open-counts").replaceChildren(
    ...[...open.entries()].sort().map(([kind, count]) => el("li", {}, `${kind}: ${count} open`)),
  );

  const shown = all
    .filter((a) => FILTERED.every((f) => !wanted[f] || a[f] === wanted[f]))
    .sort(byUrgency)
    .slice(0, SHOWN);
  $("alerts").replaceChildren(...shown.map(alertCard));
  $("alerts-empty").hidden = grouped ? state.groups.length > 0 : shown.length > 0;
  state.fresh.clear();
  if (state.constituent) renderConstituentAlerts();
}

// Who acted: always the key's name, and whom its holder named (on_behalf_of), from the action's record.
function actedBy(alert, action, by) {
  const entry = (alert.actions || []).filter((a) => a.action === action).pop();
  return entry && entry.on_behalf_of ? `${by} for ${entry.on_behalf_of}` : by;
}

function alertCard(alert) {
  const acknowledged = Boolean(alert.acknowledged_at);
  const byHand = alert.resolved_by ? ` by ${actedBy(alert, "resolve", alert.resolved_by)}` : "";
  return el(
    "li",
    {
      class: state.fresh.has(alert.alert_id) ? "alert fresh" : "alert",
      "data-alert-id": alert.alert_id,
      "data-severity": alert.severity,
      "data-status": alert.status,
    },
    el(
      "h3",
      {},
      el("span", { class: `badge ${alert.severity}` }, alert.severity),
      el("span", { class: `badge ${alert.status}` }, alert.status),
      alert.priority ? el("span", { class: "badge priority" }, "priority") : null,
      alert.escalated_unacknowledged ? el("span", { class: "badge escalated" }, "escalated") : null,
      acknowledged ? el("span", { class: "badge acknowledged" }, "acknowledged") : null,
      alert.title,
    ),
    el(
      "p",
      { class: "meta" },
      `${alert.kind} · opened ${when(alert.opened_at)}`,
      alert.status === "open" ? ` · open for ${age(alert.opened_at)}` : "",
      alert.owner ? ` · team ${alert.owner}` : "",
      alert.priority ? ` · priority: ${alert.priority.join(", ")}` : "",
      alert.source ? ` · source ${alert.source}` : "",
      alert.status === "resolved" ? ` · resolved ${when(alert.resolved_at)}${byHand}` : "",
      acknowledged
        ? ` · acknowledged by ${actedBy(alert, "acknowledge", alert.acknowledged_by)} at ${when(alert.acknowledged_at)}`
        : "",
    ),
    el("p", { class: "detail" }, alert.detail || ""),
    el(
      "div",
      { class: "buttons" },
      alert.constituent_id
        ? el("button", { type: "button", onclick: () => openConstituent(alert.constituent_id) },
          `Journey of ${alert.constituent_id}`)
        : null,
      alert.status === "open" && !acknowledged
        ? el("button", { type: "button", onclick: () => act(alert, "ack") }, "Acknowledge")
        : null,
      alert.status === "open"
        ? el("button", { type: "button", onclick: () => act(alert, "resolve") }, "Resolve")
        : null,
    ),
  );
}

async function act(alert, action) {
  const verb = action === "ack" ? "acknowledged" : "resolved";
  const result = $("action-result");
  try {
    const response = await api(`/v1/alerts/${encodeURIComponent(alert.alert_id)}/${action}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(state.operator ? { operator: state.operator } : {}),
    });
    const body = await response.json();
    if (response.ok) {
      remember(body, false);
      result.textContent = `“${alert.title}” ${verb}.`;
      render();
    } else if (response.status === 403) {
      result.textContent = "Your key can read but not act: sign in with the operator write token.";
    } else {
      result.textContent = `Not ${verb}: ${body.detail || `HTTP ${response.status}`}`;
    }
  } catch (error) {
    if (!(error instanceof SignedOut)) result.textContent = `Not ${verb}: ${error.message}`;
  }
}

// ---- open alerts grouped by rule and team ---------------------------------------------------------

let groupsTimer = null;
function scheduleGroups() {
  if (!groupsTimer) groupsTimer = setTimeout(() => { groupsTimer = null; refreshGroups(); }, 500);
}

const groupKey = (group) => `${group.rule} ${group.owner}`;

async function refreshGroups() {
  const owner = filters().owner;
  try {
    const body = await getJson(`/v1/alerts/groups${owner ? `?owner=${encodeURIComponent(owner)}` : ""}`);
    state.groups = body.groups;
    for (const group of state.groups) {
      if (state.expanded.has(groupKey(group))) state.expanded.set(groupKey(group), await groupAlerts(group));
    }
    renderGroups();
  } catch (error) {
    if (!(error instanceof SignedOut)) $("action-result").textContent = `Groups unavailable: ${error.message}`;
  }
}

async function groupAlerts(group) {
  const query = new URLSearchParams({ status: "open", rule: group.rule, owner: group.owner, limit: "200" });
  return (await getJson(`/v1/alerts?${query}`)).alerts.sort(byUrgency);
}

function groupName(group) {
  const rule = group.rule.replace(/^(handoff|spike):/, "");
  const what = group.kind === "handoff.broken" ? `${rule} missing` : group.kind === "failure.spike" ? `${rule} failing` : rule;
  const route = group.departments.length ? ` — ${group.departments.join(" → ")}` : "";
  return `${what} × ${group.count}${route}`;
}

function groupCard(group) {
  const key = groupKey(group);
  const people = state.expanded.get(key);
  return el(
    "li",
    { class: "alert group", "data-severity": group.severity, "data-status": "open", "data-rule": group.rule },
    el("h3", {}, el("span", { class: `badge ${group.severity}` }, group.severity),
      group.priority ? el("span", { class: "badge priority" }, `${group.priority} priority`) : null, groupName(group)),
    el("p", { class: "meta" },
      `${group.unacknowledged} unacknowledged · team ${group.owner || "none"} · oldest open for ${age(group.oldest_at)}`,
      ` · newest ${when(group.newest_at)}`),
    el("div", { class: "buttons" },
      el("button", { type: "button", "aria-expanded": String(Boolean(people)), onclick: () => toggleGroup(group) },
        people ? "Hide people" : `Show ${group.count} people`),
      group.unacknowledged
        ? el("button", { type: "button", onclick: () => acknowledgeGroup(group) }, `Acknowledge all ${group.unacknowledged}`)
        : null),
    people ? el("ol", { class: "alerts members" }, people.map(alertCard)) : null,
  );
}

function renderGroups() {
  $("groups").replaceChildren(...state.groups.map(groupCard));
  if (filters().view === "grouped") $("alerts-empty").hidden = state.groups.length > 0;
}

async function toggleGroup(group) {
  const key = groupKey(group);
  if (state.expanded.has(key)) state.expanded.delete(key);
  else state.expanded.set(key, await groupAlerts(group));
  renderGroups();
}

async function acknowledgeGroup(group) {
  const result = $("action-result");
  try {
    const response = await api("/v1/alerts/groups/ack", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ rule: group.rule, owner: group.owner, ...(state.operator ? { operator: state.operator } : {}) }),
    });
    const body = await response.json();
    if (response.ok) {
      result.textContent = `${body.acknowledged} alerts of “${groupName(group)}” acknowledged.`;
      refreshGroups();
    } else if (response.status === 403) {
      result.textContent = "Your key can read but not act: sign in with the operator write token.";
    } else {
      result.textContent = `Not acknowledged: ${body.detail || `HTTP ${response.status}`}`;
    }
  } catch (error) {
    if (!(error instanceof SignedOut)) result.textContent = `Not acknowledged: ${error.message}`;
  }
}

// ---- constituent journey ------------------------------------------------------------------------

function openConstituent(id) {
  location.hash = `#/constituent/${encodeURIComponent(id)}`;
}

async function showFromHash() {
  const match = location.hash.match(/^#\/constituent\/(.+)$/);
  const panel = $("constituent");
  if (!match) {
    state.constituent = null;
    panel.hidden = true;
    return;
  }
  const id = decodeURIComponent(match[1]);
  state.constituent = { id, alerts: [] };
  panel.hidden = false;
  $("constituent-title").textContent = `Journey of ${id}`;
  $("constituent-body").replaceChildren(el("p", { class: "muted" }, "Loading…"));
  panel.focus();
  try {
    const response = await api(`/v1/constituents/${encodeURIComponent(id)}`);
    if (response.status === 404) {
      $("constituent-body").replaceChildren(el("p", {}, (await response.json()).detail));
      return;
    }
    const person = await response.json();
    const past = await getJson(`/v1/alerts?constituent_id=${encodeURIComponent(id)}&limit=100`);
    if (state.constituent?.id !== id) return; // another was opened meanwhile
    state.constituent.alerts = past.alerts;
    renderConstituent(person);
  } catch (error) {
    if (!(error instanceof SignedOut)) $("constituent-body").replaceChildren(el("p", { class: "error" }, error.message));
  }
}

function renderConstituent(person) {
  const scores = person.scores;
  const roles = person.roles.length ? person.roles.join(", ") : "none yet";
  $("constituent-body").replaceChildren(
    el(
      "div",
      { class: "score-now" },
      el("span", { class: "big", "aria-label": `score now ${scores.overall} of 100` }, scores.overall),
      el("span", {}, `content ${scores.content} · operations ${scores.operations} · principles ${scores.principles}`),
    ),
    el("p", {}, `Roles: ${roles} · ${person.events} touchpoints · last ${when(person.last_event_at)}`),
    el("h3", { class: "section" }, "Score over time"),
    chart(person.history),
    // colours by class, not a style attribute: the page's Content-Security-Policy allows no inline style
    el("ul", { class: "legend" }, SERIES.map(([name]) =>
      el("li", {}, el("span", { class: `swatch-${name}` }), name))),
    el("h3", { class: "section" }, "Alerts"),
    el("ul", { id: "constituent-alerts", class: "timeline" }),
    el("h3", { class: "section" }, "Recent touchpoints, all sources"),
    el(
      "ol",
      { class: "timeline", id: "timeline", "aria-label": "Recent touchpoints, newest first" },
      person.timeline.map((touch) =>
        el("li", {},
          el("time", { datetime: touch.occurred_at }, when(touch.occurred_at)),
          el("span", {}, touch.source),
          el("span", { class: touch.failure ? "failure" : null }, touch.type))),
    ),
    ...recoveryList(person.recovery),
    el("h3", { class: "section" }, "What moves the score"),
    explainTable(person.explain),
  );
  renderConstituentAlerts();
}

function renderConstituentAlerts() {
  const list = $("constituent-alerts");
  if (!list) return;
  const id = state.constituent.id;
  const byId = new Map(state.constituent.alerts.map((a) => [a.alert_id, a]));
  for (const alert of state.alerts.values()) if (alert.constituent_id === id) byId.set(alert.alert_id, alert);
  const rows = [...byId.values()].sort((a, b) => (b.opened_at || "").localeCompare(a.opened_at || ""));
  list.replaceChildren(
    ...(rows.length
      ? rows.map((a) => el("li", {},
        el("time", { datetime: a.opened_at }, when(a.opened_at)),
        el("span", { class: `badge ${a.status}` }, a.status),
        el("span", {}, `${a.title}${a.acknowledged_by ? ` (acknowledged by ${actedBy(a, "acknowledge", a.acknowledged_by)})` : ""}`)))
      : [el("li", { class: "muted" }, "No alerts.")]),
  );
}

function explainTable(rows) {
  if (!rows.length) return el("p", { class: "muted" }, "Nothing moves this score: it sits at the baseline.");
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {},
      el("th", { scope: "col" }, "Event type"), el("th", { scope: "col", class: "number" }, "Events"),
      el("th", { scope: "col", class: "number" }, "Weighted points"))),
    el("tbody", {}, rows.map((row) => el("tr", {},
      el("td", {}, row.type), el("td", { class: "number" }, row.events),
      el("td", { class: "number" }, row.weighted_points > 0 ? `+${row.weighted_points}` : row.weighted_points)))),
  );
}

function chart(history) {
  const width = 460;
  const height = 160;
  const left = 28;
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  const first = history[0]?.overall;
  const last = history[history.length - 1]?.overall;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `Overall score from ${first} to ${last} over the last ${history.length} points`);
  const times = history.map((point) => Date.parse(point.at));
  const start = Math.min(...times);
  const span = Math.max(1, Math.max(...times) - start);
  const x = (t) => left + ((t - start) / span) * (width - left - 6);
  const y = (score) => 6 + (1 - score / 100) * (height - 24);
  const add = (tag, attributes, text) => {
    const node = document.createElementNS(svgNs, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
  };
  for (const mark of [0, 50, 100]) {
    add("line", { class: "axis", x1: left, x2: width, y1: y(mark), y2: y(mark) });
    add("text", { x: 2, y: y(mark) + 3 }, String(mark));
  }
  add("line", { class: "floor", x1: left, x2: width, y1: y(state.floor), y2: y(state.floor) });
  add("text", { x: left, y: height - 4 }, when(history[0]?.at));
  add("text", { x: width - 4, y: height - 4, "text-anchor": "end" }, "now");
  for (const [name, colour] of SERIES) {
    const points = history.map((point, i) => `${x(times[i]).toFixed(1)},${y(point[name]).toFixed(1)}`);
    add("polyline", {
      points: points.join(" "), fill: "none", stroke: colour, "stroke-width": name === "overall" ? 2.5 : 1.2,
      "data-series": name,
    });
  }
  return svg;
}

// ---- at-risk list and system strip --------------------------------------------------------------

async function refreshSide() {
  try {
    const [ranked, system, summary, recovery] = await Promise.all([
      getJson("/v1/constituents?limit=10"),
      getJson("/v1/system"),
      getJson("/v1/scores/summary"),
      getJson("/v1/recovery?limit=10"),
    ]);
    renderRecovery(recovery);
    state.floor = summary.floor;
    $("at-risk").replaceChildren(...ranked.constituents.map((person) => el("tr", {},
      el("td", {}, el("button", { type: "button", class: "link", onclick: () => openConstituent(person.constituent_id) },
        person.constituent_id)),
      el("td", { class: "number" }, person.score),
      el("td", {}, person.roles.join(", ")))));
    const open = Object.values(system.open_alerts).reduce((sum, n) => sum + n, 0);
    const rate = system.touchpoint_records_per_second;
    $("sys-rate").textContent = rate === null ? "–" : `${rate} records/s`;
    $("sys-lag").textContent = system.scorer_lag_records === null ? "–" : `${system.scorer_lag_records} records`;
    $("sys-open").textContent = String(open);
    $("sys-population").textContent = String(system.population);
    $("sys-dlq").textContent = String(system.dead_letters);
    $("sys-age").textContent = system.sampled_ago_s === null ? "Kafka figures: waiting for the first sample"
      : `Kafka figures ${Math.round(system.sampled_ago_s)} s old`;
  } catch (error) {
    if (!(error instanceof SignedOut)) $("sys-age").textContent = `System figures unavailable: ${error.message}`;
  }
}

const STEP_NAMES = {
  failed: "failed, no email yet", email_sent: "recovery email sent", email_delivered: "email delivered",
  email_bounced: "email bounced", method_updated: "card updated", recovered: "recovered", lost: "lost",
};

function renderRecovery(body) {
  $("recovery-steps").replaceChildren(...Object.entries(body.open_by_step)
    .filter(([, count]) => count > 0).map(([step, count]) => el("li", {}, `${STEP_NAMES[step]}: ${count}`)));
  $("recovery").replaceChildren(...body.cases.map((c) => el("tr", { "data-step": c.step },
    el("td", {}, el("button", { type: "button", class: "link", onclick: () => openConstituent(c.constituent_id) },
      c.constituent_id)),
    el("td", { class: c.step === "email_bounced" ? "failure" : null }, STEP_NAMES[c.step]),
    el("td", { class: "number" }, `${c.amount} ${c.currency}`),
    el("td", {}, age(new Date(c.opened_at * 1000).toISOString()), " ago"))));
  $("recovery-empty").hidden = body.cases.length > 0;
}

function recoveryList(cases) {
  if (!cases || !cases.length) return [];
  return [
    el("h3", { class: "section" }, "Recurring gift recovery"),
    el("ul", { class: "timeline", id: "constituent-recovery" }, cases.map((c) => el("li", {},
      el("time", { datetime: new Date(c.opened_at * 1000).toISOString() }, when(new Date(c.opened_at * 1000).toISOString())),
      el("span", {}, `${c.amount} ${c.currency}`),
      el("span", { class: c.step === "lost" || c.step === "email_bounced" ? "failure" : null },
        `${STEP_NAMES[c.step]}${c.stall ? ` — stalled: ${c.stall}` : ""}${c.recovered_amount ? ` (${c.recovered_amount} received)` : ""}`)))),
  ];
}

// ---- start --------------------------------------------------------------------------------------

setUpSignIn();
{
  const team = localStorage.getItem(TEAM_STORE);
  if (team) $("filters").elements.owner.append(el("option", { selected: true }, team)); // my team, remembered
  // links from elsewhere (the Mission Experience page) open with filters set: ?kind=…&view=grouped
  const preset = new URLSearchParams(location.search);
  for (const name of ["kind", "severity", "source", "status", "owner", "view"]) {
    const value = preset.get(name);
    const select = $("filters").elements[name];
    if (value === null || !select) continue;
    if (![...select.options].some((option) => option.value === value)) select.append(el("option", {}, value));
    select.value = value;
  }
}
$("filters").addEventListener("change", render);
setInterval(() => { if (filters().view === "grouped") refreshGroups(); }, 5000);
window.addEventListener("hashchange", showFromHash);
document.querySelector("#constituent .close").addEventListener("click", (event) => {
  event.preventDefault();
  history.pushState(null, "", location.pathname);
  showFromHash();
});
followStream();
refreshSide();
setInterval(refreshSide, 5000);
showFromHash();
