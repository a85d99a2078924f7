// Roll-up lines for the projection screen and the overlay: the last N lines of a track,
// bottom-aligned, broken by the line rules of lines.js, moving up one line at a time.
// Caption text is only ever assigned with textContent, never parsed as HTML.

import { charLength, maxCharsFor, readingTimeS, rollingLines, words, DEFAULT_LAYOUT } from "./lines.js";
import { Paragraphs, sourceLabel } from "./paragraphs.js";

export const SCROLL_MS = 320;
const LINE_HEIGHT = 1.32;
const SAMPLES = {
  en: "Water resources in the region are shrinking, so we need shared solutions ",
  ru: "Водные ресурсы региона сокращаются, поэтому нам нужны общие решения ",
};

/**
 * Which lines a roll-up window of `size` lines shows, and when it may move. Pure: the
 * caller passes the time.
 *
 * Line indices are absolute (they only grow while the track is not cleared); `top` is
 * the first visible one and starts at -size, so that the first line appears at the
 * bottom. `top` never goes back: a partial that shrinks leaves a blank line at the
 * bottom instead of moving the text down. It moves one line per step, at most one step
 * per `scrollMs`, and only once the line that would scroll off has been visible for its
 * reading time (readingTimeS), so that a burst is not pushed off before anyone read it.
 * When more than `maxBacklog` lines wait (the speaker's pace leaves no time), it jumps.
 */
export class RollWindow {
  constructor(size, options = {}) {
    this.size = size;
    this.scrollMs = options.scrollMs ?? SCROLL_MS;
    this.maxBacklog = options.maxBacklog ?? Math.max(2, size);
    this.layout = options.layout ?? DEFAULT_LAYOUT;
    this.top = -size;
    this.shownAt = new Map();  // line index -> when it became visible (ms)
    this.lastMoveAt = -Infinity;
  }

  /** Lines that wait below the window. */
  pending(total) { return Math.max(0, total - this.size - this.top); }

  /**
   * Moves the window towards the newest line if it may.
   *
   * @param {number} total lines there are
   * @param {(i: number) => string} textAt the text of line i
   * @param {number} now milliseconds
   * @param {boolean} jump show the newest lines at once (catching up on connect)
   * @returns {{moved: number, waitMs: number|null}} lines moved by (more than 1: a
   *   jump), and when to call again (null: nothing waits)
   */
  advance(total, textAt, now, jump = false) {
    const target = total - this.size;
    let moved = 0;
    if (target > this.top && (jump || target - this.top > this.maxBacklog)) {
      moved = target - this.top;
      this.top = target;
      this.lastMoveAt = now;
    } else if (target > this.top) {
      let wait = this.lastMoveAt + this.scrollMs - now;
      const leaving = this.top;
      if (this.shownAt.has(leaving)) {
        const read = readingTimeS(textAt(leaving), this.layout) * 1000;
        wait = Math.max(wait, this.shownAt.get(leaving) + read - now);
      }
      if (wait > 0) {
        this._mark(total, now);
        return { moved: 0, waitMs: wait };
      }
      this.top += 1;
      this.lastMoveAt = now;
      moved = 1;
    }
    this._mark(total, now);
    return { moved, waitMs: this.pending(total) > 0 ? this.scrollMs : null };
  }

  _mark(total, now) {
    for (let i = Math.max(0, this.top); i < Math.min(total, this.top + this.size); i += 1) {
      if (!this.shownAt.has(i)) this.shownAt.set(i, now);
    }
    for (const i of this.shownAt.keys()) if (i < this.top - 1) this.shownAt.delete(i);
  }
}

/** The lines of one paragraph: {text, committed, partial} where text = committed + " " + partial. */
export function paragraphLines(texts, partialText, width) {
  const all = partialText ? [...texts, partialText] : texts;
  const lines = rollingLines(all, width, Infinity);
  // How many line pieces are committed (rollingLines cuts over-long words into pieces).
  let committed = 0;
  for (const t of texts) for (const w of words(t)) committed += Math.ceil(charLength(w) / width);
  return lines.map((line) => {
    const pieces = line.split(" ");
    const take = Math.min(committed, pieces.length);
    committed -= take;
    return { text: line, committed: pieces.slice(0, take).join(" "), partial: pieces.slice(take).join(" ") };
  });
}

/**
 * One language track as roll-up lines in `host` (an element that gets the clip box).
 *
 * options: lang, lines (N visible), labels (a label line where a paragraph of another
 * source starts), speakers (a line with the speaker's name where the speaker changes),
 * labelLang, partials, maxFontPx() (the largest font size wanted),
 * fitHeight (also fit N lines into the host's height), fixedWidth (the box is as wide
 * as a full line, not as the text: the overlay), onChange(pane).
 */
export class RollUp {
  constructor(host, options = {}) {
    this.host = host;
    this.lang = options.lang ?? "en";
    this.size = options.lines ?? 8;
    this.labels = options.labels ?? true;
    this.speakers = options.speakers ?? true;
    this.labelLang = options.labelLang ?? this.lang;
    this.maxFontPx = options.maxFontPx ?? (() => 40);
    this.fitHeight = options.fitHeight ?? false;
    this.fixedWidth = options.fixedWidth ?? false;
    this.availableWidth = options.availableWidth ?? (() => this.host.clientWidth);
    this.onChange = options.onChange ?? null;
    // Called with the pane when its fitted font size (fitPx) changes; it must call
    // applyFont() (the screen gives both columns the smaller of their sizes).
    this.onFit = options.onFit ?? ((pane) => pane.applyFont(pane.fitPx));
    this.layout = DEFAULT_LAYOUT;
    this.model = new Paragraphs({ partials: options.partials ?? true, maxCommitted: 300 });
    this.window = new RollWindow(this.size, { layout: this.layout });
    this.base = 0;                 // lines of paragraphs dropped from the model
    this.cache = new Map();        // paragraph n -> {count, lines} of settled paragraphs
    this.lines = [];
    this.catchingUp = false;
    this.timer = null;
    this.fontPx = 0;
    this.fitPx = 0;
    this.probeW = 1;

    this.clip = document.createElement("div");
    this.clip.className = "roll-clip";
    this.roll = document.createElement("div");
    this.roll.className = "roll";
    this.slots = [];
    for (let i = 0; i <= this.size; i += 1) {
      const slot = document.createElement("div");
      slot.className = "line empty";
      slot.sig = "";
      this.slots.push(slot);
    }
    this.slots[0].classList.add("leaving");
    this.slots[0].setAttribute("aria-hidden", "true");
    this.roll.append(...this.slots);
    this.clip.append(this.roll);
    host.append(this.clip);
    this.clip.dataset.lines = String(this.size);
    this.fit();
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(() => this.fit()).observe(this.fitHeight ? host : document.documentElement);
    }
  }

  get isEmpty() { return this.model.isEmpty; }
  get lastSource() { return this.model.lastSource; }
  get latestSpeaker() { return this.model.latestSpeaker; }
  get maxChars() { return maxCharsFor(this.lang, this.layout); }

  /** Takes the layout a hello announced; lines are broken again if it changed. */
  setLayout(layout) {
    if (JSON.stringify(layout) === JSON.stringify(this.layout)) return;
    this.layout = layout;
    this.window.layout = layout;
    this.cache.clear();
    this.fit();
    this._update(true);
  }

  /** Until endCatchUp(), new lines are shown at once: history replayed on connect. */
  startCatchUp() { this.catchingUp = true; }
  endCatchUp() {
    if (!this.catchingUp) return;
    this.catchingUp = false;
    this._update(true);
  }

  commit(msg) {
    const { dropped } = this.model.commit(msg);
    for (const para of dropped) {
      this.base += this._paraLines(para, null).length;
      this.cache.delete(para.n);
    }
    this._update(this.catchingUp);
  }

  partial(msg) {
    if (this.model.partial(msg)) this._update(this.catchingUp);
  }

  clear() {
    this.model.clear();
    this.cache.clear();
    this.base = 0;
    this.window = new RollWindow(this.size, { layout: this.layout });
    this._update(true);
  }

  _paraLines(para, partialText) {
    const width = this.maxChars;
    const label = this.labels && para.labelled ? sourceLabel(para.source, this.labelLang) : "";
    const lines = paragraphLines(para.texts, partialText, width);
    for (const line of lines) { line.source = para.source; line.para = para.n; }
    if (label) lines.unshift({ label, source: para.source, para: para.n, text: "" });
    if (this.speakers && para.headed) {
      lines.unshift({ speaker: para.speaker.name, source: para.source, para: para.n, text: "" });
    }
    return lines;
  }

  /** Every line after `base`, settled paragraphs from the cache. */
  _allLines() {
    const out = [];
    const paras = this.model.paras;
    const last = this.model.last;
    const attached = [...this.model.partials.values()].find((p) => this.model.attached(p));
    for (const para of paras) {
      let lines;
      if (para === last) {
        lines = this._paraLines(para, attached ? attached.text : null);
      } else {
        const cached = this.cache.get(para.n);
        if (cached && cached.count === para.texts.length) {
          lines = cached.lines;
        } else {
          lines = this._paraLines(para, null);
          this.cache.set(para.n, { count: para.texts.length, lines });
        }
      }
      for (const line of lines) out.push(line);
    }
    for (const partial of this.model.partials.values()) {
      if (partial === attached) continue;
      if (this.speakers && this.model.partialHeaded(partial)) {
        out.push({ speaker: partial.speaker.name, source: partial.source, text: "" });
      }
      const label = this.labels && this.model.partialLabelled(partial)
        ? sourceLabel(partial.source, this.labelLang) : "";
      if (label) out.push({ label, source: partial.source, text: "" });
      for (const line of paragraphLines([], partial.text, this.maxChars)) {
        line.source = partial.source;
        out.push(line);
      }
    }
    return out;
  }

  _update(jump = false) {
    this.lines = this._allLines();
    this._advance(jump);
  }

  _advance(jump = false) {
    clearTimeout(this.timer);
    this.timer = null;
    const total = this.base + this.lines.length;
    const textAt = (i) => this.lines[i - this.base]?.text ?? "";
    const { moved, waitMs } = this.window.advance(total, textAt, performance.now(), jump);
    this._draw(moved);
    if (waitMs !== null) this.timer = setTimeout(() => this._advance(this.catchingUp), waitMs);
    this.clip.dataset.pending = String(this.window.pending(total));
    this.onChange?.(this);
  }

  _draw(moved) {
    const top = this.window.top;
    const total = this.base + this.lines.length;
    for (let s = 0; s < this.slots.length; s += 1) {
      const i = top - 1 + s;
      const line = i >= this.base && i < total ? this.lines[i - this.base] : null;
      this._fill(this.slots[s], line, i >= total - 2);
    }
    const roll = this.roll;
    if (moved === 1 && !matchMedia("(prefers-reduced-motion: reduce)").matches) {
      // FLIP: show the old position (the leaving line still in view), then glide up.
      // Any other update leaves a glide in progress alone.
      roll.style.transition = "none";
      roll.style.transform = "translateY(0)";
      void roll.offsetHeight;
      roll.style.transition = `transform ${SCROLL_MS - 40}ms ease-out`;
      roll.style.transform = `translateY(${-this.fontPx * LINE_HEIGHT}px)`;
    } else if (moved) {
      roll.style.transition = "none";
      roll.style.transform = `translateY(${-this.fontPx * LINE_HEIGHT}px)`;
    }
    this._checkOverflow();
  }

  _fill(slot, line, recent) {
    const sig = line ? `${line.label ?? ""}\u0000${line.speaker ?? ""}\u0000${line.committed ?? ""}\u0000${line.partial ?? ""}\u0000${line.source}` : "";
    slot.classList.toggle("recent", !!line && recent);
    if (sig === slot.sig) return;
    slot.sig = sig;
    slot.replaceChildren();
    slot.className = slot === this.slots[0] ? "line leaving" : "line";
    if (!line) { slot.classList.add("empty"); return; }
    if (recent) slot.classList.add("recent");
    slot.classList.add(`src-${line.source}`);
    slot.dataset.source = line.source;
    if (line.speaker) {
      // The name only (the projection screen has no room for roles), as text.
      slot.classList.add("label", "speaker");
      const name = document.createElement("span");
      name.className = "speaker-name";
      name.textContent = line.speaker;
      slot.append(name);
      return;
    }
    if (line.label) {
      slot.classList.add("label");
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = line.label;
      slot.append(tag);
      return;
    }
    for (const kind of ["committed", "partial"]) {
      const text = line[kind];
      if (!text) continue;
      if (slot.childElementCount) slot.append(document.createTextNode(" "));
      const cap = document.createElement("span");
      cap.className = `cap ${kind === "committed" ? "final" : "partial"}`;
      const t = document.createElement("span");
      t.className = "text";
      t.textContent = text;
      cap.append(t);
      slot.append(cap);
    }
  }

  /** Sizes the font so that a full line fits the width (and N lines the height). */
  fit() {
    const probe = document.createElement("span");
    probe.className = "roll-probe";
    const sample = SAMPLES[this.lang === "ru" ? "ru" : "en"];
    probe.textContent = Array.from(sample.repeat(Math.ceil(this.maxChars / sample.length) + 1))
      .slice(0, this.maxChars).join("");
    probe.style.fontSize = "100px";
    this.clip.append(probe);
    const probeW = probe.getBoundingClientRect().width || 1;
    probe.remove();
    this.availW = Math.max(50, this.availableWidth());
    // Somewhat below the sample's width: real lines can hold wider letters.
    let px = Math.min(this.maxFontPx(), (100 * this.availW / probeW) * 0.94);
    if (this.fitHeight && this.host.clientHeight > 0) {
      px = Math.min(px, this.host.clientHeight / ((this.size + 0.3) * LINE_HEIGHT));
    }
    this.fitPx = Math.max(8, px);
    this.probeW = probeW;
    this.onFit(this);
  }

  /** Uses a font size of at most fitPx (see fit()). */
  applyFont(px) {
    // A box as wide as a full line (the overlay) does not change width with the text.
    this._setFont(px, this.fixedWidth
      ? Math.min(this.availW, Math.ceil((this.probeW * px) / 100 / 0.94)) : null);
  }

  _setFont(px, widthPx) {
    this.fontPx = px;
    this.clip.style.setProperty("--roll-font", `${px}px`);
    this.clip.style.setProperty("--roll-lh", `${px * LINE_HEIGHT}px`);
    this.clip.style.height = `${px * LINE_HEIGHT * this.size}px`;
    if (widthPx !== null) this.clip.style.width = `${widthPx}px`;
    this.roll.style.transition = "none";
    this.roll.style.transform = `translateY(${-px * LINE_HEIGHT}px)`;
  }

  /** A line wider than the box (wide letters) widens the box or shrinks the font; never wraps. */
  _checkOverflow() {
    let ratio = 1;
    for (const slot of this.slots) {
      if (!slot.sig || slot.classList.contains("label")) continue;
      if (slot.scrollWidth > slot.clientWidth + 1) ratio = Math.min(ratio, slot.clientWidth / slot.scrollWidth);
    }
    if (ratio >= 1) return;
    if (this.fixedWidth) {
      const wanted = Math.ceil(this.clip.clientWidth / ratio) + 2;
      if (wanted <= this.availW) { this.clip.style.width = `${wanted}px`; return; }
      this._setFont(Math.max(8, this.fontPx * ratio * 0.98), this.availW);
      return;
    }
    this._setFont(Math.max(8, this.fontPx * ratio * 0.98), null);
  }
}
