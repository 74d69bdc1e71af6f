/* Shared by the upload page and the dashboard: interface language, the API key, JSON requests. */
"use strict";

const OCR = (() => {
  const KEY_STORAGE = "ocr.apiKey";
  const LANG_STORAGE = "ocr.uiLang";

  const STRINGS = {
    en: {
      "brand": "OCR",
      "brand.sub": "Chinese & English text recognition",
      "nav.upload": "Read text",
      "nav.dashboard": "Operations",
      "lang.toggle": "中文",
      "key.button.set": "API key ✓",
      "key.button.unset": "Set API key",
      "key.title": "API key",
      "key.help": "Paste the API key you were given. It is kept in this browser only (localStorage) and sent with each request as X-API-Key.",
      "key.placeholder": "ocr_…",
      "key.save": "Save",
      "key.clear": "Forget key",
      "key.cancel": "Close",
      "key.saved": "Key saved in this browser.",
      "key.cleared": "Key removed from this browser.",
      "key.missing": "Set your API key first (button at the top right).",
      "key.invalid": "The API key was refused. Check it and set it again.",
      "error.network": "The server could not be reached.",
      "error.generic": "Something went wrong",

      "upload.title": "Read text from images and PDFs",
      "upload.lead": "Drop photos, scans or a PDF. Pages are read on our servers; the text, with each line's box and confidence, appears here.",
      "upload.drop": "Drop images or PDFs here",
      "upload.or": "or",
      "upload.choose": "Choose files",
      "upload.camera": "Take a photo",
      "upload.formats": "JPEG, PNG, TIFF, BMP, WebP or PDF · several files at once · large photos are shrunk before sending",
      "upload.lang": "Text language",
      "upload.lang.mix": "Chinese + English",
      "upload.lang.zh": "Chinese",
      "upload.lang.en": "English",
      "upload.orientation": "Detect page orientation",
      "upload.pdftext": "Text in PDFs",
      "upload.pdftext.auto": "Auto: use it where real, read the rest",
      "upload.pdftext.ocr": "Read every page again",
      "upload.pdftext.keep": "Use it only, read nothing",
      "upload.pages": "Pages",
      "upload.pages.placeholder": "all, or e.g. 1-3,5",
      "upload.start": "Read text",
      "upload.clear": "Clear",
      "upload.remove": "Remove",
      "upload.preparing": "Preparing files…",
      "upload.compressed": "compressed from {from}",
      "upload.sending": "Uploading… {pct}%",
      "upload.queued": "Queued — waiting for a worker",
      "upload.running": "Reading page {done} of {total}",
      "upload.job": "Job",
      "upload.finished": "Finished: {done} of {total} pages read",
      "upload.nofiles": "Add at least one file.",
      "status.queued": "queued",
      "status.running": "running",
      "status.succeeded": "succeeded",
      "status.partial_success": "partly succeeded",
      "status.failed": "failed",
      "status.cancelling": "cancelling",
      "status.cancelled": "cancelled",
      "status.done": "done",
      "file.pending": "waiting",
      "file.ready": "read",
      "file.failed": "failed",
      "file.rejected": "refused",
      "result.title": "Result",
      "result.copy": "Copy text",
      "result.copied": "Copied",
      "result.download": "Download",
      "result.txt": "Text (.txt)",
      "result.json": "JSON with boxes",
      "result.pdf": "Searchable PDF",
      "result.page": "Page {n}",
      "result.lines": "{n} lines",
      "result.lowconf": "low confidence",
      "result.lowconf.legend": "Marked lines were read with low confidence (below {pct}%); check them.",
      "result.confidence": "confidence",
      "result.notext": "No text was found on this page.",
      "result.pagefailed": "This page could not be read",
      "result.showboxes": "Boxes",
      "result.fileerror": "File not read",
      "result.angle": "rotated {deg}°",
      "result.filepage": "{file} · page {n}",
      "upload.rejected.some": "{n} of {total} files were refused (marked in the list); the others are being read.",
      "upload.rejected.all": "No file was accepted (each is marked in the list).",

      "dash.title": "Operations",
      "dash.admin_required": "Admin key required",
      "dash.admin_required.help": "The dashboard's figures are only shown to admin API keys. Set an admin key with the button at the top right.",
      "dash.refresh": "Auto-refresh",
      "dash.updated": "Updated {time}",
      "dash.queue": "Queue {name}",
      "dash.waiting": "waiting",
      "dash.unacked": "Taken, not yet done",
      "dash.oldest": "Oldest waiting page",
      "dash.oldest.none": "none waiting",
      "dash.workers_online": "Workers online",
      "dash.jobs_active": "Jobs active",
      "dash.pages_per_min": "Pages / min (1 h)",
      "dash.failure_ratio": "Page failure ratio (1 h)",
      "dash.broker_down": "Broker unreachable",
      "dash.workers": "Workers",
      "dash.workers.none": "No worker has reported in the last 10 minutes.",
      "dash.col.worker": "Worker",
      "dash.col.device": "Device",
      "dash.col.current": "Current page",
      "dash.col.heartbeat": "Last heartbeat",
      "dash.col.pages": "Pages done",
      "dash.col.state": "State",
      "dash.online": "online",
      "dash.offline": "silent",
      "dash.idle": "idle",
      "dash.ago": "{s} ago",
      "dash.throughput": "Throughput, last hour",
      "dash.time": "Time",
      "dash.failures": "Failure ratio, last hour",
      "dash.series.pages_done": "pages done / min",
      "dash.series.pages_failed": "pages failed / min",
      "dash.series.jobs": "jobs finished / min",
      "dash.series.failure": "failed pages %",
      "dash.stages": "Time per stage, last hour",
      "dash.col.stage": "Stage",
      "dash.col.n": "Samples",
      "stage.rasterise": "Rasterise",
      "stage.orientation": "Orientation",
      "stage.detection": "Detection (CTPN)",
      "stage.recognition": "Recognition (CRNN)",
      "stage.total": "Page total",
      "stage.job": "Job, submit → done",
      "stage.wait": "Job, wait before start",
      "dash.jobs": "Jobs",
      "dash.filter.status": "Status",
      "dash.filter.any": "any",
      "dash.filter.tag": "Tag",
      "dash.filter.key": "Key",
      "dash.filter.from": "From",
      "dash.filter.to": "To",
      "dash.filter.jobid": "Job id",
      "dash.filter.apply": "Filter",
      "dash.filter.reset": "Reset",
      "dash.col.job": "Job",
      "dash.col.status": "Status",
      "dash.col.pages_col": "Pages",
      "dash.col.key": "Key",
      "dash.col.tag": "Tag",
      "dash.col.files": "Files",
      "dash.col.created": "Created",
      "dash.col.duration": "Duration",
      "dash.col.error": "Error",
      "dash.jobs.none": "No jobs match.",
      "dash.pager": "{from}–{to} of {total}",
      "dash.prev": "Previous",
      "dash.next": "Next",
      "dash.back": "All jobs",
      "job.title": "Job",
      "job.actions": "Actions",
      "job.retry": "Retry failed pages",
      "job.rerun": "Rerun with options…",
      "job.cancel": "Cancel",
      "job.delete": "Delete",
      "job.confirm_delete": "Delete this job, its uploads, page images and results? This cannot be undone.",
      "job.confirm_cancel": "Cancel this job?",
      "job.retried": "{n} page(s) queued again.",
      "job.resplit": "The job's files are being read again.",
      "job.rerun_started": "New job {id} started.",
      "job.deleted": "Job deleted.",
      "job.cancelled": "Cancel requested.",
      "job.rerun.title": "Rerun with other options",
      "job.rerun.go": "Start new job",
      "job.outputs": "Outputs",
      "job.summary": "Summary",
      "job.files": "Files",
      "job.pages": "Pages",
      "job.col.file": "File",
      "job.col.format": "Format",
      "job.col.size": "Size",
      "job.col.page": "Page",
      "job.col.source": "Source",
      "job.col.attempts": "Attempts",
      "job.col.worker": "Worker",
      "job.col.timings": "Timings (s)",
      "job.col.lines": "Lines",
      "job.f.status": "Status",
      "job.f.key": "Key",
      "job.f.tag": "Tag",
      "job.f.lang": "Language",
      "job.f.options": "Options",
      "job.f.created": "Created",
      "job.f.started": "Started",
      "job.f.finished": "Finished",
      "job.f.duration": "Duration",
      "job.f.error": "Error",
      "job.f.webhook": "Webhook",
      "job.notfound": "No such job.",
      "job.open_page": "open page",
    },
    zh: {
      "brand": "OCR",
      "brand.sub": "中英文文字识别",
      "nav.upload": "识别文字",
      "nav.dashboard": "运维面板",
      "lang.toggle": "English",
      "key.button.set": "API 密钥 ✓",
      "key.button.unset": "设置 API 密钥",
      "key.title": "API 密钥",
      "key.help": "粘贴分配给您的 API 密钥。密钥只保存在本浏览器（localStorage）中，每次请求以 X-API-Key 发送。",
      "key.placeholder": "ocr_…",
      "key.save": "保存",
      "key.clear": "清除密钥",
      "key.cancel": "关闭",
      "key.saved": "密钥已保存在本浏览器。",
      "key.cleared": "已从本浏览器清除密钥。",
      "key.missing": "请先设置 API 密钥（右上角按钮）。",
      "key.invalid": "API 密钥被拒绝，请检查后重新设置。",
      "error.network": "无法连接服务器。",
      "error.generic": "出错了",

      "upload.title": "从图片和 PDF 中识别文字",
      "upload.lead": "拖入照片、扫描件或 PDF。页面在服务器上识别，识别出的文字连同每行的位置框和置信度会显示在这里。",
      "upload.drop": "把图片或 PDF 拖放到这里",
      "upload.or": "或",
      "upload.choose": "选择文件",
      "upload.camera": "拍照",
      "upload.formats": "JPEG、PNG、TIFF、BMP、WebP 或 PDF · 可一次选多个文件 · 大照片会先在浏览器中压缩",
      "upload.lang": "文字语言",
      "upload.lang.mix": "中文 + 英文",
      "upload.lang.zh": "中文",
      "upload.lang.en": "英文",
      "upload.orientation": "检测页面方向",
      "upload.pdftext": "PDF 自带的文字",
      "upload.pdftext.auto": "自动：能用就用，其余识别",
      "upload.pdftext.ocr": "每页都重新识别",
      "upload.pdftext.keep": "只用自带文字，不识别",
      "upload.pages": "页码",
      "upload.pages.placeholder": "全部，或如 1-3,5",
      "upload.start": "开始识别",
      "upload.clear": "清空",
      "upload.remove": "移除",
      "upload.preparing": "正在准备文件…",
      "upload.compressed": "已从 {from} 压缩",
      "upload.sending": "正在上传… {pct}%",
      "upload.queued": "排队中，等待工作进程",
      "upload.running": "正在识别第 {done} / {total} 页",
      "upload.job": "任务",
      "upload.finished": "完成：已识别 {done} / {total} 页",
      "upload.nofiles": "请至少添加一个文件。",
      "status.queued": "排队中",
      "status.running": "处理中",
      "status.succeeded": "成功",
      "status.partial_success": "部分成功",
      "status.failed": "失败",
      "status.cancelling": "正在取消",
      "status.cancelled": "已取消",
      "status.done": "完成",
      "file.pending": "等待中",
      "file.ready": "已读取",
      "file.failed": "失败",
      "file.rejected": "已拒收",
      "result.title": "识别结果",
      "result.copy": "复制文字",
      "result.copied": "已复制",
      "result.download": "下载",
      "result.txt": "纯文本 (.txt)",
      "result.json": "JSON（含位置框）",
      "result.pdf": "可搜索 PDF",
      "result.page": "第 {n} 页",
      "result.lines": "{n} 行",
      "result.lowconf": "低置信度",
      "result.lowconf.legend": "标记的行置信度较低（低于 {pct}%），请核对。",
      "result.confidence": "置信度",
      "result.notext": "此页未发现文字。",
      "result.pagefailed": "此页无法识别",
      "result.showboxes": "位置框",
      "result.fileerror": "文件未能读取",
      "result.angle": "已旋转 {deg}°",
      "result.filepage": "{file} · 第 {n} 页",
      "upload.rejected.some": "{total} 个文件中有 {n} 个被拒收（已在列表中标出），其余文件正在识别。",
      "upload.rejected.all": "没有文件被接受（原因已在列表中逐个标出）。",

      "dash.title": "运维面板",
      "dash.admin_required": "需要管理员密钥",
      "dash.admin_required.help": "面板数据只对管理员 API 密钥开放。请用右上角按钮设置管理员密钥。",
      "dash.refresh": "自动刷新",
      "dash.updated": "更新于 {time}",
      "dash.queue": "队列 {name}",
      "dash.waiting": "等待中",
      "dash.unacked": "已领取未完成",
      "dash.oldest": "最早等待的页面",
      "dash.oldest.none": "无等待",
      "dash.workers_online": "在线工作进程",
      "dash.jobs_active": "进行中的任务",
      "dash.pages_per_min": "每分钟页数（1 小时）",
      "dash.failure_ratio": "页面失败率（1 小时）",
      "dash.broker_down": "消息队列不可达",
      "dash.workers": "工作进程",
      "dash.workers.none": "最近 10 分钟没有工作进程上报。",
      "dash.col.worker": "工作进程",
      "dash.col.device": "设备",
      "dash.col.current": "当前页面",
      "dash.col.heartbeat": "最近心跳",
      "dash.col.pages": "已完成页数",
      "dash.col.state": "状态",
      "dash.online": "在线",
      "dash.offline": "失联",
      "dash.idle": "空闲",
      "dash.ago": "{s}前",
      "dash.throughput": "吞吐量（最近 1 小时）",
      "dash.time": "时间",
      "dash.failures": "失败率（最近 1 小时）",
      "dash.series.pages_done": "完成页数/分钟",
      "dash.series.pages_failed": "失败页数/分钟",
      "dash.series.jobs": "完成任务/分钟",
      "dash.series.failure": "失败页面 %",
      "dash.stages": "各阶段耗时（最近 1 小时）",
      "dash.col.stage": "阶段",
      "dash.col.n": "样本数",
      "stage.rasterise": "栅格化",
      "stage.orientation": "方向检测",
      "stage.detection": "文本行检测 (CTPN)",
      "stage.recognition": "文字识别 (CRNN)",
      "stage.total": "单页总计",
      "stage.job": "任务：提交 → 完成",
      "stage.wait": "任务：开始前等待",
      "dash.jobs": "任务",
      "dash.filter.status": "状态",
      "dash.filter.any": "全部",
      "dash.filter.tag": "标签",
      "dash.filter.key": "密钥",
      "dash.filter.from": "起始日期",
      "dash.filter.to": "结束日期",
      "dash.filter.jobid": "任务 ID",
      "dash.filter.apply": "筛选",
      "dash.filter.reset": "重置",
      "dash.col.job": "任务",
      "dash.col.status": "状态",
      "dash.col.pages_col": "页数",
      "dash.col.key": "密钥",
      "dash.col.tag": "标签",
      "dash.col.files": "文件",
      "dash.col.created": "创建时间",
      "dash.col.duration": "耗时",
      "dash.col.error": "错误",
      "dash.jobs.none": "没有符合条件的任务。",
      "dash.pager": "第 {from}–{to} 条，共 {total} 条",
      "dash.prev": "上一页",
      "dash.next": "下一页",
      "dash.back": "全部任务",
      "job.title": "任务",
      "job.actions": "操作",
      "job.retry": "重试失败页面",
      "job.rerun": "用其他选项重跑…",
      "job.cancel": "取消",
      "job.delete": "删除",
      "job.confirm_delete": "删除此任务及其上传文件、页面图像和结果？此操作不可撤销。",
      "job.confirm_cancel": "取消此任务？",
      "job.retried": "已重新排队 {n} 页。",
      "job.resplit": "正在重新读取此任务的文件。",
      "job.rerun_started": "已启动新任务 {id}。",
      "job.deleted": "任务已删除。",
      "job.cancelled": "已请求取消。",
      "job.rerun.title": "用其他选项重跑",
      "job.rerun.go": "启动新任务",
      "job.outputs": "输出格式",
      "job.summary": "概要",
      "job.files": "文件",
      "job.pages": "页面",
      "job.col.file": "文件",
      "job.col.format": "格式",
      "job.col.size": "大小",
      "job.col.page": "页",
      "job.col.source": "来源",
      "job.col.attempts": "尝试次数",
      "job.col.worker": "工作进程",
      "job.col.timings": "耗时（秒）",
      "job.col.lines": "行数",
      "job.f.status": "状态",
      "job.f.key": "密钥",
      "job.f.tag": "标签",
      "job.f.lang": "语言",
      "job.f.options": "选项",
      "job.f.created": "创建",
      "job.f.started": "开始",
      "job.f.finished": "结束",
      "job.f.duration": "耗时",
      "job.f.error": "错误",
      "job.f.webhook": "回调",
      "job.notfound": "没有这个任务。",
      "job.open_page": "打开页面",
    },
  };

  let lang = localStorage.getItem(LANG_STORAGE) || ((navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en");
  const listeners = [];

  function t(key, vars) {
    let s = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.split("{" + k + "}").join(String(v));
    return s;
  }

  function applyLanguage(root) {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    (root || document).querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    (root || document).querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
    (root || document).querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
  }

  function setLanguage(next) {
    lang = next;
    localStorage.setItem(LANG_STORAGE, lang);
    applyLanguage();
    updateKeyButton();
    listeners.forEach((fn) => fn(lang));
  }

  function onLanguage(fn) { listeners.push(fn); }

  // --- the API key -------------------------------------------------------------------------
  function getKey() { return localStorage.getItem(KEY_STORAGE) || ""; }
  function setKey(value) {
    if (value) localStorage.setItem(KEY_STORAGE, value); else localStorage.removeItem(KEY_STORAGE);
    updateKeyButton();
    keyListeners.forEach((fn) => fn(value));
  }
  const keyListeners = [];
  function onKey(fn) { keyListeners.push(fn); }

  function updateKeyButton() {
    const button = document.getElementById("key-button");
    if (!button) return;
    const has = !!getKey();
    button.textContent = t(has ? "key.button.set" : "key.button.unset");
    button.classList.toggle("is-set", has);
  }

  function openKeyDialog(message) {
    const dialog = document.getElementById("key-dialog");
    const input = document.getElementById("key-input");
    const note = document.getElementById("key-note");
    input.value = getKey();
    note.textContent = message || "";
    note.hidden = !message;
    if (typeof dialog.showModal === "function") dialog.showModal(); else dialog.setAttribute("open", "");
    input.focus();
  }

  function initChrome() {
    applyLanguage();
    updateKeyButton();
    document.getElementById("lang-button").addEventListener("click", () => setLanguage(lang === "zh" ? "en" : "zh"));
    document.getElementById("key-button").addEventListener("click", () => openKeyDialog());
    const dialog = document.getElementById("key-dialog");
    document.getElementById("key-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      setKey(document.getElementById("key-input").value.trim());
      dialog.close();
      toast(t("key.saved"));
    });
    document.getElementById("key-clear").addEventListener("click", () => {
      setKey("");
      dialog.close();
      toast(t("key.cleared"));
    });
    document.getElementById("key-close").addEventListener("click", () => dialog.close());
  }

  // --- requests ---------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function request(method, url, { body, json, headers, signal } = {}) {
    const key = getKey();
    if (!key) throw new ApiError(401, "unauthorized", t("key.missing"));
    const h = Object.assign({ "X-API-Key": key }, headers || {});
    let payload = body;
    if (json !== undefined) {
      h["Content-Type"] = "application/json";
      payload = JSON.stringify(json);
    }
    let response;
    try {
      response = await fetch(url, { method, headers: h, body: payload, signal, cache: "no-store" });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, "network", t("error.network"));
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  async function errorOf(response) {
    let code = "http_" + response.status;
    let message = response.statusText || t("error.generic");
    try {
      const data = await response.json();
      code = data.error || code;
      message = data.message || message;
    } catch (_) { /* not JSON */ }
    if (response.status === 401) message = t("key.invalid") + " (" + message + ")";
    return new ApiError(response.status, code, message);
  }

  async function getJSON(url, opts) { return (await request("GET", url, opts)).json(); }
  async function sendJSON(method, url, json) {
    const response = await request(method, url, { json });
    return response.status === 204 ? null : response.json();
  }

  // Uploads use XMLHttpRequest: fetch cannot report upload progress.
  function upload(url, formData, onProgress) {
    return new Promise((resolve, reject) => {
      const key = getKey();
      if (!key) { reject(new ApiError(401, "unauthorized", t("key.missing"))); return; }
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-API-Key", key);
      xhr.responseType = "json";
      xhr.upload.onprogress = (ev) => { if (ev.lengthComputable && onProgress) onProgress(ev.loaded / ev.total); };
      xhr.onload = () => {
        const data = xhr.response || {};
        if (xhr.status >= 200 && xhr.status < 300) resolve(data);
        else {
          let message = data.message || xhr.statusText || t("error.generic");
          if (xhr.status === 401) message = t("key.invalid") + " (" + message + ")";
          const err = new ApiError(xhr.status, data.error || "http_" + xhr.status, message);
          err.body = data; // e.g. a refused upload's per-file errors, "rejected"
          reject(err);
        }
      };
      xhr.onerror = () => reject(new ApiError(0, "network", t("error.network")));
      xhr.send(formData);
    });
  }

  // --- small helpers --------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function bytes(n) {
    if (n == null) return "–";
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(0) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  function seconds(s) {
    if (s == null) return "–";
    if (s < 1) return Math.round(s * 1000) + " ms";
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
  }

  function dateTime(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return d.toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", {
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
  }

  function statusBadge(status) {
    return el("span", { class: "badge status-" + status, text: t("status." + status) });
  }

  let toastTimer = null;
  function toast(message, kind) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.className = "toast show" + (kind ? " toast-" + kind : "");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.className = "toast"; }, 4000);
  }

  async function saveBlob(response, filename) {
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  return {
    t, lang: () => lang, setLanguage, onLanguage, applyLanguage,
    getKey, setKey, onKey, openKeyDialog, initChrome,
    ApiError, request, getJSON, sendJSON, upload,
    el, bytes, seconds, dateTime, statusBadge, toast, saveBlob,
  };
})();
