// Lower third for OBS / vMix browser sources, on a transparent page.
// URL parameters:
//   lang=both|ru|en   tracks shown (both: one box per language, Russian first; order=en,ru to swap)
//   lines=N           roll-up lines per box (1-6, default 2), broken by the line rules
//                     (lines.js) and never longer than the configured line length
//   size=px           font size (default 40)
//   position=bottom|top, align=center|left, width=% of the frame (default 84), margin=px from the edge
//   color=ffffff      text colour; bg=000000c8 background of the text box (hex without '#', or CSS)
//   font=Name         font family;  weight=400-800
//   partials=1|0      show text still being recognised (italic, dimmer)
//   labels=1|0        label machine translation / interpretation
//   indicator=1|0     the small "reconnecting" dot
//   speakers=1|0      the speaker's name above the lines for a few seconds after a change

import { CaptionFeed, StatusBoard, params, word } from "./feed.js";
import { layoutFrom } from "./lines.js";
import { RollUp } from "./rollup.js";

const p = params();
const root = document.documentElement;
const style = root.style;
const choice = p.str("lang", "both", ["both", "ru", "en"]);
let langs = choice === "both" ? ["ru", "en"] : [choice];
if (choice === "both" && (p.raw("order") || "").toLowerCase().startsWith("en")) langs = ["en", "ru"];

const lines = p.int("lines", 2, 1, 6);
style.setProperty("--lines", String(lines));
const size = p.int("size", 40, 10, 200);
style.setProperty("--size", `${size}px`);
style.setProperty("--width", `${p.int("width", 84, 20, 100)}%`);
style.setProperty("--margin", `${p.int("margin", 48, 0, 1000)}px`);
style.setProperty("--weight", String(p.int("weight", 600, 100, 900)));
const fg = p.color("color"); if (fg) style.setProperty("--fg", fg);
const bg = p.color("bg"); if (bg) style.setProperty("--box", bg);
const font = p.raw("font"); if (font && /^[\w \-]{1,60}$/.test(font)) style.setProperty("--font", `"${font}", ${getComputedStyle(root).getPropertyValue("--font")}`);
root.dataset.position = p.str("position", "bottom", ["bottom", "top"]);
root.dataset.align = p.str("align", "center", ["center", "left"]);
root.dataset.indicator = p.bool("indicator", true) ? "on" : "off";
const labels = p.bool("labels", true);
const speakers = p.bool("speakers", true);
const SPEAKER_TAG_MS = 6000;

const stack = document.getElementById("stack");
const boxes = new Map();
for (const lang of langs) {
  const box = document.createElement("div");
  box.className = "box empty";
  box.dataset.lang = lang;
  box.lang = lang;
  const label = document.createElement("div");
  label.className = "label";
  label.hidden = true;
  const win = document.createElement("div");
  win.className = "window";
  const hold = document.createElement("div");
  hold.className = "hold";
  hold.hidden = true;
  const dot = document.createElement("span");
  dot.className = "conn-dot";
  const tag = document.createElement("div");
  tag.className = "speaker-tag";
  tag.hidden = true;
  box.append(label, tag, win, hold, dot);
  const who = { key: "", timer: null };
  stack.append(box);
  const pane = new RollUp(win, {
    lang, lines, labels: false, speakers: false, labelLang: lang, maxFontPx: () => size,
    fixedWidth: true,
    partials: p.bool("partials", true),
    // The box's padding is outside the lines.
    availableWidth: () => stack.clientWidth - 1.1 * size,
    onChange: (pn) => {
      const src = pn.lastSource;
      label.hidden = !labels || !src || src === "floor";
      if (!label.hidden) { label.textContent = word(src, lang); label.dataset.source = src; }
      const sp = pn.latestSpeaker;
      const key = sp ? `${sp.name}\u0000${sp.role}` : "";
      if (speakers && key !== who.key) {
        // A change of speaker: the name, for a few seconds.
        who.key = key;
        clearTimeout(who.timer);
        tag.textContent = sp ? sp.name : "";
        tag.hidden = !sp;
        if (sp) who.timer = setTimeout(() => { tag.hidden = true; }, SPEAKER_TAG_MS);
      }
      render();
    },
  });
  boxes.set(lang, { box, pane, hold });
}

const board = new StatusBoard();

function render() {
  for (const [lang, { box, pane, hold }] of boxes) {
    // Paused: hide captions; show the operator's holding message if there is one.
    const holdText = board.paused ? board.paused.message : "";
    hold.hidden = !holdText;
    hold.textContent = holdText;
    box.classList.toggle("paused", !!board.paused);
    box.classList.toggle("empty", board.paused ? !holdText : pane.isEmpty);
  }
}

// History replayed on connect is shown at once, not rolled through line by line.
let catchUpTo = null;
function endCatchUp() {
  catchUpTo = null;
  for (const { pane } of boxes.values()) pane.endCatchUp();
}

const feed = new CaptionFeed({
  onHello(msg) {
    const layout = layoutFrom(msg);
    for (const { pane } of boxes.values()) { pane.setLayout(layout); pane.startCatchUp(); }
    catchUpTo = typeof msg.last_seq === "number" && (msg.since ?? 0) < msg.last_seq ? msg.last_seq : null;
    if (catchUpTo === null) endCatchUp();
  },
  onCaption(msg) {
    const entry = boxes.get(msg.lang);
    if (entry) { if (msg.final) entry.pane.commit(msg); else entry.pane.partial(msg); }
    if (catchUpTo !== null && (!msg.final || msg.seq >= catchUpTo)) endCatchUp();
  },
  onStatus(msg) {
    if (msg.state === "clear") { for (const { pane } of boxes.values()) pane.clear(); return; }
    if (board.apply(msg)) render();
  },
});
window.captionFeed = feed;
feed.start();
