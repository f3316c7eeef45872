"use strict";
// The ops console: one page per hash (#traffic, #calls/<id>...), each drawn from its JSON
// endpoint under /ops/api/ and redrawn every refresh_s seconds while "live" is checked.

const main = document.getElementById("main");
let me = null;
let timer = null;
let charts = [];

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  };
  const response = await fetch(`/ops/api/${path}`, options);
  const data = await response.json().catch(() => ({error: response.statusText}));
  if (response.status === 401) { window.location.reload(); }
  if (!response.ok) { throw new Error(data.error || `HTTP ${response.status}`); }
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) { node.addEventListener(key.slice(2), value); }
    else if (value !== null && value !== undefined) { node.setAttribute(key, value); }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) { continue; }
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const fmtTime = (ts) => ts ? new Date(ts * 1000).toLocaleString() : "-";
const fmtMs = (ms) => ms === null || ms === undefined ? "-" : `${Number(ms).toFixed(1)}`;
const pct = (ratio) => ratio === null || ratio === undefined ? "-" : `${(100 * ratio).toFixed(1)}%`;

// A two-column table of an object's keys and values (nested values as JSON).
function keyValues(object) {
  return el("table", {}, el("tbody", {}, Object.entries(object).map(([key, value]) => el("tr", {},
    el("th", {}, key.replaceAll("_", " ")),
    el("td", {}, value !== null && typeof value === "object" ? JSON.stringify(value) : (value ?? "-"))))));
}

function card(title, ...children) { return el("section", {class: "card"}, el("h2", {}, title), children); }

// A table whose columns sort on click; columns: [key, label, {num, format}]
function sortable(rows, columns, onRow) {
  let key = null;
  let desc = true;
  const table = el("table", {class: "sortable"});
  const draw = () => {
    const sorted = key === null ? rows : [...rows].sort((a, b) => {
      const x = a[key], y = b[key];
      const order = (x ?? -Infinity) < (y ?? -Infinity) ? -1 : (x ?? -Infinity) > (y ?? -Infinity) ? 1 : 0;
      return desc ? -order : order;
    });
    table.replaceChildren(
      el("thead", {}, el("tr", {}, columns.map(([k, label]) => el("th", {
        "data-key": k,
        class: k === key ? (desc ? "sorted-desc" : "sorted-asc") : null,
        onclick: () => { desc = k === key ? !desc : true; key = k; draw(); },
      }, label)))),
      el("tbody", {}, sorted.map((row) => el("tr", onRow ? {class: "clickable", onclick: () => onRow(row)} : {},
        columns.map(([k, , opts = {}]) => el("td", {class: opts.num ? "num" : null},
          opts.format ? opts.format(row[k], row) : (row[k] ?? "-")))))),
    );
  };
  draw();
  return table;
}

function windowPicker(current) {
  const select = el("select", {id: "since", onchange: () => { location.hash = `${page()}?since=${select.value}`; }},
    ["5m", "15m", "1h", "6h", "1d", "7d"].map((w) => el("option", w === current ? {selected: ""} : {}, w)));
  return el("label", {}, "window ", select);
}

function page() { return (location.hash.slice(1) || "traffic").split("?")[0]; }
function query() { return new URLSearchParams(location.hash.split("?")[1] || ""); }
function since() { return query().get("since") || (me && me.window) || "1h"; }

function chart(title, series, points, pick) {
  const box = el("div", {class: "chart"});
  const width = Math.max(400, main.clientWidth - 60);
  const data = [points.map((p) => p.t), ...series.map((s) => points.map((p) => pick(p, s)))];
  const colors = ["#1f6feb", "#2e7d32", "#b26a00", "#c62828", "#6a1b9a", "#00838f"];
  charts.push(new uPlot({
    title, width, height: 220,
    // spanGaps: a window with calls in a few steps only still draws its latency line
    series: [{}, ...series.map((s, i) => ({label: s, stroke: colors[i % colors.length], width: 1.5,
      spanGaps: true, points: {show: true, size: 4}}))],
  }, data, box));
  return box;
}

const PAGES = {
  async traffic() {
    const data = await api(`traffic?since=${since()}`);
    return [
      el("div", {class: "stats"},
        el("div", {class: "stat"}, el("b", {id: "stat-calls"}, data.calls), "calls"),
        el("div", {class: "stat"}, el("b", {}, data.errors), "errors"),
        el("div", {class: "stat"}, el("b", {}, fmtMs(data.p50_ms)), "p50 ms"),
        el("div", {class: "stat"}, el("b", {}, fmtMs(data.p95_ms)), "p95 ms"),
        el("div", {class: "stat"}, el("b", {}, fmtMs(data.p99_ms)), "p99 ms"),
        el("div", {class: "stat"}, windowPicker(since()), el("div", {class: "muted"}, `step ${data.step_s} s`))),
      card("Calls per second and errors", chart("", ["calls/s", "errors"], data.points,
        (p, s) => s === "calls/s" ? p.calls_per_s : p.errors / data.step_s)),
      card("Latency (ms)", chart("", ["p50", "p95", "p99"], data.points,
        (p, s) => p[`${s}_ms`])),
      card("Calls per second of the busiest methods", chart("", data.methods, data.points,
        (p, s) => p.methods[s])),
    ];
  },

  async methods() {
    const data = await api(`methods?since=${since()}`);
    return [card(`Methods (${data.calls} calls)`, windowPicker(since()),
      sortable(data.methods, [
        ["method", "method"], ["count", "calls", {num: true}],
        ["time_share", "time share", {num: true, format: pct}],
        ["total_ms", "total ms", {num: true}], ["mean_ms", "mean ms", {num: true}],
        ["p95_ms", "p95 ms", {num: true}], ["max_ms", "max ms", {num: true}],
        ["sql_mean", "SQL/call", {num: true}],
        ["cache_hit_pct", "cache hit %", {num: true}], ["errors", "errors", {num: true}],
      ], (row) => { location.hash = `calls?method=${encodeURIComponent(row.method)}&since=${since()}`; }))];
  },

  async calls() {
    const q = query();
    const filter = `method=${encodeURIComponent(q.get("method") || "")}&user=${encodeURIComponent(q.get("user") || "")}`;
    const data = await api(`calls?since=${since()}&${filter}&order=${q.get("order") || ""}`);
    const method = el("input", {id: "filter-method", placeholder: "method contains", value: q.get("method") || ""});
    const user = el("input", {id: "filter-user", placeholder: "login", value: q.get("user") || ""});
    const order = el("select", {id: "order"}, el("option", {value: ""}, "newest first"),
      el("option", q.get("order") === "slowest" ? {value: "slowest", selected: ""} : {value: "slowest"}, "slowest first"));
    const form = el("form", {class: "inline", onsubmit: (e) => {
      e.preventDefault();
      location.hash = `calls?since=${since()}&method=${encodeURIComponent(method.value)}&user=${encodeURIComponent(user.value)}&order=${order.value}`;
    }}, method, user, order, el("button", {type: "submit"}, "Filter"));
    return [card(`Calls (${data.matched} matched, newest ${data.calls.length} shown)`, form,
      sortable(data.calls, [
        ["ts", "time", {format: fmtTime}], ["login", "user"], ["method", "method"],
        ["duration_ms", "ms", {num: true, format: fmtMs}], ["sql_count", "SQL", {num: true}],
        ["sql_ms", "SQL ms", {num: true, format: fmtMs}], ["status", "status", {num: true}],
        ["error", "error"], ["full", "captured", {format: (v, r) => v ? (r.profile ? "SQL + profile" : "SQL") : ""}],
      ], (row) => { location.hash = `call/${row.id}`; }))];
  },

  async call(id) {
    const data = await api(`calls/${encodeURIComponent(id)}`);
    const statements = data.statements || [];
    const parts = [card(`${data.method}`, el("p", {},
      `${fmtTime(data.ts)} · ${data.login || "-"} · ${fmtMs(data.duration_ms)} ms · ${data.sql_count} SQL in ${fmtMs(data.sql_ms)} ms · status ${data.status}`,
      data.error ? el("span", {class: "error"}, ` · ${data.error}`) : null),
      el("p", {class: "muted"}, `call ${data.id} · tables: ${Object.entries(data.tables || {}).map(([t, n]) => `${t} ${n}`).join(", ") || "-"}`))];
    if (data.has_profile) {
      const url = `/ops/api/calls/${encodeURIComponent(id)}/speedscope`;
      const src = `/ops/static/vendor/speedscope/index.html#profileURL=${encodeURIComponent(url)}&title=${encodeURIComponent(data.method)}`;
      parts.push(card("Flame graph", el("p", {}, el("a", {href: src, target: "_blank", id: "flame-link"}, "open full screen")),
        el("iframe", {id: "flame", src, style: "width:100%;height:480px;border:1px solid #d9e0e7"})));
    }
    parts.push(card(`SQL statements (${statements.length}${data.full ? "" : ": not captured, summary only"})`,
      el("table", {id: "statements"}, el("thead", {}, el("tr", {}, ["#", "at ms", "ms", "rows", "statement"].map((h) => el("th", {}, h)))),
        el("tbody", {}, statements.map((s, i) => el("tr", {},
          el("td", {class: "num"}, i + 1), el("td", {class: "num"}, fmtMs(s.at_ms)),
          el("td", {class: "num"}, fmtMs(s.ms)), el("td", {class: "num"}, s.rows ?? "-"),
          el("td", {}, el("code", {}, s.shape), s.stack ? el("pre", {}, s.stack.join ? s.stack.join("\n") : s.stack) : null)))))));
    for (const [title, rows] of [["N+1", data.n1], ["Slow SQL", data.slow_sql]]) {
      if (rows && rows.length) { parts.push(card(title, el("pre", {}, JSON.stringify(rows, null, 2)))); }
    }
    return parts;
  },

  async findings() {
    const data = await api(`findings?since=${since()}`);
    const callLink = (row) => { location.hash = `call/${row.id}`; };
    const stack = (v) => v && v.length ? el("pre", {}, v.join ? v.join("\n") : v) : "-";
    return [
      card("Slowest calls", windowPicker(since()), sortable(data.slowest, [
        ["ts", "time", {format: fmtTime}], ["login", "user"], ["method", "method"],
        ["duration_ms", "ms", {num: true, format: fmtMs}], ["sql_count", "SQL", {num: true}]], callLink)),
      card("Slow SQL", sortable(data.slow_sql, [["method", "method"], ["statement_ms", "ms", {num: true, format: fmtMs}],
        ["shape", "statement"], ["stack", "stack", {format: stack}]], callLink)),
      card("N+1: one statement shape repeated in a call", sortable(data.n1, [["method", "method"],
        ["repeat", "times", {num: true}], ["repeat_ms", "ms", {num: true, format: fmtMs}], ["shape", "statement"]], callLink)),
      card("Chatty sessions", sortable(data.chatty, [["login", "user"], ["calls", "calls", {num: true}],
        ["peak_per_s", "peak/s", {num: true}],
        ["repeated", "identical calls", {format: (v) => v.map((r) => `${r.method} ×${r.count}`).join(", ") || "-"}]])),
    ];
  },

  async capture() {
    const data = await api("capture");
    const login = el("input", {id: "capture-login", placeholder: "login", required: ""});
    const duration = el("input", {id: "capture-duration", value: "30m", size: 6});
    const message = el("span", {id: "capture-message"});
    const form = el("form", {class: "inline", onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api("capture/on", {login: login.value, duration: duration.value});
        await show();
      } catch (err) { message.textContent = err.message; message.className = "error"; }
    }}, login, "for", duration, el("button", {type: "submit", id: "capture-on"}, "Capture"), message);
    return [card("Full capture per user", el("p", {class: "muted"},
      `Every SQL statement of the user's calls${data.profile ? " and a sampling profile (flame graph)" : ""}, until it expires (at most ${data.max_capture}).`),
      form, sortable(data.active, [["login", "user"], ["db", "database"],
        ["until", "until", {format: (v, r) => r.out_of_range ? "out of range" : fmtTime(v)}],
        ["login", "", {format: (v) => el("button", {class: "danger", onclick: async () => {
          await api("capture/off", {login: v}); await show(); }}, "Stop")}]],
        (row) => { location.hash = `calls?user=${encodeURIComponent(row.login)}&since=${since()}`; }))];
  },

  async sessions() {
    const data = await api("sessions");
    return [card(`Sessions per user (store: ${data.store})`, sortable(data.users, [
      ["login", "user"], ["sessions", "sessions", {num: true}],
      ["addresses", "addresses", {format: (v) => v.join(", ")}],
      ["newest_login", "newest login", {format: fmtTime}], ["last_activity", "last activity", {format: fmtTime}],
      ["login", "", {format: (v, row) => !row.sessions ? "" : el("button", {class: "danger", "data-login": v, onclick: async () => {
        if (v === me.login && !confirm("End your own sessions too (this console's)?")) { return; }
        await api("sessions/kill", {login: v}); await show(); }}, "Kill")}],
    ]))];
  },

  async cache() {
    const data = await api("cache");
    const parts = [];
    const summary = data.summary;
    if (summary && !summary.error) {
      parts.push(card(`Cache hit ratio: ${pct(summary.hit_ratio)} of ${summary.lookups} lookups (${summary.source})`,
        data.shared ? null : sortable(Object.entries(summary.caches).map(([name, ratio]) => ({name, ratio})),
          [["name", "cache"], ["ratio", "hit ratio", {num: true, format: pct}]])));
    } else {
      parts.push(card("Cache", el("p", {class: "muted"}, summary ? summary.error : "no cache statistics yet (workers report from their first request on)")));
    }
    if (data.shared) {
      parts.push(card("Shared cache (Redis)", sortable(data.shared.caches, [["name", "cache"],
        ["hit_ratio", "hit", {num: true, format: pct}], ["l1_ratio", "L1", {num: true, format: pct}],
        ["l2_ratio", "L2", {num: true, format: pct}], ["l1_size", "L1 entries", {num: true}],
        ["l2_keys", "L2 keys", {num: true}]])));
    }
    parts.push(card("Redis memory", sortable(data.redis, [["uri", "Redis"], ["used_memory_human", "used"],
      ["maxmemory", "max", {num: true}], ["maxmemory_policy", "policy"], ["error", "error"]])));
    return parts;
  },

  async system() {
    const data = await api("system");
    return [
      card(`Processes ${data.running ? "" : "(no stack running)"}`, sortable(data.processes, [
        ["role", "role"], ["pid", "pid", {num: true}], ["state", "state"],
        ["rss_mib", "memory MiB", {num: true}], ["cpu_s", "CPU s", {num: true}], ["in_flight", "in flight", {num: true}],
        ["restarts", "restarts", {num: true}], ["uptime_s", "uptime s", {num: true}]])),
      card("Requests in flight", data.requests_source.available ? sortable(data.requests, [
        ["pid", "pid", {num: true}], ["since_s", "for s", {num: true}], ["request", "request"]])
        : el("p", {class: "muted"}, data.requests_source.reason)),
      card("Database and backup", keyValues({...data.database,
        "last backup": data.last_backup ? `${fmtTime(data.last_backup.created)} (${Math.round(data.last_backup.age_s / 3600)} h ago)` : "none"})),
      card("Problems", data.problems.length ? el("ul", {}, data.problems.map((p) => el("li", {class: "error"}, p))) : el("p", {class: "ok"}, "none")),
    ];
  },

  async queue() {
    const data = await api("queue");
    return [
      card("Queue: tasks not finished, by name", data.tasks.length ? sortable(data.tasks, [["name", "task"],
        ["pending", "pending", {num: true}], ["unfinished", "taken, not finished", {num: true}]]) : el("p", {class: "muted"}, "empty")),
      card("Cron jobs", sortable(data.cron, [["method", "job"], ["active", "active"], ["interval", "every"],
        ["last_started", "last run"], ["last_ended", "ended"], ["next_call", "next run"]])),
    ];
  },

  async doctor() {
    const data = await api("doctor");
    return [card(`Doctor: ${data.findings.length} findings`, sortable(data.findings, [
      ["severity", "severity", {format: (v) => el("span", {class: `sev-${v}`}, v)}], ["code", "code"],
      ["title", "finding"], ["fix", "fix"]]))];
  },
};

async function show() {
  const [name, arg] = page().split("/");
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.getAttribute("href") === `#${name}` || (name === "call" && a.getAttribute("href") === "#calls"));
  }
  const render = PAGES[name] || PAGES.traffic;
  const old = charts;
  charts = [];
  try {
    const parts = await render(arg ? decodeURIComponent(arg) : undefined);
    old.forEach((c) => c.destroy());
    main.replaceChildren(...parts);
    for (const box of main.querySelectorAll(".chart")) { box.dataset.ready = "1"; }
  } catch (err) {
    main.replaceChildren(card("Cannot show this page", el("p", {class: "error", id: "page-error"}, err.message)));
  }
  main.dataset.page = name;
  main.dataset.loaded = String(Date.now());
}

function schedule() {
  clearInterval(timer);
  const slow = ["system", "doctor", "cache", "queue", "call"].includes(page().split("/")[0]);
  if (document.getElementById("live").checked) {
    timer = setInterval(() => { if (!document.querySelector("input:focus, select:focus")) { show(); } },
      1000 * (slow ? Math.max(30, me.refresh_s) : me.refresh_s));
  }
}

document.getElementById("logout").addEventListener("click", async () => {
  await api("logout", {}); window.location.reload();
});
document.getElementById("live").addEventListener("change", schedule);
window.addEventListener("hashchange", () => { show(); schedule(); });

(async () => {
  me = await api("me");
  document.getElementById("me").textContent = `${me.login} @ ${me.database}`;
  await show();
  schedule();
})();
