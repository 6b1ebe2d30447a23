// ccpulse wallboard: renders the worker's wallboard document, live over server-sent events.
// No framework, no build step: the worker serves this file as is.
"use strict";

(function () {
  const queuesEl = document.getElementById("queues");
  const emptyEl = document.getElementById("empty");
  const clockEl = document.getElementById("clock");
  const linkEl = document.getElementById("link");
  const alertsEl = document.getElementById("alerts");
  const alertListEl = document.getElementById("alert-list");
  const workerEl = document.getElementById("worker");
  const cards = new Map(); // queue -> {card, tiles: Map(key -> elements)}
  let lastMessage = 0;

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
    card.appendChild(el("h2", "", queue.queue));
    const grid = el("div", "tiles");
    const tiles = new Map();
    for (const tile of queue.tiles) {
      const node = el("div", "tile colour-none");
      node.dataset.tile = tile.key;
      const label = el("div", "label", tile.title);
      const value = el("div", "value", "");
      const sub = el("div", "sub", "");
      node.append(label, value, sub);
      grid.appendChild(node);
      tiles.set(tile.key, { node, value, sub });
    }
    card.appendChild(grid);
    return { card, tiles };
  }

  // Shrink a number until it fits its tile ("6 min 5 s" must not be cut off on a TV).
  function fit(node) {
    node.style.fontSize = "";
    let size = parseFloat(getComputedStyle(node).fontSize);
    while (node.scrollWidth > node.clientWidth && size > 14) {
      size *= 0.92;
      node.style.fontSize = size + "px";
    }
  }

  window.addEventListener("resize", () => {
    for (const entry of cards.values()) for (const parts of entry.tiles.values()) fit(parts.value);
  });

  function subText(tile) {
    const parts = [];
    if (tile.window) parts.push(tile.window);
    if (tile.threshold) parts.push("alert " + tile.threshold);
    if (tile.firing) parts.push("FIRING");
    return parts.join(" \u00b7 ");
  }

  function renderQueues(queues) {
    const names = queues.map((q) => q.queue);
    for (const [name, entry] of cards) {
      if (!names.includes(name)) {
        entry.card.remove();
        cards.delete(name);
      }
    }
    emptyEl.hidden = queues.length > 0;
    for (const queue of queues) {
      let entry = cards.get(queue.queue);
      if (!entry) {
        entry = buildCard(queue);
        cards.set(queue.queue, entry);
      }
      queuesEl.appendChild(entry.card); // keeps the server's (alphabetical) order
      for (const tile of queue.tiles) {
        const parts = entry.tiles.get(tile.key);
        if (!parts) continue;
        const text = tile.value === null ? "\u2013" : tile.text;
        if (parts.value.textContent !== text) {
          parts.value.textContent = text;
          fit(parts.value);
        }
        parts.sub.textContent = subText(tile);
        parts.node.className = "tile colour-" + tile.colour + (tile.firing ? " firing" : "");
        parts.node.dataset.colour = tile.colour;
        parts.node.dataset.value = tile.value === null ? "" : String(tile.value);
      }
    }
  }

  function since(seconds) {
    if (typeof seconds !== "number") return "";
    const minutes = Math.max(0, Math.round((Date.now() / 1000 - seconds) / 60));
    return minutes < 1 ? "just now" : "for " + minutes + " min";
  }

  function renderAlerts(alerts) {
    alertListEl.replaceChildren();
    alertsEl.className = "alerts " + (alerts.length ? "alerts-firing" : "alerts-none");
    alertsEl.querySelector(".alerts-title").textContent = alerts.length
      ? alerts.length + (alerts.length === 1 ? " alert firing:" : " alerts firing:")
      : "No alert firing";
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
  }

  function render(doc) {
    lastMessage = Date.now();
    document.body.classList.remove("stale");
    clockEl.textContent = doc.at_iso ? doc.at_iso.slice(11, 19) + " UTC" : "";
    workerEl.textContent = "worker " + doc.worker + (doc.ready ? "" : " (recovering)");
    renderQueues(doc.queues || []);
    renderAlerts(doc.alerts || []);
    renderIntervalChoices(doc.queues || []);
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

  if (window.EventSource) stream();
  else poll();
})();
