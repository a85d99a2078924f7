// The projection view: both language tracks side by side (or stacked), as roll-up lines.
// URL parameters: lang=both|ru|en, layout=columns|rows, size=px (largest font; it is
// made smaller so that a full line and N lines fit), qr=1|0, theme=dark|light,
// lines=N (lines shown per language, default 8), partials=1|0, speakers=1|0 (the name
// where the speaker changes).

import { CaptionFeed, StatusBoard, params, word } from "./feed.js";
import { layoutFrom } from "./lines.js";
import { connectionPill } from "./render.js";
import { RollUp } from "./rollup.js";

const p = params();
const langs = { both: ["ru", "en"], ru: ["ru"], en: ["en"] }[p.str("lang", "both", ["both", "ru", "en"])];
const root = document.documentElement;
root.dataset.theme = p.str("theme", "dark", ["dark", "light"]);
const layout = p.str("layout", "", ["columns", "rows"]);
if (layout) root.dataset.layout = layout;
const size = p.int("size", 0, 12, 200);
const lines = p.int("lines", 8, 1, 30);
// The largest font: size=PX, else what the stylesheet's --size makes of this screen.
const maxFontPx = () => size || parseFloat(getComputedStyle(document.querySelector(".lines")).fontSize) || 40;

const panes = new Map();
// Both columns get the same font size: the smaller of what fits each.
function unifyFonts(changed) {
  const all = [...panes.values()].map((e) => e.pane);
  if (!all.includes(changed)) all.push(changed);
  const px = Math.min(...all.map((pane) => pane.fitPx || Infinity));
  for (const pane of all) pane.applyFont(px);
}
for (const section of document.querySelectorAll(".pane")) {
  const lang = section.dataset.lang;
  if (!langs.includes(lang)) { section.remove(); continue; }
  const pane = new RollUp(section.querySelector(".lines"), {
    lang, lines, labelLang: lang, maxFontPx, fitHeight: true, onFit: unifyFonts,
    partials: p.bool("partials", true), speakers: p.bool("speakers", true),
    onChange: (pn) => {
      const badge = section.querySelector(".source-badge");
      const src = pn.lastSource;
      badge.hidden = !src || src === "floor";
      if (!badge.hidden) { badge.textContent = word(src, lang); badge.dataset.source = src; }
      section.classList.toggle("empty", pn.isEmpty);
    },
  });
  section.classList.add("empty");
  panes.set(lang, { pane, section });
}
document.body.classList.toggle("single", panes.size === 1);

const board = new StatusBoard();
const holding = document.getElementById("holding");
const banner = document.getElementById("banner");
let bannerTimer = null;

function renderStatus() {
  holding.hidden = !board.paused;
  if (board.paused) {
    const text = board.paused.message || `${word("paused", "ru")}\n${word("paused", "en")}`;
    document.getElementById("holding-text").textContent = text;
  }
  document.body.classList.toggle("paused", !!board.paused);
  for (const [lang, { section }] of panes) {
    const notice = section.querySelector(".notice");
    const keys = board.noticesFor(lang);
    notice.hidden = keys.length === 0;
    notice.textContent = keys.map((k) => word(k, lang)).join(" · ");
  }
}

function showBanner(msg) {
  clearTimeout(bannerTimer);
  const text = typeof msg.text === "string" ? msg.text : "";
  banner.textContent = text;
  banner.hidden = !text;
  const seconds = Number(msg.duration_s) > 0 ? Number(msg.duration_s) : 15;
  if (text) bannerTimer = setTimeout(() => { banner.hidden = true; }, seconds * 1000);
}

document.body.append(connectionPill("en"));

if (p.bool("qr", true)) {
  const img = document.getElementById("qr-img");
  img.addEventListener("load", () => { document.getElementById("qr").hidden = false; });
  img.src = "qr.svg";  // next to the page: /qr.svg, or /r/ROOM/qr.svg on an edge
  fetch("urls.json").then((r) => r.json()).then((u) => {
    document.getElementById("qr-url").textContent = String(u.phone || "").replace(/^https?:\/\//, "").replace(/\/$/, "");
  }).catch(() => {});
}

// History replayed on connect is shown at once, not rolled through line by line.
let catchUpTo = null;
function endCatchUp() {
  catchUpTo = null;
  for (const { pane } of panes.values()) pane.endCatchUp();
}

const feed = new CaptionFeed({
  onHello(msg) {
    const layout = layoutFrom(msg);
    for (const { pane } of panes.values()) { pane.setLayout(layout); pane.startCatchUp(); }
    catchUpTo = typeof msg.last_seq === "number" && (msg.since ?? 0) < msg.last_seq ? msg.last_seq : null;
    if (catchUpTo === null) endCatchUp();
  },
  onCaption(msg) {
    const entry = panes.get(msg.lang);
    if (entry) { if (msg.final) entry.pane.commit(msg); else entry.pane.partial(msg); }
    if (catchUpTo !== null && (!msg.final || msg.seq >= catchUpTo)) endCatchUp();
  },
  onStatus(msg) {
    if (msg.state === "clear") { for (const { pane } of panes.values()) pane.clear(); return; }
    if (msg.state === "message") { showBanner(msg); return; }
    if (board.apply(msg)) renderStatus();
  },
});
window.captionFeed = feed;
feed.start();
