// The phone view: one language at a time, one flowing paragraph per utterance, the
// session to scroll back through. Settings (language, text size, theme) are kept in
// localStorage.

import { CaptionFeed, StatusBoard, params, word } from "./feed.js";
import { ParagraphPane, connectionPill } from "./render.js";

const STORE = "captioner.phone.v1";
const MAX_COMMITTED = 1000;
const SIZES = [16, 18, 20, 23, 26, 30, 35, 40];
const root = document.documentElement;

function load() {
  try { return JSON.parse(localStorage.getItem(STORE) || "{}") || {}; } catch { return {}; }
}
function save() {
  try { localStorage.setItem(STORE, JSON.stringify(settings)); } catch { /* private mode */ }
}

const p = params();
const stored = load();
const guess = (navigator.language || "en").toLowerCase().startsWith("ru") ? "ru" : "en";
const settings = {
  lang: ["ru", "en"].includes(stored.lang) ? stored.lang : guess,
  size: Number.isInteger(stored.size) ? Math.min(SIZES.length - 1, Math.max(0, stored.size)) : 3,
  theme: ["dark", "light"].includes(stored.theme) ? stored.theme
    : (matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark"),
};
const forced = p.str("lang", "", ["ru", "en"]);
if (forced) settings.lang = forced;

const log = document.getElementById("log");
const jump = document.getElementById("jump");
const panes = new Map();
for (const el of document.querySelectorAll(".lines")) {
  const lang = el.dataset.lang;
  // Scroll-back is bounded so that a long session keeps the page light: the newest
  // MAX_COMMITTED committed captions per language (twice what the server replays to a
  // phone that connects late), the oldest paragraphs removed whole.
  panes.set(lang, new ParagraphPane(el, {
    maxCommitted: MAX_COMMITTED, labelLang: lang, onChange: changed,
    speakers: p.bool("speakers", true),
    onTrim: (px) => { if (!pinned && el === panes.get(settings.lang)?.container) log.scrollTop -= px; },
  }));
}

let pinned = true;  // follow the newest caption unless the reader scrolled back
function nearBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 48; }
log.addEventListener("scroll", () => {
  pinned = nearBottom();
  jump.hidden = pinned;
}, { passive: true });
jump.addEventListener("click", () => { pinned = true; jump.hidden = true; toBottom(); });
function toBottom() { log.scrollTop = log.scrollHeight; }

function changed(pane) {
  if (pane === panes.get(settings.lang)) {
    if (pinned) toBottom();
    renderEmpty();
  }
}

function renderEmpty() {
  const note = document.getElementById("empty-note");
  note.hidden = !panes.get(settings.lang).isEmpty;
  note.textContent = word("waiting", settings.lang);
}

function apply() {
  root.dataset.theme = settings.theme;
  root.lang = settings.lang;
  root.style.setProperty("--size", `${SIZES[settings.size]}px`);
  for (const [lang, pane] of panes) pane.container.hidden = lang !== settings.lang;
  for (const b of document.querySelectorAll(".langs button")) {
    b.setAttribute("aria-checked", String(b.dataset.lang === settings.lang));
  }
  document.querySelector('meta[name="theme-color"]').content = settings.theme === "dark" ? "#0d1014" : "#f6f7f9";
  document.getElementById("jump-text").textContent = settings.lang === "ru" ? "К последним" : "Live";
  pill.lastChild.textContent = word("reconnecting", settings.lang);
  renderEmpty();
  renderStatus();
  pinned = true;
  jump.hidden = true;
  toBottom();
  save();
}

for (const b of document.querySelectorAll(".langs button")) {
  b.addEventListener("click", () => { settings.lang = b.dataset.lang; apply(); });
}
document.getElementById("smaller").addEventListener("click", () => { settings.size = Math.max(0, settings.size - 1); apply(); });
document.getElementById("bigger").addEventListener("click", () => { settings.size = Math.min(SIZES.length - 1, settings.size + 1); apply(); });
document.getElementById("theme").addEventListener("click", () => { settings.theme = settings.theme === "dark" ? "light" : "dark"; apply(); });

const board = new StatusBoard();
const notices = document.getElementById("notices");
function renderStatus() {
  const lang = settings.lang;
  const parts = [];
  if (board.paused) parts.push(board.paused.message || word("paused", lang));
  for (const key of board.noticesFor(lang)) parts.push(word(key, lang));
  notices.textContent = parts.join(" · ");
  notices.hidden = parts.length === 0;
  notices.classList.toggle("paused", !!board.paused);
}

const banner = document.getElementById("banner");
let bannerTimer = null;
function showBanner(msg) {
  clearTimeout(bannerTimer);
  const text = typeof msg.text === "string" ? msg.text : "";
  banner.textContent = text;
  banner.hidden = !text;
  const seconds = Number(msg.duration_s) > 0 ? Number(msg.duration_s) : 15;
  if (text) bannerTimer = setTimeout(() => { banner.hidden = true; }, seconds * 1000);
}

const pill = connectionPill(settings.lang);
document.body.append(pill);
apply();

const feed = new CaptionFeed({
  onCaption(msg) {
    const pane = panes.get(msg.lang);
    if (!pane) return;
    if (msg.final) pane.commit(msg); else pane.partial(msg);
  },
  onStatus(msg) {
    if (msg.state === "message") { showBanner(msg); return; }
    if (board.apply(msg)) renderStatus();
  },
});
window.captionFeed = feed;
feed.start();
