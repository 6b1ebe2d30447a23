// ccpulse wallboard, the queue view: a click on a queue's card opens #queue=NAME, with the
// queue's tiles, the calls waiting now, the day's last abandoned and blocked calls, callbacks,
// transfers, self-service and ticket SLAs, and its agents (sortable, time in state ticking). Data: GET /api/queues/NAME every 2 s; the tiles
// follow the wallboard's live stream. Back (the button, the browser's back, Escape) returns to
// every queue.
"use strict";

(function () {
  const board = window.ccpulseWallboard;
  const listEl = document.getElementById("queues");
  const summaryEl = document.getElementById("summary");
  const detailEl = document.getElementById("detail");
  const titleEl = document.getElementById("detail-title");
  const asOfEl = document.getElementById("detail-as-of");
  const cardEl = document.getElementById("detail-card");
  const el = board.el;
  const STATE_WORDS = {
    available: "\u25cf Available",
    on_call: "\u260e On call",
    wrap_up: "\u270e Wrap-up",
    not_ready: "\u2016 Paused",
  };
  const COLOUR_MARKS = { green: "\u2713 ", amber: "\u25b2 ", red: "\u2716 " };
  let current = null; // the queue shown, or null
  let doc = null; // the last /api/queues document
  let fetchedAt = 0; // Date.now() when it arrived
  let card = null;
  let timer = null;
  let sort = { key: "time_in_state_seconds", descending: true };

  function duration(seconds) {
    if (typeof seconds !== "number") return "\u2013";
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const rest = String(s % 60).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + rest : m + ":" + rest;
  }

  function timeOfDay(epoch) {
    return board.clockText(new Date(epoch * 1000));
  }

  function percent(value) {
    return typeof value === "number" ? Math.round(value * 100) + " %" : "\u2013";
  }

  // Seconds since the document was fetched: the ticking part of every "time waiting/in state".
  function elapsed() {
    return doc ? (Date.now() - fetchedAt) / 1000 : 0;
  }

  function row(cells, attributes) {
    const tr = el("tr");
    for (const cell of cells) {
      const td = el("td", cell.className || "", cell.text);
      if (cell.ticking !== undefined) td.dataset.ticking = String(cell.ticking);
      tr.appendChild(td);
    }
    Object.assign(tr.dataset, attributes || {});
    return tr;
  }

  function fill(tableId, rows, emptyText) {
    const body = document.querySelector("#" + tableId + " tbody");
    body.replaceChildren(...rows);
    if (!rows.length) {
      const columns = document.querySelectorAll("#" + tableId + " thead th").length;
      const tr = el("tr", "none");
      const td = el("td", "", emptyText);
      td.colSpan = columns;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    document.getElementById(tableId + "-count").textContent = "(" + rows.length + ")";
  }

  function compare(a, b) {
    const x = a[sort.key];
    const y = b[sort.key];
    if (x === y) return a.agent < b.agent ? -1 : 1;
    if (x === null || x === undefined) return 1; // unknowns last either way
    if (y === null || y === undefined) return -1;
    const order = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
    return sort.descending ? -order : order;
  }

  function renderAgents() {
    const agents = doc.agents.map((a) => ({ ...a, queues: (a.queues || []).join(", ") }));
    agents.sort(compare);
    fill(
      "agents",
      agents.map((a) =>
        row(
          [
            { text: a.agent },
            { text: STATE_WORDS[a.state] || a.state, className: "state state-" + a.state },
            { text: "", className: "in-state", ticking: a.time_in_state_seconds },
            { text: a.reason || "" },
            { text: String(a.answered), className: "num" },
            { text: String(a.missed), className: "num" },
            { text: String(a.handled), className: "num" },
            { text: duration(a.aht_seconds), className: "num" },
            { text: percent(a.occupancy_1h), className: "num" },
            { text: a.queues },
          ],
          { agent: a.agent, state: a.state },
        ),
      ),
      "No agent logged in",
    );
    for (const th of document.querySelectorAll("#agents th")) {
      th.classList.toggle("sorted", th.dataset.sort === sort.key);
      th.classList.toggle("descending", th.dataset.sort === sort.key && sort.descending);
    }
  }

  function render() {
    titleEl.textContent = doc.queue;
    fill(
      "waiting",
      doc.waiting.map((w) =>
        row(
          [
            { text: String(w.position), className: "num" },
            { text: "", className: "waited", ticking: w.waiting_seconds },
            { text: w.caller === null ? "\u2013" : w.caller },
            { text: w.priority === null ? "\u2013" : String(w.priority) },
          ],
          { call: w.call_id },
        ),
      ),
      "Nobody waiting",
    );
    fill(
      "abandoned",
      doc.abandoned.map((a) =>
        row(
          [
            { text: timeOfDay(a.at) },
            { text: duration(a.wait_seconds), className: "num" },
            { text: a.caller === null ? "\u2013" : a.caller },
            {
              text: a.recovered ? "\u2713 yes, " + timeOfDay(a.recovered_at) : "\u2716 not yet",
              className: a.recovered ? "recovered" : "lost",
            },
          ],
          { call: a.call_id },
        ),
      ),
      "No abandoned call today",
    );
    fill(
      "blocked",
      doc.blocked.map((b) =>
        row([{ text: timeOfDay(b.at) }, { text: b.reason.replace("_", " ") }], { call: b.call_id }),
      ),
      "No blocked call today",
    );
    // The second row (processors/wallboard.py DETAIL_TILES): the same titles, units,
    // windows and colours as the cards, with a mark beside the colour for colour-blind eyes.
    fill(
      "more",
      (doc.more || []).map((t) =>
        row(
          [
            { text: t.title },
            { text: t.window === null ? "now" : t.window },
            {
              text: (COLOUR_MARKS[t.colour] || "") + t.text,
              className: "num colour-" + t.colour + (t.firing ? " firing" : ""),
            },
            { text: t.threshold === null ? "\u2013" : t.threshold },
          ],
          { kpi: t.key, colour: t.colour },
        ),
      ),
      "No figure yet",
    );
    renderAgents();
    tick();
  }

  // Every second: times waiting and in state move on without a new document.
  function tick() {
    if (!doc) return;
    const extra = elapsed();
    for (const cell of detailEl.querySelectorAll("td[data-ticking]")) {
      cell.textContent = duration(parseFloat(cell.dataset.ticking) + extra);
    }
    asOfEl.textContent = "as of " + timeOfDay(doc.at + extra);
  }

  function load() {
    const name = current;
    fetch("/api/queues/" + encodeURIComponent(name), { cache: "no-store" })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((body) => {
        if (name !== current) return;
        doc = body;
        fetchedAt = Date.now();
        render();
      })
      .catch(() => {
        asOfEl.textContent = "not available from this worker";
      });
  }

  function renderCard(wallboard, alerting) {
    if (!current || !wallboard) return;
    const queue = (wallboard.queues || []).find((q) => q.queue === current);
    if (!queue) return;
    if (!card || card.card.dataset.queue !== current) {
      card = board.buildCard(queue);
      card.card.tabIndex = -1;
      cardEl.replaceChildren(card.card);
    }
    board.updateCard(card, queue, alerting.has(current));
  }

  function route() {
    const match = /^#queue=(.+)$/.exec(location.hash);
    const name = match ? decodeURIComponent(match[1]) : null;
    if (name === current) return;
    current = name;
    doc = null;
    clearInterval(timer);
    document.body.classList.toggle("queue-view", name !== null);
    listEl.hidden = name !== null;
    detailEl.hidden = name === null;
    if (name === null) {
      summaryEl.hidden = summaryEl.childElementCount === 0;
      card = null;
      cardEl.replaceChildren();
      requestAnimationFrame(board.fitAll);
      return;
    }
    summaryEl.hidden = true;
    titleEl.textContent = name;
    for (const id of ["waiting", "abandoned", "blocked", "agents"]) {
      document.querySelector("#" + id + " tbody").replaceChildren();
    }
    const wallboard = board.lastDoc();
    if (wallboard) renderCard(wallboard, new Set((wallboard.alerts || []).map((a) => a.queue)));
    load();
    timer = setInterval(load, 2000);
  }

  for (const th of document.querySelectorAll("#agents th[data-sort]")) {
    th.addEventListener("click", () => {
      const key = th.dataset.sort;
      sort = { key, descending: sort.key === key ? !sort.descending : false };
      if (doc) {
        renderAgents();
        tick();
      }
    });
  }
  document.getElementById("back").addEventListener("click", () => {
    location.hash = "";
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && current) location.hash = "";
  });
  board.onRender((wallboard, alerting) => {
    renderCard(wallboard, alerting);
    if (current) summaryEl.hidden = true;
  });
  window.addEventListener("hashchange", route);
  setInterval(tick, 1000);
  route();
})();
