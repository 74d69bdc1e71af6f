/* The upload-and-read page: pick or drop files, shrink big photos, submit a job, follow it page by page,
   then show each page with its detected lines drawn on it. */
"use strict";

(() => {
  const { t, el } = OCR;
  const MAX_SIDE = 3000; // px; photos larger than this are scaled down before upload
  const COMPRESS_ABOVE_BYTES = 2 * 1024 * 1024;
  const JPEG_QUALITY = 0.88;
  const LOW_CONFIDENCE = 0.6;
  const FINAL = ["succeeded", "partial_success", "failed", "cancelled"];

  const $ = (id) => document.getElementById(id);
  const state = {
    items: [], // {id, file, blob, name, note, preparing, rejected: {code, message} once the server refused it}
    nextId: 1,
    job: null, // last GET /v1/jobs/<id>
    jobId: null,
    rendered: new Map(), // page number -> "done" | "failed"
    texts: new Map(), // page number -> text
    pollTimer: null,
    pinned: null,
  };

  // --- choosing files ---------------------------------------------------------------------------
  function addFiles(fileList) {
    for (const file of fileList) {
      const item = { id: state.nextId++, file, blob: file, name: file.name || "photo.jpg", note: "", preparing: true };
      state.items.push(item);
      prepare(item).then(renderFileList);
    }
    renderFileList();
  }

  function isPdf(file) {
    return file.type === "application/pdf" || /\.pdf$/i.test(file.name || "");
  }

  // Big camera photos are decoded (honouring EXIF rotation), scaled to MAX_SIDE and re-encoded as JPEG.
  // Anything the browser cannot decode (TIFF, a damaged file) is sent as it is: the server has the last word.
  async function prepare(item) {
    const file = item.file;
    try {
      if (isPdf(file) || !file.type.startsWith("image/") || file.type === "image/tiff") return;
      const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
      const side = Math.max(bitmap.width, bitmap.height);
      if (side <= MAX_SIDE && file.size <= COMPRESS_ABOVE_BYTES) { bitmap.close(); return; }
      const scale = Math.min(1, MAX_SIDE / side);
      const canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      const ctx = canvas.getContext("2d");
      ctx.fillStyle = "#fff"; // transparent PNG areas become white, not black
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      bitmap.close();
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
      if (blob && blob.size < file.size) {
        item.blob = blob;
        item.name = item.name.replace(/\.[^.]*$/, "") + ".jpg";
        item.note = t("upload.compressed", { from: OCR.bytes(file.size) });
      }
    } catch (_) {
      /* not decodable here: upload unchanged */
    } finally {
      item.preparing = false;
    }
  }

  function renderFileList() {
    const list = $("file-list");
    list.replaceChildren(
      ...state.items.map((item) =>
        el("li", { class: "file-item" + (item.rejected ? " is-rejected" : "") },
          el("span", { class: "file-icon " + (isPdf(item.file) ? "is-pdf" : "is-img"), text: isPdf(item.file) ? "PDF" : "IMG" }),
          el("span", { class: "file-name", title: item.name, text: item.name }),
          el("span", { class: "file-size muted" },
            item.preparing ? t("upload.preparing") : OCR.bytes(item.blob.size),
            item.note ? el("span", { class: "file-note", text: " · " + item.note }) : null),
          // The server's reason stays beside the file until it is removed or sent again.
          item.rejected ? el("span", { class: "file-error", role: "alert" }, item.rejected.message,
            el("code", { class: "code-tag", text: item.rejected.code })) : null,
          el("button", {
            type: "button", class: "btn btn-icon", "aria-label": t("upload.remove"), title: t("upload.remove"), text: "×",
            onclick: () => { state.items = state.items.filter((x) => x !== item); renderFileList(); },
          }),
        ),
      ),
    );
    list.hidden = state.items.length === 0;
    if (!state.items.some((i) => i.rejected)) $("upload-note").hidden = true; // its files were removed
    $("start-button").disabled = !state.items.some((i) => !i.rejected) || state.items.some((i) => i.preparing);
  }

  function initPicking() {
    const zone = $("dropzone");
    $("file-input").addEventListener("change", (ev) => { addFiles(ev.target.files); ev.target.value = ""; });
    $("camera-input").addEventListener("change", (ev) => { addFiles(ev.target.files); ev.target.value = ""; });
    ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (ev) => {
      ev.preventDefault();
      zone.classList.add("is-over");
    }));
    ["dragleave", "dragend", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("is-over")));
    zone.addEventListener("drop", (ev) => {
      ev.preventDefault();
      if (ev.dataTransfer && ev.dataTransfer.files.length) addFiles(ev.dataTransfer.files);
    });
    zone.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); $("file-input").click(); }
    });
    // Pasting a screenshot works too.
    document.addEventListener("paste", (ev) => {
      const files = [...(ev.clipboardData ? ev.clipboardData.files : [])];
      if (files.length) addFiles(files);
    });
    $("clear-button").addEventListener("click", () => { state.items = []; renderFileList(); });
    $("upload-form").addEventListener("submit", (ev) => { ev.preventDefault(); submit(); });
  }

  // --- submitting and following the job ---------------------------------------------------------------
  async function submit() {
    // A file the server refused stays listed with its reason but is not sent again: its bytes would be refused again.
    const sent = state.items.filter((item) => !item.rejected); // the request's order: the server's "index" points into it
    if (!sent.length) { OCR.toast(t("upload.nofiles"), "warn"); return; }
    if (!OCR.getKey()) { OCR.openKeyDialog(t("key.missing")); return; }
    const form = new FormData();
    for (const item of sent) form.append("file", item.blob, item.name);
    $("upload-note").hidden = true;
    form.append("lang", $("opt-lang").value);
    form.append("detect_orientation", $("opt-orientation").checked ? "true" : "false");
    form.append("pdf_text", $("opt-pdf-text").value);
    const pages = $("opt-pages").value.trim();
    if (pages) form.append("pages", pages);

    resetResults();
    $("progress").hidden = false;
    $("start-button").disabled = true;
    setProgress(t("upload.sending", { pct: 0 }), 0);
    try {
      const answer = await OCR.upload("/v1/jobs", form, (f) => setProgress(t("upload.sending", { pct: Math.round(f * 100) }), f * 0.1));
      // The accepted files leave the list; a refused one stays, marked with the server's reason.
      const refused = markRejected(sent, answer.rejected);
      state.items = state.items.filter((item) => !sent.includes(item) || refused.includes(item));
      if (refused.length) showUploadNote(t("upload.rejected.some", { n: refused.length, total: sent.length }));
      renderFileList();
      follow(answer.job_id);
    } catch (err) {
      $("progress").hidden = true;
      const refused = markRejected(sent, err.body && err.body.rejected);
      renderFileList();
      if (err.status === 401) OCR.openKeyDialog(err.message);
      else if (refused.length) showUploadNote(t("upload.rejected.all"));
      else OCR.toast(err.message, "error");
    }
  }

  function markRejected(sent, rejected) {
    const refused = [];
    for (const r of rejected || []) {
      const item = sent[r.index];
      if (!item) continue;
      item.rejected = { code: r.code, message: r.message };
      refused.push(item);
    }
    return refused;
  }

  function showUploadNote(text) {
    $("upload-note").textContent = text;
    $("upload-note").hidden = false;
  }

  function resetResults() {
    clearTimeout(state.pollTimer);
    state.job = null;
    state.rendered.clear();
    state.texts.clear();
    $("pages").replaceChildren();
    $("page-chips").replaceChildren();
    $("file-errors").replaceChildren();
    $("results").hidden = true;
    $("lowconf-legend").hidden = true;
    document.querySelectorAll("#downloads button").forEach((b) => { b.disabled = true; });
  }

  function follow(jobId) {
    state.jobId = jobId;
    const url = new URL(location.href);
    url.searchParams.set("job", jobId);
    history.replaceState(null, "", url);
    $("job-id").textContent = jobId;
    $("progress").hidden = false;
    poll(0);
  }

  async function poll(failures) {
    let job;
    try {
      job = await OCR.getJSON("/v1/jobs/" + encodeURIComponent(state.jobId));
    } catch (err) {
      if (err.status === 401 || err.status === 404) {
        setProgress(err.message, 0);
        if (err.status === 401) OCR.openKeyDialog(err.message);
        return;
      }
      state.pollTimer = setTimeout(() => poll(failures + 1), Math.min(10_000, 1000 * 2 ** failures));
      return;
    }
    state.job = job;
    renderProgress(job);
    await renderNewPages(job);
    if (FINAL.includes(job.status)) {
      finish(job);
      return;
    }
    state.pollTimer = setTimeout(() => poll(0), job.status === "queued" ? 1000 : 800);
  }

  function setProgress(label, fraction) {
    $("progress-label").textContent = label;
    $("progress-fill").style.width = Math.round(Math.max(0, Math.min(1, fraction)) * 100) + "%";
  }

  function renderProgress(job) {
    const settled = job.pages_done + job.pages_failed + job.pages_cancelled;
    const total = job.pages_total;
    $("job-status").replaceChildren(OCR.statusBadge(job.status));
    if (FINAL.includes(job.status)) {
      setProgress(total ? t("upload.finished", { done: job.pages_done, total }) : t("status." + job.status), 1);
    }
    else if (!total) setProgress(t("upload.queued"), 0.1);
    else setProgress(t("upload.running", { done: Math.min(settled + 1, total), total }), 0.1 + 0.9 * (settled / total));
    $("progress-fill").classList.toggle("is-failed", job.status === "failed");

    $("page-chips").replaceChildren(
      ...job.pages.map((p) =>
        el("li", { class: "chip chip-" + p.status, title: pageTitle(p.page_number) + " · " + t("status." + p.status) },
          String(p.page_number))),
    );
    const fileErrors = (job.files || []).filter((f) => f.error);
    $("file-errors").replaceChildren(
      ...fileErrors.map((f) =>
        el("div", { class: "note note-error" },
          el("strong", { text: t("result.fileerror") + ": " + f.filename }), " — ", f.error.message,
          el("code", { class: "code-tag", text: f.error.code }))),
    );
    if (job.status === "failed" && job.error && !fileErrors.length && !job.pages.some((p) => p.error)) {
      $("file-errors").append(el("div", { class: "note note-error" }, job.error.message, el("code", { class: "code-tag", text: job.error.code })));
    }
  }

  async function renderNewPages(job) {
    const fresh = job.pages.filter((p) => (p.status === "done" || p.status === "failed") && !state.rendered.has(p.page_number));
    for (const page of fresh) {
      state.rendered.set(page.page_number, page.status);
      $("results").hidden = false;
      const slot = el("article", { class: "page-panel", id: "page-" + page.page_number, dataset: { page: page.page_number } });
      insertInOrder(slot, page.page_number);
      if (page.status === "failed") {
        renderFailedPage(slot, page);
        continue;
      }
      try {
        const [doc, imageUrl] = await Promise.all([
          OCR.getJSON(`/v1/jobs/${encodeURIComponent(job.job_id)}/result?pages=${page.page_number}`),
          loadImage(job.job_id, page.page_number),
        ]);
        const result = doc.pages.find((p) => p.page_number === page.page_number) || doc.pages[0];
        renderPage(slot, result, imageUrl);
      } catch (err) {
        state.rendered.delete(page.page_number); // try again on the next poll
        slot.remove();
      }
    }
  }

  function insertInOrder(node, number) {
    const container = $("pages");
    const after = [...container.children].find((c) => Number(c.dataset.page) > number);
    container.insertBefore(node, after || null);
  }

  async function loadImage(jobId, pageNumber) {
    const response = await OCR.request("GET", `/v1/jobs/${encodeURIComponent(jobId)}/pages/${pageNumber}/image`);
    return URL.createObjectURL(await response.blob());
  }

  // "scan.pdf · page 2": the file a page came from and its page there (the job's page number when unknown).
  function pageTitle(pageNumber) {
    const job = state.job;
    const page = job && job.pages.find((p) => p.page_number === pageNumber);
    const file = page && (job.files || []).find((f) => f.index === page.file_index);
    if (!file) return t("result.page", { n: pageNumber });
    return t("result.filepage", { file: file.filename, n: page.source_page });
  }

  function renderFailedPage(slot, page) {
    slot.classList.add("is-failed");
    slot.append(
      el("header", { class: "page-head" }, el("h3", { text: pageTitle(page.page_number) }), OCR.statusBadge("failed")),
      el("div", { class: "note note-error" },
        el("strong", { text: t("result.pagefailed") }), " — ", page.error ? page.error.message : "",
        page.error ? el("code", { class: "code-tag", text: page.error.code }) : null),
    );
  }

  // --- one page: image, boxes, text ---------------------------------------------------------------------
  const SVG = "http://www.w3.org/2000/svg";

  function renderPage(slot, result, imageUrl) {
    // Result schema 2 nests lines in blocks; a page without blocks is a version 1 result.
    const lines = result.blocks ? result.blocks.flatMap((b) => b.lines) : (result.lines || []);
    state.texts.set(result.page_number, lines.map((l) => l.text).join("\n"));
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${result.width} ${result.height}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("class", "boxes");
    const list = el("ol", { class: "page-lines" });

    lines.forEach((line, i) => {
      const low = line.confidence < LOW_CONFIDENCE;
      const poly = document.createElementNS(SVG, "polygon");
      poly.setAttribute("points", line.polygon.map(([x, y]) => `${x},${y}`).join(" "));
      poly.setAttribute("class", "box" + (low ? " is-low" : ""));
      poly.dataset.line = i;
      svg.append(poly);
      (line.words || []).forEach((word) => {  // shown while their line is highlighted
        const box = document.createElementNS(SVG, "polygon");
        box.setAttribute("points", word.polygon.map(([x, y]) => `${x},${y}`).join(" "));
        box.setAttribute("class", "word-box");
        box.dataset.line = i;
        svg.append(box);
      });
      const item = el("li", { class: "line" + (low ? " is-low" : ""), dataset: { line: i }, tabindex: "0" },
        el("span", { class: "line-text", text: line.text }),
        el("span", { class: "line-conf", title: t("result.confidence"), text: Math.round(line.confidence * 100) + "%" }),
        low ? el("span", { class: "line-flag", text: t("result.lowconf") }) : null);
      list.append(item);
      const enter = (ev) => highlight(slot, i, line, ev);
      poly.addEventListener("mouseenter", enter);
      poly.addEventListener("mousemove", (ev) => placeTip(ev.clientX, ev.clientY));
      poly.addEventListener("mouseleave", () => unhighlight(slot));
      poly.addEventListener("click", (ev) => { ev.stopPropagation(); highlight(slot, i, line, ev, true); item.scrollIntoView({ block: "nearest", behavior: "smooth" }); });
      item.addEventListener("mouseenter", () => highlight(slot, i, line, null));
      item.addEventListener("mouseleave", () => unhighlight(slot));
      item.addEventListener("focus", () => highlight(slot, i, line, null));
      item.addEventListener("blur", () => unhighlight(slot));
    });
    if (lines.some((l) => l.confidence < LOW_CONFIDENCE)) {
      $("lowconf-legend").textContent = t("result.lowconf.legend", { pct: Math.round(LOW_CONFIDENCE * 100) });
      $("lowconf-legend").hidden = false;
    }

    const img = el("img", { src: imageUrl, alt: pageTitle(result.page_number), class: "page-image" });
    const boxesToggle = el("input", { type: "checkbox", checked: true, onchange: (ev) => svg.classList.toggle("is-hidden", !ev.target.checked) });
    const meta = [t("result.lines", { n: lines.length })];
    if (result.angle) meta.push(t("result.angle", { deg: result.angle }));
    slot.replaceChildren(
      el("header", { class: "page-head" },
        el("h3", { text: pageTitle(result.page_number) }),
        el("span", { class: "muted small", text: meta.join(" · ") }),
        el("span", { class: "spacer" }),
        el("label", { class: "toggle small" }, boxesToggle, el("span", { text: t("result.showboxes") }))),
      el("div", { class: "page-body" },
        el("div", { class: "page-figure" }, el("div", { class: "figure-inner" }, img, svg)),
        el("div", { class: "page-text" },
          lines.length ? list : el("p", { class: "muted", text: t("result.notext") }))),
    );
  }

  function highlight(slot, i, line, ev, pin) {
    unhighlight(slot);
    slot.querySelectorAll(`[data-line="${i}"]`).forEach((n) => n.classList.add("is-active"));
    if (ev) {
      const tip = $("box-tip");
      tip.replaceChildren(
        el("div", { class: "tip-text", text: line.text }),
        el("div", { class: "tip-conf" + (line.confidence < LOW_CONFIDENCE ? " is-low" : "") },
          t("result.confidence") + " " + (line.confidence * 100).toFixed(1) + "%"),
      );
      tip.hidden = false;
      placeTip(ev.clientX, ev.clientY);
      state.pinned = pin ? slot : null;
    }
  }

  function unhighlight(slot) {
    slot.querySelectorAll(".is-active").forEach((n) => n.classList.remove("is-active"));
    if (!state.pinned) $("box-tip").hidden = true;
  }

  function placeTip(x, y) {
    const tip = $("box-tip");
    const pad = 14;
    const w = tip.offsetWidth, h = tip.offsetHeight;
    let left = x + pad, top = y + pad;
    if (left + w > window.innerWidth - 8) left = Math.max(8, x - w - pad);
    if (top + h > window.innerHeight - 8) top = Math.max(8, y - h - pad);
    tip.style.left = left + "px";
    tip.style.top = top + "px";
  }

  document.addEventListener("click", () => {
    if (state.pinned) { state.pinned = null; $("box-tip").hidden = true; document.querySelectorAll(".is-active").forEach((n) => n.classList.remove("is-active")); }
  });
  window.addEventListener("scroll", () => { if (!state.pinned) $("box-tip").hidden = true; }, { passive: true });

  // --- the end: downloads and copy ----------------------------------------------------------------------
  function finish(job) {
    $("start-button").disabled = !state.items.some((i) => !i.rejected);
    const outputs = job.outputs || [];
    document.querySelectorAll("#downloads button").forEach((b) => {
      b.disabled = !(job.pages_done > 0 && outputs.includes(b.dataset.format));
    });
    if (job.pages_done > 0) $("results").hidden = false;
  }

  function allText() {
    return [...state.texts.entries()].sort((a, b) => a[0] - b[0]).map(([, text]) => text).join("\n\n");
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    const area = el("textarea", { class: "visually-hidden" });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }

  function initResults() {
    $("copy-all").addEventListener("click", async () => {
      try {
        await copyText(allText());
        OCR.toast(t("result.copied"));
      } catch (err) {
        OCR.toast(err.message || t("error.generic"), "error");
      }
    });
    document.querySelectorAll("#downloads button").forEach((button) => {
      button.addEventListener("click", async () => {
        const ext = button.dataset.format;
        try {
          const response = await OCR.request("GET", `/v1/jobs/${encodeURIComponent(state.jobId)}/result.${ext}`);
          await OCR.saveBlob(response, `ocr-${state.jobId.slice(0, 8)}.${ext}`);
        } catch (err) {
          OCR.toast(err.message, "error");
        }
      });
    });
  }

  OCR.onLanguage(() => {
    renderFileList();
    if (state.job) {
      renderProgress(state.job);
      // Re-render panels so their labels follow the language; images stay cached by URL.
      document.querySelectorAll(".page-panel .page-head h3").forEach((h) => {
        h.textContent = pageTitle(Number(h.closest(".page-panel").dataset.page));
      });
    }
  });

  OCR.initChrome();
  initPicking();
  initResults();
  renderFileList();
  const resume = new URL(location.href).searchParams.get("job");
  if (resume && OCR.getKey()) follow(resume);
  else if (!OCR.getKey()) OCR.toast(t("key.missing"), "warn");
})();
