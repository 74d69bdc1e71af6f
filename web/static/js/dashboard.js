/* The operations dashboard: figures from /v1/admin/* (admin keys only), charts with the vendored uPlot,
   the job list with filters and a page per job with its actions. */
"use strict";

(() => {
  const { t, el } = OCR;
  const REFRESH_MS = 5000;
  const STATUSES = ["queued", "running", "succeeded", "partial_success", "failed", "cancelling", "cancelled"];
  const ACTIVE = ["queued", "running", "cancelling"];
  const STAGES = ["rasterise", "orientation", "detection", "recognition", "total"];
  const $ = (id) => document.getElementById(id);
  const root = $("dash");
  const OUTPUT_FORMATS = root.dataset.outputFormats.split(","); // the server's table (core/formats.py)

  const state = {
    jobId: root.dataset.jobId || null,
    timer: null,
    busy: false,
    charts: {},
    last: {}, // latest answers, re-rendered when the language changes
    keysLoaded: false,
  };

  // --- access --------------------------------------------------------------------------------------------
  function showGate(err) {
    $("gate").hidden = false;
    $("overview-view").hidden = true;
    $("job-view").hidden = true;
    const noKey = !OCR.getKey();
    $("gate-title").textContent = t("dash.admin_required");
    $("gate-help").textContent = t("dash.admin_required.help");
    $("gate-detail").textContent = err && !noKey ? err.message : "";
    $("gate-key").textContent = t(noKey ? "key.button.unset" : "key.title");
  }

  function hideGate() { $("gate").hidden = true; }

  function isAccessError(err) { return err && (err.status === 401 || err.status === 403); }

  // --- overview ------------------------------------------------------------------------------------------
  async function refreshOverview() {
    const query = filterQuery();
    const [overview, throughput, stages, jobs] = await Promise.all([
      OCR.getJSON("/v1/admin/overview"),
      OCR.getJSON("/v1/admin/throughput?minutes=60"),
      OCR.getJSON("/v1/admin/stage-times?minutes=60"),
      OCR.getJSON("/v1/admin/jobs?" + query.toString()),
    ]);
    Object.assign(state.last, { overview, throughput, stages, jobs });
    hideGate();
    $("overview-view").hidden = false;
    renderStats(overview, throughput);
    renderWorkers(overview);
    renderCharts(throughput);
    renderStages(stages);
    renderJobs(jobs);
    if (!state.keysLoaded) loadKeys();
  }

  function stat(label, value, sub, level) {
    return el("div", { class: "stat" + (level ? " is-" + level : "") },
      el("div", { class: "stat-label", text: label }),
      el("div", { class: "stat-value", text: value }),
      el("div", { class: "stat-sub", text: sub || "" }));
  }

  function renderStats(o, tp) {
    const cards = [];
    if (o.broker.broker_up) {
      for (const q of o.broker.queues) cards.push(stat(t("dash.queue", { name: q.name }), String(q.depth), t("dash.waiting"), q.depth > 0 && o.workers_online === 0 ? "bad" : null));
      cards.push(stat(t("dash.unacked"), String(o.broker.unacked), ""));
    } else {
      cards.push(stat(t("dash.broker_down"), "—", o.broker.error || "", "bad"));
    }
    const oldest = o.oldest_waiting_page;
    cards.push(stat(t("dash.oldest"), oldest ? OCR.seconds(oldest.age_seconds) : "—",
      oldest ? `${oldest.job_id.slice(0, 8)} · p${oldest.page_number}` : t("dash.oldest.none"),
      oldest && oldest.age_seconds > 600 ? "bad" : oldest && oldest.age_seconds > 60 ? "warn" : null));
    const devices = [...new Set(o.workers.filter((w) => w.online).map((w) => w.device.split(" ")[0]))].join(", ");
    cards.push(stat(t("dash.workers_online"), String(o.workers_online), devices, o.workers_online === 0 ? "bad" : null));
    const active = ACTIVE.reduce((n, s) => n + (o.jobs_by_status[s] || 0), 0);
    cards.push(stat(t("dash.jobs_active"), String(active),
      `${t("status.queued")} ${o.jobs_by_status.queued || 0} · ${t("status.running")} ${o.jobs_by_status.running || 0}`));
    cards.push(stat(t("dash.pages_per_min"), fmt(tp.totals.pages_per_minute), `${fmt(tp.totals.jobs_per_minute)} ${t("dash.series.jobs")}`));
    const ratio = tp.totals.failure_ratio;
    cards.push(stat(t("dash.failure_ratio"), ratio == null ? "—" : pct(ratio),
      `${tp.totals.pages_failed} / ${tp.totals.pages_done + tp.totals.pages_failed}`, ratio > 0.1 ? "bad" : ratio > 0 ? "warn" : null));
    $("stats").replaceChildren(...cards);
    $("updated").textContent = t("dash.updated", { time: new Date(o.now).toLocaleTimeString(OCR.lang() === "zh" ? "zh-CN" : "en-GB") });
  }

  function fmt(x) { return x == null ? "—" : (Math.round(x * 100) / 100).toString(); }
  function pct(x) { return (x * 100).toFixed(x < 0.1 ? 1 : 0) + "%"; }

  function renderWorkers(o) {
    if (!o.workers.length) {
      $("workers").replaceChildren(el("p", { class: "muted", text: t("dash.workers.none") }));
      return;
    }
    const head = el("tr", {},
      el("th", { text: t("dash.col.state") }), el("th", { text: t("dash.col.worker") }), el("th", { text: t("dash.col.device") }),
      el("th", { text: t("dash.col.current") }), el("th", { class: "num", text: t("dash.col.heartbeat") }),
      el("th", { class: "num", text: t("dash.col.pages") }));
    const rows = o.workers.map((w) => el("tr", {},
      el("td", { class: "nowrap", title: t(w.online ? "dash.online" : "dash.offline") },
        el("span", { class: "dot " + (w.online ? "on" : "off") }), el("span", { class: "hide-sm", text: t(w.online ? "dash.online" : "dash.offline") })),
      el("td", { class: "clip" }, el("span", { class: "mono", text: w.hostname }), el("span", { class: "muted small", text: " pid " + w.pid })),
      el("td", { text: w.device }),
      el("td", {}, w.current_page
        ? el("a", { href: "/dashboard/jobs/" + w.current_page.job_id, class: "mono" }, `${w.current_page.job_id.slice(0, 8)} · p${w.current_page.page_number}`)
        : el("span", { class: "muted", text: t("dash.idle") })),
      el("td", { class: "num", text: t("dash.ago", { s: OCR.seconds(w.seconds_since_seen) }) }),
      el("td", { class: "num", text: String(w.pages_done) })));
    $("workers").replaceChildren(el("table", { class: "table" }, el("thead", {}, head), el("tbody", {}, rows)));
  }

  // --- charts --------------------------------------------------------------------------------------------------
  function chartWidth(id) { return Math.max(240, $(id).clientWidth); }

  function renderCharts(tp) {
    const xs = tp.buckets.map((b) => b.t);
    const throughputData = [xs, tp.buckets.map((b) => b.pages_done), tp.buckets.map((b) => b.pages_failed), tp.buckets.map((b) => b.jobs_finished)];
    const failureData = [xs, tp.buckets.map((b) => (b.failure_ratio == null ? null : b.failure_ratio * 100))];
    // Per-minute counts are bars (a minute is a bucket, not a point on a curve); jobs finished is a line over them.
    const bars = (size) => (uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [size, 14], align: 0 }) : undefined);
    drawChart("chart-throughput", throughputData, [
      { label: t("dash.series.pages_done"), stroke: "#2563eb", fill: "rgba(37,99,235,0.55)", width: 1, paths: bars(0.8) },
      { label: t("dash.series.pages_failed"), stroke: "#dc2626", fill: "rgba(220,38,38,0.75)", width: 1, paths: bars(0.4) },
      { label: t("dash.series.jobs"), stroke: "#16a34a", width: 1.5 },
    ]);
    drawChart("chart-failures", failureData, [
      { label: t("dash.series.failure"), stroke: "#d97706", fill: "rgba(217,119,6,0.6)", width: 1, paths: bars(0.8) },
    ], { yRange: [0, 100], ySuffix: "%" });
  }

  function drawChart(id, data, series, opts = {}) {
    if (typeof uPlot === "undefined") return;
    const key = id + ":" + OCR.lang();
    const existing = state.charts[id];
    if (existing && existing.key === key) {
      existing.plot.setData(data);
      return;
    }
    if (existing) existing.plot.destroy();
    $(id).replaceChildren();
    const axisStyle = { stroke: "#64748b", grid: { stroke: "#eef2f7", width: 1 }, ticks: { stroke: "#e2e8f0", width: 1 }, font: "11px system-ui, sans-serif" };
    const locale = OCR.lang() === "zh" ? "zh-CN" : "en-GB";
    const clock = (_u, splits) => splits.map((ts) => new Date(ts * 1000).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" }));
    const plot = new uPlot({
      width: chartWidth(id),
      height: 220,
      series: [{ label: t("dash.time") }, ...series.map((s) => Object.assign({ points: { show: false } }, s))],
      scales: {
        x: { time: true },
        y: opts.yRange ? { range: opts.yRange } : { range: (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.15))] },
      },
      axes: [
        Object.assign({}, axisStyle, { values: clock, space: 60 }),
        Object.assign({}, axisStyle, { size: 44, values: (_u, vals) => vals.map((v) => v + (opts.ySuffix || "")) }),
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    }, data, $(id));
    state.charts[id] = { plot, key };
  }

  const resizer = new ResizeObserver(() => {
    for (const [id, chart] of Object.entries(state.charts)) chart.plot.setSize({ width: chartWidth(id), height: 220 });
  });
  ["chart-throughput", "chart-failures"].forEach((id) => resizer.observe($(id)));

  // --- stage times ----------------------------------------------------------------------------------------------
  function renderStages(st) {
    const rows = STAGES.map((s) => [t("stage." + s), st.stages[s]]);
    rows.push([t("stage.job"), st.job_end_to_end], [t("stage.wait"), st.job_wait_before_start]);
    $("stages").replaceChildren(el("table", { class: "table" },
      el("thead", {}, el("tr", {}, el("th", { text: t("dash.col.stage") }), el("th", { class: "num", text: "p50" }),
        el("th", { class: "num", text: "p95" }), el("th", { class: "num", text: t("dash.col.n") }))),
      el("tbody", {}, rows.map(([label, v]) => el("tr", {},
        el("td", { text: label }), el("td", { class: "num", text: OCR.seconds(v.p50) }),
        el("td", { class: "num", text: OCR.seconds(v.p95) }), el("td", { class: "num muted", text: String(v.n) }))))));
  }

  // --- job list -----------------------------------------------------------------------------------------------------
  function filterQuery() {
    const params = new URLSearchParams(location.search);
    const out = new URLSearchParams();
    for (const name of ["status", "tag", "key_id", "created_after", "created_before", "job_id", "page"]) {
      const v = params.get(name);
      if (v) out.set(name, v);
    }
    out.set("per_page", "25");
    return out;
  }

  function fillFilterForm() {
    const params = new URLSearchParams(location.search);
    $("f-status").replaceChildren(el("option", { value: "", text: t("dash.filter.any") }),
      ...STATUSES.map((s) => el("option", { value: s, text: t("status." + s) })));
    $("f-status").value = params.get("status") || "";
    $("f-tag").value = params.get("tag") || "";
    $("f-from").value = params.get("created_after") || "";
    $("f-to").value = params.get("created_before") || "";
    $("f-job").value = params.get("job_id") || "";
    $("f-key").dataset.want = params.get("key_id") || "";
    if (!state.keysLoaded) $("f-key").replaceChildren(el("option", { value: "", text: t("dash.filter.any") }));
    $("f-key").value = params.get("key_id") || "";
  }

  async function loadKeys() {
    state.keysLoaded = true;
    try {
      const answer = await OCR.getJSON("/v1/keys");
      const select = $("f-key");
      select.replaceChildren(el("option", { value: "", text: t("dash.filter.any") }),
        ...answer.keys.map((k) => el("option", { value: String(k.id), text: `${k.name} (${k.prefix}…)` })));
      select.value = select.dataset.want || "";
    } catch (_) {
      state.keysLoaded = false;
    }
  }

  function applyFilters(ev) {
    if (ev) ev.preventDefault();
    const params = new URLSearchParams();
    const form = new FormData($("filters"));
    for (const [k, v] of form.entries()) if (String(v).trim()) params.set(k, String(v).trim());
    history.pushState(null, "", "/dashboard" + (params.toString() ? "?" + params : ""));
    refresh();
  }

  function goToPage(n) {
    const params = new URLSearchParams(location.search);
    params.set("page", String(n));
    history.pushState(null, "", "/dashboard?" + params);
    refresh();
  }

  function renderJobs(answer) {
    if (!answer.jobs.length) {
      $("jobs").replaceChildren(el("p", { class: "muted", text: t("dash.jobs.none") }));
      $("pager").replaceChildren();
      return;
    }
    const head = el("tr", {},
      el("th", { text: t("dash.col.job") }), el("th", { text: t("dash.col.files") }), el("th", { text: t("dash.col.status") }),
      el("th", { class: "num", text: t("dash.col.pages_col") }),
      el("th", { class: "hide-sm", text: t("dash.col.key") }), el("th", { class: "hide-sm", text: t("dash.col.tag") }),
      el("th", { text: t("dash.col.created") }), el("th", { class: "num hide-sm", text: t("dash.col.duration") }),
      el("th", { class: "hide-sm", text: t("dash.col.error") }));
    const rows = answer.jobs.map((j) => el("tr", { class: "is-clickable", dataset: { job: j.job_id }, onclick: (ev) => {
      if (ev.target.closest("a")) return;
      openJob(j.job_id);
    } },
    el("td", {}, el("a", { href: "/dashboard/jobs/" + j.job_id, class: "mono", text: j.job_id.slice(0, 8), title: j.job_id,
      onclick: (ev) => { ev.preventDefault(); openJob(j.job_id); } })),
    el("td", { class: "clip files", title: (j.filenames || []).join("\n"), text: fileNames(j.filenames || []) }),
    el("td", {}, OCR.statusBadge(j.status)),
    el("td", { class: "num" }, `${j.pages_done}/${j.pages_total}`, j.pages_failed ? el("span", { class: "muted", text: ` (${j.pages_failed}✗)` }) : null),
    el("td", { class: "clip hide-sm", text: j.key.name }),
    el("td", { class: "clip hide-sm", text: j.job_tag || "" }),
    el("td", { text: OCR.dateTime(j.created_at) }),
    el("td", { class: "num hide-sm", text: OCR.seconds(j.seconds) }),
    el("td", { class: "err clip hide-sm", title: j.error ? j.error.message : "", text: j.error ? `${j.error.code}: ${j.error.message}` : "" })));
    $("jobs").replaceChildren(el("table", { class: "table", id: "jobs-table" }, el("thead", {}, head), el("tbody", {}, rows)));

    const from = (answer.page - 1) * answer.per_page + 1;
    const to = from + answer.jobs.length - 1;
    const last = Math.max(1, Math.ceil(answer.total / answer.per_page));
    $("pager").replaceChildren(
      el("span", { text: t("dash.pager", { from, to, total: answer.total + (answer.total_capped ? "+" : "") }) }),
      el("button", { type: "button", class: "btn btn-outline btn-sm", disabled: answer.page <= 1, text: t("dash.prev"), onclick: () => goToPage(answer.page - 1) }),
      el("span", { class: "muted", text: `${answer.page} / ${last}` }),
      el("button", { type: "button", class: "btn btn-outline btn-sm", disabled: answer.page >= last, text: t("dash.next"), onclick: () => goToPage(answer.page + 1) }));
  }

  // "scan.pdf", or "scan.pdf +2" for a job of three files (all of them in the cell's title).
  function fileNames(names) {
    if (!names.length) return "—";
    return names.length === 1 ? names[0] : `${names[0]} +${names.length - 1}`;
  }

  // --- one job -------------------------------------------------------------------------------------------------------
  function openJob(jobId) {
    history.pushState(null, "", "/dashboard/jobs/" + encodeURIComponent(jobId));
    state.jobId = jobId;
    refresh();
  }

  async function refreshJob() {
    let job;
    try {
      job = await OCR.getJSON("/v1/admin/jobs/" + encodeURIComponent(state.jobId));
    } catch (err) {
      if (err.status === 404) {
        hideGate();
        $("job-view").hidden = false;
        $("overview-view").hidden = true;
        $("job-summary-card").replaceChildren(el("p", { class: "muted", text: t("job.notfound") }));
        $("job-files-card").hidden = $("job-pages-card").hidden = true;
        return;
      }
      throw err;
    }
    state.last.job = job;
    hideGate();
    $("overview-view").hidden = true;
    $("job-view").hidden = false;
    $("job-files-card").hidden = $("job-pages-card").hidden = false;
    renderJob(job);
  }

  function renderJob(job) {
    // An open rerun form keeps what the operator typed across refreshes: the same node is put back.
    const openForm = $("rerun-form") && !$("rerun-form").hidden && $("rerun-form").dataset.job === job.job_id ? $("rerun-form") : null;
    const canRetry = (job.status === "failed" || job.status === "partial_success") && (job.pages_failed > 0 || job.pages_total === 0);
    const actions = el("div", { class: "actions" },
      el("button", { type: "button", id: "act-retry", class: "btn btn-primary", disabled: !canRetry, text: t("job.retry"), onclick: () => act("retry", job) }),
      el("button", { type: "button", id: "act-rerun", class: "btn btn-outline", text: t("job.rerun"), onclick: () => { $("rerun-form").hidden = !$("rerun-form").hidden; } }),
      el("button", { type: "button", id: "act-cancel", class: "btn btn-outline", disabled: !["queued", "running"].includes(job.status), text: t("job.cancel"), onclick: () => act("cancel", job) }),
      el("button", { type: "button", id: "act-delete", class: "btn btn-danger", text: t("job.delete"), onclick: () => act("delete", job) }));

    const options = [`lang=${job.lang}`, `pages=${job.page_range || "all"}`, `orientation=${job.detect_orientation ? "on" : "off"}`, `outputs=${job.outputs.join(",")}`];
    const kv = [
      ["job.f.status", OCR.statusBadge(job.status)],
      ["job.f.key", job.key ? `${job.key.name} (${job.key.prefix}…, #${job.key.id})` : "—"],
      ["job.f.tag", job.job_tag || "—"],
      ["job.f.options", el("span", { class: "mono", text: options.join("  ") })],
      ["job.f.created", OCR.dateTime(job.created_at)],
      ["job.f.started", OCR.dateTime(job.started_at)],
      ["job.f.finished", OCR.dateTime(job.finished_at)],
      ["job.f.duration", OCR.seconds(job.seconds)],
    ];
    if (job.error) kv.push(["job.f.error", el("span", { class: "err", text: `${job.error.code}: ${job.error.message}` })]);
    if (job.webhook) kv.push(["job.f.webhook", `${job.webhook.status || "—"} · ${job.webhook.attempts}${job.webhook.error ? " · " + job.webhook.error : ""}`]);

    $("job-summary-card").replaceChildren(
      el("div", { class: "card-head" },
        el("h2", {}, t("job.title") + " ", el("span", { class: "mono", text: job.job_id })),
        el("span", { class: "spacer" }), actions),
      el("dl", { class: "kv" }, kv.flatMap(([k, v]) => [el("dt", { text: t(k) }), el("dd", {}, v)])),
      openForm || rerunForm(job),
      el("p", { class: "small", style: null }, el("a", { href: "/?job=" + encodeURIComponent(job.job_id), text: t("job.open_page") + " →" })));

    $("job-files-card").replaceChildren(el("div", { class: "card-head" }, el("h2", { text: t("job.files") })),
      el("div", { class: "table-wrap" }, el("table", { class: "table" },
        el("thead", {}, el("tr", {}, el("th", { text: "#" }), el("th", { text: t("job.col.file") }), el("th", { text: t("job.col.format") }),
          el("th", { class: "num", text: t("job.col.size") }), el("th", { class: "num", text: t("dash.col.pages_col") }),
          el("th", { text: t("dash.col.status") }), el("th", { text: t("dash.col.error") }))),
        el("tbody", {}, job.files.map((f, i) => el("tr", { dataset: { file: f.index ?? i } },
          el("td", { class: "num", text: String((f.index ?? i) + 1) }), el("td", { class: "clip", title: f.filename, text: f.filename }),
          el("td", { text: f.format || "—" }), el("td", { class: "num", text: f.size_bytes == null ? "—" : OCR.bytes(f.size_bytes) }),
          el("td", { class: "num", text: f.page_count == null ? "—" : String(f.page_count) }),
          el("td", {}, el("span", { class: "badge status-" + (f.status === "ready" ? "succeeded" : ["failed", "rejected"].includes(f.status) ? "failed" : "queued"), text: t("file." + f.status) })),
          el("td", { class: "err", text: f.error ? `${f.error.code}: ${f.error.message}` : "" })))))));

    const timingText = (tm) => ["rasterise", "orientation", "detection", "recognition", "total"]
      .filter((s) => tm[s] != null).map((s) => `${s.slice(0, 3)} ${Number(tm[s]).toFixed(2)}`).join("  ");
    $("job-pages-card").replaceChildren(el("div", { class: "card-head" }, el("h2", { text: t("job.pages") }),
      el("span", { class: "muted small", text: `${job.pages_done}/${job.pages_total} · ${job.pages_failed}✗` })),
    el("div", { class: "table-wrap" }, job.pages.length ? el("table", { class: "table", id: "pages-table" },
      el("thead", {}, el("tr", {}, el("th", { class: "num", text: t("job.col.page") }), el("th", { text: t("job.col.source") }),
        el("th", { text: t("dash.col.status") }), el("th", { class: "num", text: t("job.col.attempts") }), el("th", { text: t("job.col.worker") }),
        el("th", { text: t("job.col.timings") }), el("th", { class: "num", text: t("job.col.lines") }), el("th", { text: t("dash.col.error") }))),
      el("tbody", {}, job.pages.map((p) => el("tr", { dataset: { page: p.page_number } },
        el("td", { class: "num", text: String(p.page_number) }),
        el("td", { class: "muted clip", title: sourceOf(job, p), text: sourceOf(job, p) }),
        el("td", {}, OCR.statusBadge(p.status)),
        el("td", { class: "num", text: String(p.attempts) }),
        el("td", { class: "mono small clip", title: p.worker || "", text: p.worker || "—" }),
        el("td", { class: "timings", text: timingText(p.timings || {}) }),
        el("td", { class: "num", text: p.lines == null ? "—" : String(p.lines) }),
        el("td", { class: "err" }, p.error ? `${p.error.code}: ${p.error.message}` : "",
          p.warnings && p.warnings.length ? el("span", { class: "muted", text: " " + p.warnings.join(", ") }) : null)))))
      : el("p", { class: "muted", text: "—" })));
  }

  // Where a page came from: "scan.pdf p3" (file #2 p3 if the file is not listed).
  function sourceOf(job, p) {
    const file = job.files.find((f) => f.index === p.file_index);
    return `${file ? file.filename : "#" + ((p.file_index ?? 0) + 1)} p${p.source_page}`;
  }

  function rerunForm(job) {
    const outputs = OUTPUT_FORMATS.map((o) => el("label", { class: "field-check" },
      el("input", { type: "checkbox", name: "outputs", value: o, checked: job.outputs.includes(o) }), el("span", { text: o })));
    const form = el("form", { id: "rerun-form", class: "rerun-form", hidden: true, dataset: { job: job.job_id }, onsubmit: (ev) => { ev.preventDefault(); act("rerun", job, ev.target); } },
      el("label", { class: "field" }, el("span", { text: t("upload.lang") }),
        el("select", { name: "lang" }, ["mix", "zh", "en"].map((l) => el("option", { value: l, text: t("upload.lang." + l), selected: job.lang === l })))),
      el("label", { class: "field" }, el("span", { text: t("upload.pages") }),
        el("input", { type: "text", name: "pages", value: job.page_range || "", placeholder: t("upload.pages.placeholder") })),
      el("label", { class: "field-check" }, el("input", { type: "checkbox", name: "detect_orientation", checked: job.detect_orientation }),
        el("span", { text: t("upload.orientation") })),
      el("div", {}, el("div", { class: "field" }, el("span", { text: t("job.outputs") })), el("div", { class: "outputs" }, outputs)),
      el("div", {}, el("button", { type: "submit", class: "btn btn-primary", text: t("job.rerun.go") })));
    return form;
  }

  async function act(action, job, form) {
    const id = encodeURIComponent(job.job_id);
    try {
      if (action === "retry") {
        const r = await OCR.sendJSON("POST", `/v1/admin/jobs/${id}/retry`, {});
        OCR.toast(r.resplit ? t("job.resplit") : t("job.retried", { n: r.pages_requeued }));
      } else if (action === "cancel") {
        if (!confirm(t("job.confirm_cancel"))) return;
        await OCR.sendJSON("POST", `/v1/jobs/${id}/cancel`, {});
        OCR.toast(t("job.cancelled"));
      } else if (action === "delete") {
        if (!confirm(t("job.confirm_delete"))) return;
        await OCR.request("DELETE", `/v1/jobs/${id}`);
        OCR.toast(t("job.deleted"));
        history.pushState(null, "", "/dashboard");
        state.jobId = null;
      } else if (action === "rerun") {
        const data = new FormData(form);
        const body = {
          lang: data.get("lang"),
          pages: data.get("pages") || "",
          detect_orientation: data.get("detect_orientation") ? "true" : "false",
          outputs: data.getAll("outputs").join(","),
        };
        const r = await OCR.sendJSON("POST", `/v1/admin/jobs/${id}/rerun`, body);
        OCR.toast(t("job.rerun_started", { id: r.job_id.slice(0, 8) }));
        openJob(r.job_id);
        return;
      }
    } catch (err) {
      OCR.toast(err.message, "error");
    }
    refresh();
  }

  // --- refresh loop ------------------------------------------------------------------------------------------------------
  function routeFromLocation() {
    const m = location.pathname.match(/^\/dashboard\/jobs\/([^/]+)/);
    state.jobId = m ? decodeURIComponent(m[1]) : null;
  }

  async function refresh() {
    clearTimeout(state.timer);
    if (!OCR.getKey()) { showGate(null); return; }
    if (state.busy) { state.timer = setTimeout(refresh, 300); return; }
    state.busy = true;
    try {
      if (state.jobId) await refreshJob();
      else { fillFilterFormOnce(); await refreshOverview(); }
    } catch (err) {
      if (isAccessError(err)) showGate(err);
      else OCR.toast(err.message, "error");
    } finally {
      state.busy = false;
    }
    if ($("auto-refresh").checked && $("gate").hidden) state.timer = setTimeout(refresh, REFRESH_MS);
  }

  let filledFor = null;
  function fillFilterFormOnce() {
    if (filledFor === location.search) return;
    filledFor = location.search;
    fillFilterForm();
  }

  $("filters").addEventListener("submit", applyFilters);
  $("f-reset").addEventListener("click", () => { history.pushState(null, "", "/dashboard"); refresh(); });
  $("back-link").addEventListener("click", (ev) => { ev.preventDefault(); history.pushState(null, "", "/dashboard"); state.jobId = null; refresh(); });
  $("auto-refresh").addEventListener("change", () => refresh());
  $("gate-key").addEventListener("click", () => OCR.openKeyDialog());
  window.addEventListener("popstate", () => { routeFromLocation(); refresh(); });
  OCR.onKey(() => { state.keysLoaded = false; refresh(); });
  OCR.onLanguage(() => {
    filledFor = null;
    state.keysLoaded = false;
    if (!$("gate").hidden) showGate(null);
    refresh();
  });

  OCR.initChrome();
  routeFromLocation();
  refresh();
})();
