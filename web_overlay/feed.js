// The caption feed: one websocket, next to the page, that reconnects by itself and never
// repeats a committed caption. Shared by every view. See docs/protocol.md.

export const PROTOCOL = 1;

/**
 * The feed's websocket URL: "ws" in the page's own folder, so /ws for a view at the root
 * (/, /screen) and /r/ROOM/ws for a room's view on a serving edge (/r/ROOM/, /r/ROOM/screen).
 */
export function feedUrl(loc = location) {
  const url = new URL("ws", loc.href);
  url.protocol = loc.protocol === "https:" ? "wss:" : "ws:";
  url.search = "";
  url.hash = "";
  return url.href;
}

/** Reads URL parameters with defaults and light validation. */
export function params() {
  const q = new URLSearchParams(location.search);
  return {
    str(name, fallback, allowed) {
      const v = (q.get(name) || "").trim().toLowerCase();
      if (!v) return fallback;
      return !allowed || allowed.includes(v) ? v : fallback;
    },
    int(name, fallback, min, max) {
      const v = parseInt(q.get(name) || "", 10);
      return Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : fallback;
    },
    bool(name, fallback) {
      const v = (q.get(name) || "").toLowerCase();
      if (["1", "true", "yes", "on"].includes(v)) return true;
      if (["0", "false", "no", "off"].includes(v)) return false;
      return fallback;
    },
    /** A CSS colour; bare hex ("ffcc00") gets its "#" since "#" cannot travel in a URL. */
    color(name) {
      const v = (q.get(name) || "").trim();
      if (!v) return null;
      const css = /^[0-9a-f]{3,8}$/i.test(v) ? "#" + v : v;
      return CSS.supports("color", css) ? css : null;
    },
    raw(name) { return q.get(name); },
  };
}

/**
 * Connects to the caption feed and keeps connected.
 *
 * Callbacks: onHello(msg, newSession), onCaption(msg), onStatus(msg), onState(state) where
 * state is "connecting" | "live" | "reconnecting".
 */
export class CaptionFeed {
  constructor(handlers = {}, options = {}) {
    this.handlers = handlers;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 15000;
    this.url = options.url ?? feedUrl();
    this.lastSeq = null;
    this.session = null;
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
    this.state = "connecting";
  }

  start() {
    this._connect();
    // Come back at once when the device wakes up or the network returns.
    const poke = () => { if (!this.ws && this.timer) { clearTimeout(this.timer); this._connect(); } };
    window.addEventListener("online", poke);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) poke(); });
    return this;
  }

  _setState(state) {
    if (state === this.state) return;
    this.state = state;
    document.documentElement.dataset.conn = state;
    this.handlers.onState?.(state);
  }

  _connect() {
    this.timer = null;
    let url = this.url;
    if (this.lastSeq !== null) {
      url += `?since=${this.lastSeq}` + (this.session ? `&session=${encodeURIComponent(this.session)}` : "");
    }
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      this._retry();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => this._receive(ev.data);
    ws.onclose = () => {
      if (this.ws === ws) { this.ws = null; this._retry(); }
    };
    ws.onerror = () => { /* onclose follows and schedules the retry */ };
  }

  _retry() {
    this._setState("reconnecting");
    // Exponential backoff with jitter, so a room full of phones does not reconnect in step.
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(this.attempt, 10));
    const delay = ceiling / 2 + Math.random() * ceiling / 2;
    this.attempt += 1;
    this.timer = setTimeout(() => this._connect(), delay);
  }

  _receive(data) {
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    if (!msg || typeof msg !== "object") return;
    switch (msg.type) {
      case "hello": {
        const newSession = this.session !== null && msg.session !== this.session;
        if (newSession) this.lastSeq = null;  // numbering restarts; keep what is on screen
        this.session = msg.session ?? null;
        this.attempt = 0;
        this._setState("live");
        this.handlers.onHello?.(msg, newSession);
        break;
      }
      case "caption": {
        if (typeof msg.text !== "string" || typeof msg.lang !== "string") return;
        if (msg.final) {
          if (typeof msg.seq !== "number") return;
          if (this.lastSeq !== null && msg.seq <= this.lastSeq) return;  // already shown
          this.lastSeq = msg.seq;
        }
        this.handlers.onCaption?.(msg);
        break;
      }
      case "status":
        if (typeof msg.state === "string") this.handlers.onStatus?.(msg);
        break;
      default:
        break;  // unknown types are for newer views; ignore them
    }
  }
}

const WORDS = {
  machine: { en: "Machine translation", ru: "Машинный перевод" },
  interpretation: { en: "Interpretation", ru: "Синхронный перевод" },
  paused: { en: "Captions paused", ru: "Субтитры приостановлены" },
  reconnecting: { en: "Reconnecting…", ru: "Переподключение…" },
  translation_unavailable: { en: "Translation unavailable", ru: "Перевод недоступен" },
  input_lost: { en: "No audio signal", ru: "Нет аудиосигнала" },
  stopped: { en: "Session ended", ru: "Сессия завершена" },
  waiting: { en: "Waiting for the speaker…", ru: "Ожидание выступающего…" },
  english: { en: "English", ru: "Английский" },
  russian: { en: "Russian", ru: "Русский" },
};

/** A word of the interface in one language ("ru" or "en"). */
export function word(key, lang) {
  const entry = WORDS[key];
  if (!entry) return key;
  return entry[lang] ?? entry.en;
}

/** The language's own name, for pane headers. */
export const LANG_NAMES = { ru: "Русский", en: "English" };

/**
 * Reduces status messages to the conditions the views show.
 *
 * paused: null or {message}; trackNotices: Map lang -> state; inputLost: Set of inputs;
 * stopped: boolean.
 */
export class StatusBoard {
  constructor() {
    this.paused = null;
    this.trackNotices = new Map();
    this.inputLost = new Set();
    this.stopped = false;
  }

  /** Applies one status message; returns true when what the views show changed. */
  apply(msg) {
    const s = msg.state;
    const text = typeof msg.message === "string" ? msg.message : "";
    switch (s) {
      case "paused":
        this.paused = { message: text };
        return true;
      case "listening":
      case "resumed":
        this.paused = null;
        this.stopped = false;
        if (msg.input) this.inputLost.delete(msg.input); else this.inputLost.clear();
        return true;
      case "translation_unavailable":
        if (typeof msg.lang === "string") this.trackNotices.set(msg.lang, s);
        return true;
      case "translation_available":
        if (typeof msg.lang === "string") this.trackNotices.delete(msg.lang);
        return true;
      case "input_lost":
        this.inputLost.add(msg.input || "floor");
        return true;
      case "input_ok":  // an older name of input_restored (docs/protocol.md)
      case "input_restored":
        this.inputLost.delete(msg.input || "floor");
        return true;
      case "stopped":
        this.stopped = true;
        return true;
      default:
        return false;
    }
  }

  /** Notices to show for a track: a list of interface-word keys. */
  noticesFor(lang) {
    const out = [];
    if (this.trackNotices.has(lang)) out.push(this.trackNotices.get(lang));
    if (this.inputLost.size) out.push("input_lost");
    if (this.stopped) out.push("stopped");
    return out;
  }
}
