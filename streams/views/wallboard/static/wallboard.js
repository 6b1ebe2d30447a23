// ccpulse wallboard: renders the worker's wallboard document, live over server-sent events.
// No framework, no build step: the worker serves this file as is. The queue view (a click on a
// card) is in queue_view.js, which uses what this file exposes as window.ccpulseWallboard.
//
// URL parameters: ?queues=sales-*,billing shows only those queues (shell-style patterns);
// with &rotate=20s each pattern is a group shown in turn (TV mode); &sound=1 beeps when an
// alert starts firing (opt-in: a wall screen in an open office must stay quiet by default).
"use strict";

(function () {
  const queuesEl = document.getElementById("queues");
  const emptyEl = document.getElementById("empty");
  const clockEl = document.getElementById("clock");
  const asOfEl = document.getElementById("data-as-of");
  const groupEl = document.getElementById("group");
  const linkEl = document.getElementById("link");
  const alertsEl = document.getElementById("alerts");
  const alertListEl = document.getElementById("alert-list");
  const summaryEl = document.getElementById("summary");
  const workerEl = document.getElementById("worker");
  const cards = new Map(); // queue -> {card, tiles: Map(key -> elements)}
  const renderHooks = [];
  let lastMessage = 0;
  let lastDoc = null;
  let firingKeys = null; // alerts firing at the previous document (null: none seen yet)

  const params = new URLSearchParams(location.search);
  const patterns = (params.get("queues") || "").split(",").map((p) => p.trim()).filter(Boolean);
  const rotateMs = parseDuration(params.get("rotate"));
  const groups = rotateMs && patterns.length > 1 ? patterns.map((p) => [p]) : [patterns];
  const soundOn = params.get("sound") === "1";
  let groupIndex = 0;
  if (rotateMs) document.body.classList.add("tv");

  // The symbol and word of each colour: states are told apart without colour too.
  const MARKS = { green: "\u2713 OK", amber: "\u25b2 WARN", red: "\u2716 ALERT", none: "" };

  function parseDuration(text) {
    if (!text) return 0;
    const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
    if (!match) return 0;
    const scale = { ms: 1, s: 1000, m: 60000 }[match[2] || "s"];
    return Math.max(2000, parseFloat(match[1]) * scale);
  }

  function globToRegExp(pattern) {
    const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&");
    return new RegExp("^" + escaped.replace(/\*/g, ".*").replace(/\?/g, ".") + "$");
  }

  function shown(name) {
    const group = groups[groupIndex % groups.length];
    return group.length === 0 || group.some((p) => globToRegExp(p).test(name));
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function setLink(state, text) {
    linkEl.className = "link link-" + state;
    linkEl.textContent = text;
  }

  function buildCard(queue) {
    const card = el("section", "queue");
    card.dataset.queue = queue.queue;
    card.tabIndex = 0;
    card.title = "Open " + queue.queue + ": waiting calls, abandoned calls, agents";
    const head = el("h2", "");
    head.append(el("span", "name", queue.queue), el("span", "alert-mark", ""));
    card.appendChild(head);
    const grid = el("div", "tiles");
    const tiles = new Map();
    for (const tile of queue.tiles) {
      const node = el("div", "tile colour-none");
      node.dataset.tile = tile.key;
      const label = el("div", "label", tile.title);
      const value = el("div", "value", "");
      const bottom = el("div", "tile-bottom");
      const sub = el("div", "sub", "");
      const mark = el("div", "mark", "");
      bottom.append(sub, mark);
      node.append(label, value, bottom);
      grid.appendChild(node);
      tiles.set(tile.key, { node, value, sub, mark });
    }
    card.appendChild(grid);
    return { card, tiles };
  }

  // Shrink a number until it fits its tile ("100 %" or "6 min 5 s" must never be cut off).
  function fit(node) {
    node.style.fontSize = "";
    let size = parseFloat(getComputedStyle(node).fontSize);
    while (node.scrollWidth > node.clientWidth && size > 8) {
      size *= 0.92;
      node.style.fontSize = size + "px";
    }
  }

  function fitAll() {
    for (const node of document.querySelectorAll(".tile .value")) fit(node);
  }

  // Refit whenever a tile changes size (more cards, a resize, the queue view opening).
  if (window.ResizeObserver) {
    const observer = new ResizeObserver(() => requestAnimationFrame(fitAll));
    observer.observe(queuesEl);
    observer.observe(document.getElementById("detail"));
  }
  window.addEventListener("resize", () => requestAnimationFrame(fitAll));

  function subText(tile) {
    const parts = [];
    if (tile.window) parts.push(tile.window);
    if (tile.threshold) parts.push("alert " + tile.threshold);
    if (tile.firing) parts.push("FIRING");
    return parts.join(" \u00b7 ");
  }

  function updateCard(entry, queue, alerting) {
    for (const tile of queue.tiles) {
      const parts = entry.tiles.get(tile.key);
      if (!parts) continue;
      const text = tile.value === null ? "\u2013" : tile.text;
      if (parts.value.textContent !== text) {
        parts.value.textContent = text;
        fit(parts.value); // now, not on the next frame: a new number never shows cut off
      }
      parts.sub.textContent = subText(tile);
      parts.mark.textContent = MARKS[tile.colour] || "";
      parts.node.className = "tile colour-" + tile.colour + (tile.firing ? " firing" : "");
      parts.node.dataset.colour = tile.colour;
      parts.node.dataset.value = tile.value === null ? "" : String(tile.value);
    }
    entry.card.classList.toggle("alerting", alerting);
    entry.card.querySelector(".alert-mark").textContent = alerting ? "\u26a0 ALERT" : "";
  }

  function renderQueues(queues, alerting) {
    const visible = queues.filter((q) => shown(q.queue));
    const names = visible.map((q) => q.queue);
    for (const [name, entry] of cards) {
      if (!names.includes(name)) {
        entry.card.remove();
        cards.delete(name);
      }
    }
    emptyEl.hidden = visible.length > 0;
    for (const queue of visible) {
      let entry = cards.get(queue.queue);
      if (!entry) {
        entry = buildCard(queue);
        entry.card.addEventListener("click", () => openQueue(queue.queue));
        entry.card.addEventListener("keydown", (event) => {
          if (event.key === "Enter") openQueue(queue.queue);
        });
        cards.set(queue.queue, entry);
      }
      queuesEl.appendChild(entry.card); // keeps the server's (alphabetical) order
      updateCard(entry, queue, alerting.has(queue.queue));
    }
  }

  function openQueue(name) {
    location.hash = "queue=" + encodeURIComponent(name);
  }

  function tileValue(queue, key) {
    const tile = queue.tiles.find((t) => t.key === key);
    return tile && tile.value !== null ? tile : null;
  }

  // Sums and maxima only: an average of averages would not be the centre's figure.
  function renderSummary(queues, alerting) {
    summaryEl.hidden = queues.length < 2;
    if (summaryEl.hidden) return;
    const sum = (key) =>
      queues.reduce((total, q) => total + ((tileValue(q, key) || { value: 0 }).value || 0), 0);
    let oldest = null;
    for (const queue of queues) {
      const tile = tileValue(queue, "oldest_wait_seconds");
      if (tile && (oldest === null || tile.value > oldest.value)) oldest = tile;
    }
    const items = [
      ["All queues", String(queues.length)],
      ["Calls waiting", String(sum("calls_waiting"))],
      ["Longest wait", oldest ? oldest.text : "\u2013"],
      ["Agents available", String(sum("agents_available"))],
      ["Ticket backlog", String(sum("backlog"))],
      ["Queues alerting", String(alerting.size)],
    ];
    summaryEl.replaceChildren(
      ...items.map(([label, value]) => {
        const item = el("div", "summary-item");
        item.append(el("span", "label", label), el("span", "value", value));
        return item;
      }),
    );
    summaryEl.classList.toggle("alerting", alerting.size > 0);
  }

  function since(seconds) {
    if (typeof seconds !== "number") return "";
    const minutes = Math.max(0, Math.round((Date.now() / 1000 - seconds) / 60));
    return minutes < 1 ? "just now" : "for " + minutes + " min";
  }

  function beep() {
    try {
      const context = new (window.AudioContext || window.webkitAudioContext)();
      const tone = context.createOscillator();
      const gain = context.createGain();
      tone.frequency.value = 880;
      gain.gain.value = 0.2;
      tone.connect(gain).connect(context.destination);
      tone.start();
      tone.stop(context.currentTime + 0.4);
    } catch (error) {
      // no audio device, or the browser wants a click first: the flash is still there
    }
  }

  function renderAlerts(alerts) {
    alertListEl.replaceChildren();
    alertsEl.className = "alerts " + (alerts.length ? "alerts-firing" : "alerts-none");
    alertsEl.querySelector(".alerts-title").textContent = alerts.length
      ? "\u26a0 " + alerts.length + (alerts.length === 1 ? " alert firing:" : " alerts firing:")
      : "\u2713 No alert firing";
    for (const alert of alerts) {
      const item = el("li", "severity-" + (alert.severity || "warning"));
      item.dataset.rule = alert.rule || "";
      item.dataset.queue = alert.queue || "";
      item.append(
        el("span", "summary", alert.summary || alert.rule + " on " + alert.queue),
        document.createTextNode(" "),
        el("span", "since", since(alert.since)),
      );
      alertListEl.appendChild(item);
    }
    const keys = new Set(alerts.map((a) => a.rule + "|" + a.queue));
    if (soundOn && firingKeys !== null && [...keys].some((k) => !firingKeys.has(k))) beep();
    firingKeys = keys;
  }

  function clockText(date) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  }

  // The wall clock, every second; "data as of" the documents' time when it is not now (a
  // simulator running faster than real time, a worker catching up, a frozen feed).
  function tickClock() {
    const now = new Date();
    clockEl.textContent = clockText(now);
    const at = lastDoc && typeof lastDoc.at === "number" ? lastDoc.at * 1000 : null;
    const differs = at !== null && Math.abs(at - now.getTime()) > 5000;
    asOfEl.hidden = !differs;
    if (differs) asOfEl.textContent = "data as of " + clockText(new Date(at));
  }

  function render(doc) {
    lastMessage = Date.now();
    lastDoc = doc;
    document.body.classList.remove("stale");
    workerEl.textContent = "worker " + doc.worker + (doc.ready ? "" : " (recovering)");
    const alerts = doc.alerts || [];
    const alerting = new Set(alerts.map((a) => a.queue));
    renderQueues(doc.queues || [], alerting);
    renderSummary((doc.queues || []).filter((q) => shown(q.queue)), alerting);
    renderAlerts(alerts);
    renderIntervalChoices(doc.queues || []);
    tickClock();
    for (const hook of renderHooks) hook(doc, alerting);
    requestAnimationFrame(fitAll);
  }

  function rotateGroups() {
    groupIndex = (groupIndex + 1) % groups.length;
    groupEl.textContent = groups[groupIndex].join(", ");
    if (lastDoc) render(lastDoc);
  }

  if (rotateMs && groups.length > 1) {
    groupEl.hidden = false;
    groupEl.textContent = groups[0].join(", ");
    setInterval(rotateGroups, rotateMs);
  }

  // "Today by interval": one queue's 15-minute rows (/api/intervals), with a CSV download.
  const intervalQueueEl = document.getElementById("interval-queue");
  const intervalRowsEl = document.getElementById("interval-rows");
  const intervalCsvEl = document.getElementById("interval-csv");
  const INTERVAL_COLUMNS = [
    ["entered", "in"], ["answered", "ans"], ["abandoned", "abn"],
    ["abandon_rate", "abn%"], ["asa_seconds", "ASA s"], ["service_level", "SL%"],
    ["aht_seconds", "AHT s"], ["occupancy", "occ%"],
  ];

  function intervalCell(name, value) {
    if (value === null || value === undefined) return "-";
    if (name.endsWith("_rate") || name === "service_level" || name === "occupancy") {
      return (100 * value).toFixed(1);
    }
    return typeof value === "number" && !Number.isInteger(value) ? value.toFixed(1) : String(value);
  }

  function renderIntervalChoices(queues) {
    const names = queues.map((q) => q.queue);
    const have = Array.from(intervalQueueEl.options).map((o) => o.value);
    if (names.join("\n") === have.join("\n")) return;
    const chosen = intervalQueueEl.value;
    intervalQueueEl.replaceChildren(...names.map((n) => new Option(n, n)));
    if (names.includes(chosen)) intervalQueueEl.value = chosen;
    loadIntervals();
  }

  function loadIntervals() {
    const queue = intervalQueueEl.value;
    if (!queue) return;
    const url = "/api/intervals?queue=" + encodeURIComponent(queue);
    intervalCsvEl.href = url + "&format=csv";
    fetch(url, { cache: "no-store" })
      .then((r) => r.json())
      .then((rows) => {
        intervalRowsEl.replaceChildren(
          ...rows.map((row) => {
            const tr = el("tr");
            tr.appendChild(el("td", "", row.interval_start.slice(11, 16)));
            for (const [name] of INTERVAL_COLUMNS) tr.appendChild(el("td", "", intervalCell(name, row[name])));
            return tr;
          }),
        );
      })
      .catch(() => {});
  }

  intervalQueueEl.addEventListener("change", loadIntervals);
  setInterval(loadIntervals, 30000);

  function poll() {
    setLink("polling", "polling");
    const tick = () =>
      fetch("/api/wallboard", { cache: "no-store" })
        .then((r) => r.json())
        .then(render)
        .catch(() => setLink("connecting", "offline"));
    tick();
    setInterval(tick, 2000);
  }

  function stream() {
    const source = new EventSource("/api/kpis/stream");
    source.onopen = () => setLink("live", "live");
    source.onmessage = (event) => {
      setLink("live", "live");
      render(JSON.parse(event.data));
    };
    source.onerror = () => setLink("connecting", "reconnecting"); // EventSource retries itself
  }

  // Numbers older than 10 s are dimmed: a frozen wall screen must not look live.
  setInterval(() => {
    if (lastMessage && Date.now() - lastMessage > 10000) document.body.classList.add("stale");
  }, 2000);
  setInterval(tickClock, 1000);
  tickClock();

  window.ccpulseWallboard = {
    buildCard,
    updateCard,
    fitAll,
    el,
    clockText,
    onRender: (hook) => renderHooks.push(hook),
    lastDoc: () => lastDoc,
  };

  if (window.EventSource) stream();
  else poll();
})();
