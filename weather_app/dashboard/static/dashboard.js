// The dashboard page: draws the Vega-Lite specs the server inlined, fills them from /api/*,
// and refreshes a dataset in place (view.change) whenever /events names it.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const DATASETS = ["stations", "temperatures"];
  const views = {};              // chart id -> vega View
  const latest = {};             // dataset -> last API response
  let stations = new Map();      // station name -> its row, every station (for the search)
  let clockSkew = 0;             // server clock - browser clock, seconds
  let drawn = false;

  const charts = [
    { id: "chart-stations", spec: "stations", dataset: "stations" },
    { id: "chart-month-by-year", spec: "monthByYear", dataset: "temperatures" },
    { id: "chart-latest-months", spec: "latestMonths", dataset: "temperatures" },
  ];

  function rowsOf(dataset, body) {
    const rows = [];
    for (const part of body.partitions) {
      for (const [name, value] of Object.entries(part)) {
        if (name === "partition" || name === "offset") continue;
        if (dataset === "stations") {
          rows.push({ station: name, partition: part.partition, ...value });
          continue;
        }
        const monthIndex = config.months.indexOf(name) + 1;
        if (monthIndex === 0) continue;
        for (const [year, stats] of Object.entries(value)) {
          rows.push({ month: name, month_index: monthIndex, year: Number(year),
                      partition: part.partition, ...stats });
        }
      }
    }
    return rows;
  }

  const byName = (a, b) => (a.station < b.station ? -1 : a.station > b.station ? 1 : 0);

  // The stations chart's bars: every station by name, or, with many, the highest and lowest
  // config.stationsShown averages, highest first; the title says which.
  function chartStations(rows) {
    const limit = config.stationsShown;
    let shown = [...rows].sort(byName);
    let title = config.stationsTitle;
    if (rows.length > 2 * limit) {
      const byAvg = [...rows].sort((a, b) => b.avg - a.avg || byName(a, b));
      shown = [...byAvg.slice(0, limit), ...byAvg.slice(-limit)];
      title = `Highest and lowest ${limit} of ${rows.length.toLocaleString("en")} stations ` +
        "by average";
    }
    const long = shown.some((row) => row.station.length > 1);
    const angle = !long ? 0 : shown.length > 20 ? -90 : -45;
    return { rows: shown.map((row, order) => ({ ...row, order })), title, angle };
  }

  function renderFound() {
    const box = document.getElementById("station-found");
    const query = document.getElementById("station-search").value.trim();
    if (!query) {
      box.replaceChildren();
      return;
    }
    const wanted = query.toLowerCase();
    const exact = stations.get(query) ||
      [...stations.values()].find((row) => row.station.toLowerCase() === wanted);
    if (exact) {
      const table = document.createElement("table");
      const head = table.createTHead().insertRow();
      const row = table.createTBody().insertRow();
      row.className = "found-station";
      const values = [["station", exact.station], ["average °F", exact.avg.toFixed(2)],
        ["days", exact.count.toLocaleString("en")], ["first day", exact.start],
        ["last day", exact.end], ["partition", String(exact.partition)]];
      for (const [name, value] of values) {
        const th = document.createElement("th");
        th.textContent = name;
        head.append(th);
        cell(row, value);
      }
      box.replaceChildren(table);
      return;
    }
    const matches = [...stations.keys()].filter((name) => name.toLowerCase().includes(wanted))
      .sort().slice(0, 10);
    const note = document.createElement("p");
    note.className = "muted";
    note.textContent = matches.length ? "Did you mean:" : `No station named “${query}”.`;
    const buttons = matches.map((name) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = name;
      button.addEventListener("click", () => {
        document.getElementById("station-search").value = name;
        renderFound();
      });
      return button;
    });
    box.replaceChildren(note, ...buttons);
  }

  function ago(seconds) {
    if (seconds < 90) return `${Math.round(seconds)} s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    return `${Math.round(seconds / 3600)} h ago`;
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.append(td);
    return td;
  }

  function renderFreshness(dataset) {
    const box = document.getElementById(`freshness-${dataset}`);
    const body = latest[dataset];
    if (!body) return;
    const now = Date.now() / 1000 + clockSkew;
    const title = document.createElement("h2");
    title.textContent = `Freshness of the ${dataset} files`;
    if (body.freshness.length === 0 && Object.keys(body.errors || {}).length === 0) {
      const note = document.createElement("p");
      note.className = "muted";
      note.textContent = `Waiting for data: no ${dataset} snapshot files yet.`;
      box.replaceChildren(title, note);
      return;
    }
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const name of ["partition", "updated", "data through", "offset", "lag", "status"]) {
      const th = document.createElement("th");
      th.textContent = name;
      if (["partition", "offset", "lag"].includes(name)) th.className = "num";
      head.append(th);
    }
    const rows = table.createTBody();
    for (const item of body.freshness) {
      // the server's rule (freshness.py), re-applied as the clock ticks between fetches
      item.stale = item.lag !== 0 && now > item.stale_after;
      const row = rows.insertRow();
      row.className = item.stale ? "line stale" : "line";
      row.dataset.partition = item.partition;
      const updated = ago(Math.max(0, now - item.updated));
      const through = item.data_through ?? "–";
      const lag = item.lag === null ? "–" : item.lag.toLocaleString("en");
      row.title = `partition ${item.partition}: updated ${updated}, data through ${through}, ` +
        `lag ${item.lag === null ? "unknown" : lag}${item.stale ? ", stale" : ""}`;
      cell(row, String(item.partition), "num");
      cell(row, updated);
      cell(row, through);
      cell(row, item.offset.toLocaleString("en"), "num");
      cell(row, lag, "num lag");
      const status = cell(row, item.stale ? "stale" : "fresh", item.stale ? "badge" : "ok");
      if (item.stale && item.lag === null) status.title = "old file and lag unknown (broker?)";
    }
    for (const [partition, reason] of Object.entries(body.errors || {})) {
      const row = rows.insertRow();
      row.className = "line stale";
      cell(row, partition, "num");
      cell(row, `file skipped: ${reason}`).colSpan = 5;
    }
    box.replaceChildren(title, table);
  }

  function renderWaiting() {
    const known = DATASETS.filter((d) => latest[d]);
    const empty = known.length === DATASETS.length &&
      known.every((d) => latest[d].partitions.length === 0);
    document.getElementById("waiting").hidden = !empty;
  }

  async function refresh(dataset) {
    const response = await fetch(`/api/${dataset}`, { cache: "no-cache" });
    if (!response.ok) throw new Error(`/api/${dataset}: HTTP ${response.status}`);
    const date = Date.parse(response.headers.get("Date"));
    if (!Number.isNaN(date)) clockSkew = (date - Date.now()) / 1000;
    const body = await response.json();
    latest[dataset] = body;
    const rows = rowsOf(dataset, body);
    let chartRows = rows;
    if (dataset === "stations") {
      stations = new Map(rows.map((row) => [row.station, row]));
      const chart = chartStations(rows);
      chartRows = chart.rows;
      views["chart-stations"].signal("stationsTitle", chart.title)
        .signal("stationsLabelAngle", chart.angle);
      renderFound();
    }
    const updates = charts.filter((c) => c.dataset === dataset).map((c) =>
      views[c.id].change(dataset, vega.changeset().remove(() => true).insert(chartRows))
        .resize().runAsync());  // resize(): re-fit the axes to the new labels, not the old
    await Promise.all(updates);
    renderFreshness(dataset);
    renderWaiting();
    if (rows.length > 0 && !drawn) {
      drawn = true;
      document.body.dataset.ready = "true";
    }
  }

  async function refreshPlots() {
    const response = await fetch("/api/plots", { cache: "no-cache" });
    if (!response.ok) return;
    const { plots } = await response.json();
    const list = document.getElementById("plots");
    list.replaceChildren(...plots.map((plot) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = plot.url;
      const img = document.createElement("img");
      img.src = plot.url;
      img.alt = plot.name;
      img.className = "plot";
      a.append(img, plot.name);
      li.append(a);
      return li;
    }));
    document.getElementById("plots-none").hidden = plots.length > 0;
  }

  function report(error) {
    const status = document.getElementById("connection");
    status.textContent = `update failed: ${error.message}`;
    status.className = "connection down";
  }

  function refreshAll() {
    return Promise.all([...DATASETS.map(refresh), refreshPlots()]).catch(report);
  }

  function listen() {
    const status = document.getElementById("connection");
    const source = new EventSource("/events");
    source.onopen = () => {
      status.textContent = "live";
      status.className = "connection live";
      refreshAll();  // whatever changed while disconnected
    };
    source.onerror = () => {
      status.textContent = "reconnecting…";
      status.className = "connection down";
    };
    source.onmessage = (event) => {
      if (DATASETS.includes(event.data)) refresh(event.data).catch(report);
      else if (event.data === "plots") refreshPlots().catch(report);
    };
  }

  function monthPicker() {
    const select = document.getElementById("month");
    for (const month of config.months) select.add(new Option(month, month));
    select.value = config.defaultMonth;
    select.addEventListener("change", () => {
      views["chart-month-by-year"].signal("month", select.value).runAsync();
    });
  }

  async function main() {
    monthPicker();
    document.getElementById("station-search").addEventListener("input", renderFound);
    for (const chart of charts) {
      const result = await vegaEmbed(`#${chart.id}`, config.specs[chart.spec],
        { renderer: "svg", actions: false, logLevel: vega.Error });
      views[chart.id] = result.view;
    }
    await refreshAll();
    listen();
    setInterval(() => DATASETS.forEach(renderFreshness), 1000);  // "updated N s ago" ticks
    setInterval(() => DATASETS.forEach((d) => refresh(d).catch(report)), 5000);  // lag moves
  }

  main().catch(report);
})();
