// The operator console: one websocket to /control, authenticated with the operator token.
// The token comes from the URL fragment (#token=...) or ?token=, is kept in this tab's
// sessionStorage, and is removed from the address bar at once. See docs/operator.md.
//
// Keyboard: P pause/resume, C clear the screens, L cycle the language, M message box,
// 1-9 a speaker of the programme item on now, 0 other / audience question.

import { ProgrammePanel } from "./programme.js";

const TOKEN_KEY = "captioner.delivery.operator.token";
const LANG_NAMES = { auto: "Auto", ru: "RU", en: "EN" };
const $ = (id) => document.getElementById(id);

// Never run inside a frame of another page (the server forbids it too).
if (window.top !== window.self) {
  document.body.textContent = "The operator console cannot be shown inside another page.";
  throw new Error("framed");
}

function takeTokenFromUrl() {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
  const query = new URLSearchParams(location.search);
  const token = hash.get("token") || query.get("token");
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  if (hash.has("token") || query.has("token")) {
    history.replaceState(null, "", location.pathname);  // out of sight and history
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

/** The control connection: authenticates, reconnects with backoff, routes messages. */
class Control {
  constructor(handlers) {
    this.handlers = handlers;
    this.ws = null;
    this.attempt = 0;
    this.nextId = 1;
    this.pending = new Map();
    this.token = null;
    this.timer = null;
  }

  start(token) {
    this.token = token;
    clearTimeout(this.timer);
    this._connect();
  }

  _connect() {
    const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/control`;
    const ws = new WebSocket(url);
    this.ws = ws;
    this.handlers.onConn("connecting");
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: this.token }));
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg.type === "welcome") { this.attempt = 0; this.handlers.onConn("live"); this.handlers.onWelcome(msg); }
      else if (msg.type === "state") this.handlers.onState(msg);
      else if (msg.type === "ack" || msg.type === "error") this.handlers.onReply(msg, this.pending.get(msg.id));
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (ev.code === 4401) {
        this.handlers.onConn("unauthorized");
        this.handlers.onUnauthorized();
        return;
      }
      this.handlers.onConn("reconnecting");
      const ceiling = Math.min(10000, 500 * 2 ** Math.min(this.attempt, 5));
      this.attempt += 1;
      this.timer = setTimeout(() => this._connect(), ceiling / 2 + Math.random() * ceiling / 2);
    };
  }

  get ready() { return this.ws !== null && this.ws.readyState === WebSocket.OPEN; }

  send(cmd, args = {}) {
    if (!this.ready) { this.handlers.onReply({ type: "error", error: "not connected" }); return; }
    const id = this.nextId++;
    this.pending.set(id, cmd);
    if (this.pending.size > 50) this.pending.delete(this.pending.keys().next().value);
    this.ws.send(JSON.stringify({ id, cmd, ...args }));
  }
}

// -- state and rendering --------------------------------------------------------------------

let state = null;
let welcome = null;
let lastStateAt = 0;
let holdEdited = false;
const inputRows = new Map();

function fmtSeconds(v) { return v === null || v === undefined ? "–" : `${v.toFixed(1)} s`; }
function fmtDb(v) { return typeof v === "number" ? `${v.toFixed(0)}` : "–"; }
function clock(ts) { return new Date(ts * 1000).toLocaleTimeString([], { hour12: false }); }

function chip(el, text, tone) {
  el.textContent = text;
  el.dataset.tone = tone;
}

function tone(value, good, warn) {
  if (value === null || value === undefined) return "idle";
  return value <= good ? "good" : value <= warn ? "warn" : "bad";
}

function toast(text, kind = "info") {
  const el = $("toast");
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 6000 : 2500);
}

/** A level meter: -60..0 dBFS, RMS bar with a peak tick. */
function meterPosition(db) {
  if (typeof db !== "number") return 0;
  return Math.max(0, Math.min(100, (db + 60) / 60 * 100));
}

function buildInputRow(input) {
  const row = document.createElement("div");
  row.className = "input-row";
  row.dataset.input = input.id;
  const head = document.createElement("div");
  head.className = "input-head";
  const name = document.createElement("span");
  name.className = "input-name";
  name.textContent = input.id;
  const source = document.createElement("span");
  source.className = "input-source";
  const chips = document.createElement("span");
  chips.className = "input-chips";
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "switch";
  toggle.setAttribute("role", "switch");
  toggle.setAttribute("aria-label", `Input ${input.id}`);
  toggle.innerHTML = '<span class="switch-knob"></span><span class="switch-text"></span>';
  toggle.addEventListener("click", () => {
    const enabled = toggle.getAttribute("aria-checked") !== "true";
    control.send("input", { input: input.id, enabled });
  });
  head.append(name, source, chips, toggle);

  const meter = document.createElement("div");
  meter.className = "meter";
  meter.innerHTML = '<div class="meter-fill"></div><div class="meter-peak"></div>' +
    '<div class="meter-scale"><span>-60</span><span>-40</span><span>-20</span><span>-12</span><span>-6</span><span>0</span></div>';
  const figures = document.createElement("div");
  figures.className = "input-figures";
  row.append(head, meter, figures);
  $("inputs").append(row);
  const parts = { row, source, chips, toggle, meter, figures };
  inputRows.set(input.id, parts);
  return parts;
}

function renderInputs(inputs) {
  for (const input of inputs) {
    const p = inputRows.get(input.id) || buildInputRow(input);
    p.source.textContent = input.source === "interpretation" ? "booth · interpretation" : input.source;
    p.toggle.setAttribute("aria-checked", String(input.enabled));
    p.toggle.querySelector(".switch-text").textContent = input.enabled ? "On" : "Off";
    p.row.classList.toggle("disabled", !input.enabled);
    const lv = input.levels;
    const flags = [];
    if (!input.enabled) flags.push(["Disabled", "idle"]);
    if (input.lost) flags.push(["Lost", "bad"]);
    if (lv && lv.clipping || (input.warnings || []).includes("clipping")) flags.push(["Clip", "bad"]);
    if (lv && lv.silent || (input.warnings || []).includes("silent_channel")) flags.push(["Silent", "warn"]);
    if (lv && lv.stale) flags.push(["No signal data", "warn"]);
    p.chips.replaceChildren(...flags.map(([text, t]) => {
      const c = document.createElement("span");
      c.className = "chip small";
      c.dataset.tone = t;
      c.textContent = text;
      return c;
    }));
    p.meter.classList.toggle("empty", !lv);
    p.meter.style.setProperty("--rms", `${lv ? meterPosition(lv.rms_dbfs) : 0}%`);
    p.meter.style.setProperty("--peak", `${lv ? meterPosition(lv.peak_dbfs) : 0}%`);
    const text = lv
      ? `RMS ${fmtDb(lv.rms_dbfs)} dBFS · peak ${fmtDb(lv.peak_dbfs)} dBFS`
      : "no level meter (file input)";
    const dropped = (input.overflows || 0) + (input.dropped || 0) + (input.asr_dropped || 0);
    p.figures.textContent = `${text} · backlog ${fmtSeconds(input.backlog_s)} · dropped ${dropped}`;
    const unread = Object.values(input.speech_dropped || {}).reduce((a, b) => a + b, 0);
    if (unread) p.figures.textContent += ` · unread speech ${unread}`;
    p.figures.title = `overflows ${input.overflows || 0}, capture dropped ${input.dropped || 0}, ` +
      `recognition dropped ${input.asr_dropped || 0}, passes ${input.passes || 0}` +
      Object.entries(input.speech_dropped || {}).map(([why, n]) => `, unread speech (${why}) ${n}`)
        .join("");
  }
}

function renderLatency(lat) {
  const limits = { partial: [1.5, 3], committed: [3, 6] };
  for (const kind of ["partial", "committed"]) {
    const el = $(`lat-${kind}`);
    const v = lat[kind];
    el.querySelector(".figure-value").textContent = fmtSeconds(v.last_s);
    el.querySelector(".figure-sub").textContent = v.count ? `avg ${fmtSeconds(v.avg_s)} · ${v.count} captions` : "no captions yet";
    el.dataset.tone = tone(v.avg_s, ...limits[kind]);
  }
}

function facts(el, rows) {
  el.replaceChildren(...rows.flatMap(([k, v, t]) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    if (t) {
      const c = document.createElement("span");
      c.className = "chip small";
      c.dataset.tone = t;
      c.textContent = v;
      dd.append(c);
    } else {
      dd.textContent = v;
    }
    return [dt, dd];
  }));
}

function renderEngines(s) {
  const a = s.asr;
  const load = a.load === null || a.load === undefined ? "–" : `${Math.round(a.load * 100)} %`;
  const placement = [a.device, a.compute_type, a.threads ? `${a.threads} threads` : null].filter(Boolean).join(" · ");
  const t = s.translation;
  const engines = Object.entries(t.engines).map(([src, name]) => `${src}→${src === "ru" ? "en" : "ru"} ${name}`).join(", ");
  const tTone = { ok: "good", off: "idle", partial: "warn", unavailable: "bad" }[t.status] || "idle";
  const rows = [
    ["Speech", a.model || "Whisper", null],
    ["Runs on", placement || "–", null],
    ["Busy", load, tone(a.load, 0.6, 0.85)],
    ["Passes", String(a.passes), null],
    ["Translation", t.status, tTone],
  ];
  if (engines) rows.push(["Engines", engines, null]);
  for (const [lang, reason] of Object.entries(t.unavailable)) rows.push([`No ${lang}`, reason || "unavailable", null]);
  rows.push(["Queue", `${t.queue} sentences · dropped ${t.dropped || 0}${t.errors ? ` · ${t.errors} errors` : ""}`, null]);
  facts($("engines"), rows);
}

function renderSession(s) {
  const rec = s.recording;
  const rows = [];
  if (rec) {
    rows.push(["Recording", rec.healthy === false ? `error: ${rec.error || "unknown"}` : "on", rec.healthy === false ? "bad" : "good"]);
    if (rec.name) rows.push(["Folder", rec.name, null]);
  } else {
    rows.push(["Recording", "off", "idle"]);
  }
  rows.push(["Committed", `${s.captions.committed} captions${s.captions.held ? ` · ${s.captions.held} held` : ""}`, null]);
  rows.push(["Last seq", s.captions.last_seq === null ? "–" : String(s.captions.last_seq), null]);
  rows.push(["Feed", s.captions.session, null]);
  facts($("session"), rows);
}

function renderPreview(s) {
  const panes = $("preview");
  const langs = ["ru", "en"].concat(Object.keys(s.screens).filter((l) => l !== "ru" && l !== "en"));
  panes.replaceChildren(...langs.map((lang) => {
    const pane = document.createElement("div");
    pane.className = "preview-pane";
    pane.lang = lang;
    const head = document.createElement("div");
    head.className = "preview-lang";
    head.textContent = lang === "ru" ? "Русский" : lang === "en" ? "English" : lang;
    pane.append(head);
    const track = s.screens[lang] || { lines: [], partial: "" };
    for (const line of track.lines) {
      const p = document.createElement("p");
      p.textContent = line;
      pane.append(p);
    }
    if (track.partial) {
      const p = document.createElement("p");
      p.className = "partial";
      p.textContent = track.partial;
      pane.append(p);
    }
    if (!track.lines.length && !track.partial) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = "—";
      pane.append(p);
    }
    return pane;
  }));
  $("held-note").hidden = !s.paused;
  panes.classList.toggle("held", s.paused);
}

function renderLog(entries) {
  $("log").replaceChildren(...entries.slice().reverse().map((e) => {
    const li = document.createElement("li");
    li.dataset.level = e.level;
    const t = document.createElement("time");
    t.textContent = clock(e.at);
    const span = document.createElement("span");
    span.textContent = e.text;
    li.append(t, span);
    return li;
  }));
}

function renderControls(s) {
  const pause = $("pause");
  pause.dataset.paused = String(s.paused);
  $("pause-label").textContent = s.paused ? "Resume captions" : "Pause captions";
  $("pause-sub").textContent = s.paused ? "Screens show the holding message" : "Screens are live";
  for (const b of $("lang").querySelectorAll("[data-lang]")) {
    b.setAttribute("aria-checked", String(b.dataset.lang === s.language));
  }
}

function render(s) {
  renderControls(s);
  chip($("chip-screens"), s.paused ? "Screens paused" : s.stopped ? "Session ended" : "Screens live",
       s.paused ? "warn" : s.stopped ? "idle" : "good");
  const rec = s.recording;
  chip($("chip-rec"), rec ? (rec.healthy === false ? "Recording error" : "● REC") : "Not recording",
       rec ? (rec.healthy === false ? "bad" : "rec") : "idle");
  chip($("chip-viewers"), `${s.viewers} viewer${s.viewers === 1 ? "" : "s"}`, s.viewers ? "good" : "idle");
  renderInputs(s.inputs);
  renderLatency(s.latency);
  renderEngines(s);
  renderSession(s);
  renderPreview(s);
  renderLog(s.log);
  speaking.render(s.programme);
}

function setEnabled(on) {
  for (const id of ["pause", "clear", "msg-send", "new-session"]) $(id).disabled = !on;
  if (on && welcome && !welcome.new_session) $("new-session").disabled = true;
}

// -- actions ----------------------------------------------------------------------------------

function togglePause() {
  if (!state) return;
  if (state.paused) control.send("resume");
  else control.send("pause", { message: $("hold").value.trim() });
}

function cycleLanguage() {
  if (!state || !welcome) return;
  const order = welcome.languages;
  const next = order[(order.indexOf(state.language) + 1) % order.length];
  control.send("language", { lang: next });
}

let confirmTimer = null;
function newSession() {
  const button = $("new-session");
  if (!button.classList.contains("confirm")) {
    button.classList.add("confirm");
    button.textContent = "Click again to confirm";
    clearTimeout(confirmTimer);
    confirmTimer = setTimeout(resetNewSession, 4000);
    return;
  }
  resetNewSession();
  control.send("new_session", { title: $("session-title").value.trim() });
}
function resetNewSession() {
  const button = $("new-session");
  button.classList.remove("confirm");
  button.textContent = "New session";
}

const WORDS = {
  pause: "Captions paused", resume: "Captions resumed", clear: "Screens cleared",
  message: "Message shown", language: "Language set", input: "Input switched",
  new_session: "New session started", speaker: "Speaker set", item: "Programme item set",
};

const control = new Control({
  onConn(conn) {
    document.documentElement.dataset.conn = conn;
    const text = { connecting: "Connecting…", live: "Connected", reconnecting: "Reconnecting…", unauthorized: "Not signed in" }[conn];
    chip($("chip-conn"), text, conn === "live" ? "good" : conn === "unauthorized" ? "bad" : "warn");
    setEnabled(conn === "live");
  },
  onWelcome(msg) {
    welcome = msg;
    $("login").hidden = true;
    if (!holdEdited) $("hold").value = msg.holding_message || "";
    for (const b of $("lang").querySelectorAll("[data-lang]")) b.hidden = !msg.languages.includes(b.dataset.lang);
    if (msg.info && msg.info.title) document.title = `${msg.info.title} · Operator`;
    $("chip-demo").hidden = !(msg.info && msg.info.demo);
    setEnabled(true);
  },
  onState(msg) {
    state = msg;
    lastStateAt = Date.now();
    render(msg);
  },
  onReply(msg, cmd) {
    if (msg.type === "error") { toast(msg.error, "error"); return; }
    if (msg.cmd === "new_session" && msg.session) {
      toast(`New session: ${msg.session.name || ""}`);
      $("session-title").value = "";
      return;
    }
    if (msg.cmd === "message") $("msg").value = "";
    toast(WORDS[msg.cmd] || msg.cmd);
  },
  onUnauthorized() {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("That token was not accepted.");
  },
});
window.operatorControl = control;
const speaking = new ProgrammePanel($("speaking"), (cmd, args) => control.send(cmd, args));

function showLogin(error) {
  $("login").hidden = false;
  const err = $("login-error");
  err.hidden = !error;
  err.textContent = error || "";
  $("token-input").value = "";
  $("token-input").focus();
}

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const token = $("token-input").value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("login").hidden = true;
  control.start(token);
});

$("pause").addEventListener("click", togglePause);
$("clear").addEventListener("click", () => control.send("clear"));
$("new-session").addEventListener("click", newSession);
$("hold").addEventListener("input", () => { holdEdited = true; });
$("hold").addEventListener("keydown", (ev) => {
  // Enter while paused puts the new holding message on the screens.
  if (ev.key === "Enter" && state && state.paused) control.send("pause", { message: $("hold").value.trim() });
});
for (const b of $("lang").querySelectorAll("[data-lang]")) {
  b.addEventListener("click", () => control.send("language", { lang: b.dataset.lang }));
}
$("msg-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("msg").value.trim();
  if (!text) { $("msg").focus(); return; }
  control.send("message", { text, duration_s: Number($("msg-duration").value) });
});

document.addEventListener("keydown", (ev) => {
  const target = ev.target;
  const typing = target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  if (typing) {
    if (ev.key === "Escape") target.blur();
    return;
  }
  if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat || !$("login").hidden) return;
  switch (ev.key.toLowerCase()) {
    case "p": ev.preventDefault(); togglePause(); break;
    case "c": ev.preventDefault(); control.send("clear"); break;
    case "l": ev.preventDefault(); cycleLanguage(); break;
    case "m": ev.preventDefault(); $("msg").focus(); break;
    default: if (speaking.key(ev.key)) ev.preventDefault(); break;
  }
});

setInterval(() => {
  $("clock").textContent = new Date().toLocaleTimeString([], { hour12: false });
  // A console that stops getting state must not look live.
  const stale = control.ready && state && Date.now() - lastStateAt > 3000;
  document.documentElement.classList.toggle("stale", !!stale);
}, 500);

const token = takeTokenFromUrl();
if (token) control.start(token);
else showLogin("");
