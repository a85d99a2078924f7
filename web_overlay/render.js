// Caption panes: committed captions appended, partials replaced in place, all as text.
// Caption text is only ever assigned with textContent, never parsed as HTML.

import { word } from "./feed.js";

const RECENT_IDS = 512;

/**
 * One language track drawn into a container element.
 *
 * options: element ("div" per caption, or "span" for running text), maxItems (committed
 * captions kept in the DOM), labels (a source tag where the source changes), labelLang
 * (language of the tag words), partials (draw partial captions).
 */
export class Pane {
  constructor(container, options = {}) {
    this.container = container;
    this.element = options.element ?? "div";
    this.maxItems = options.maxItems ?? 200;
    this.labels = options.labels ?? true;
    this.labelLang = options.labelLang ?? "en";
    this.showPartials = options.partials ?? true;
    this.partialsByInput = new Map();  // input -> element
    this.committedIds = new Set();
    this.finalCount = 0;
    this.lastSource = null;
    this.onChange = options.onChange ?? null;
  }

  get isEmpty() { return this.container.childElementCount === 0; }

  _make(msg, kind) {
    const el = document.createElement(this.element);
    el.className = `cap ${kind} src-${sourceOf(msg)}`;
    el.dataset.id = String(msg.id ?? "");
    el.dataset.source = sourceOf(msg);
    const text = document.createElement("span");
    text.className = "text";
    el.append(text);
    return el;
  }

  _fill(el, msg) {
    const source = sourceOf(msg);
    el.dataset.source = source;
    el.classList.remove("src-floor", "src-machine", "src-interpretation");
    el.classList.add(`src-${source}`);
    el.querySelector(".text").textContent = msg.text;
    let tag = el.querySelector(".tag");
    const prev = el.previousElementSibling;
    const wantTag = this.labels && source !== "floor" && (!prev || prev.dataset.source !== source);
    if (wantTag && !tag) {
      tag = document.createElement("span");
      tag.className = "tag";
      el.prepend(tag);
    }
    if (tag) {
      if (wantTag) tag.textContent = word(source, this.labelLang); else tag.remove();
    }
  }

  _firstPartial() {
    for (const el of this.container.children) if (el.classList.contains("partial")) return el;
    return null;
  }

  /** Appends a committed caption, turning its partial (same id) into it when present. */
  commit(msg) {
    const id = String(msg.id ?? "");
    let el = null;
    for (const [input, p] of this.partialsByInput) {
      if (p.dataset.id === id) { el = p; this.partialsByInput.delete(input); break; }
    }
    if (el) {
      el.classList.replace("partial", "final");
    } else {
      el = this._make(msg, "final");
      this.container.insertBefore(el, this._firstPartial());
    }
    el.dataset.seq = String(msg.seq);
    this._fill(el, msg);
    this._remember(id);
    this.finalCount += 1;
    this.lastSource = sourceOf(msg);
    this._trim();
    this.onChange?.(this);
  }

  /** Shows or replaces the partial caption of msg.input; empty text withdraws it. */
  partial(msg) {
    if (!this.showPartials) return;
    const id = String(msg.id ?? "");
    if (this.committedIds.has(id)) return;  // late revision of text already committed
    const input = String(msg.input ?? "floor");
    let el = this.partialsByInput.get(input);
    if (el && el.dataset.id !== id) { el.remove(); el = null; }
    if (!msg.text) {
      if (el) el.remove();
      this.partialsByInput.delete(input);
      this.onChange?.(this);
      return;
    }
    if (el && Number(el.dataset.revision) > Number(msg.revision ?? 0)) return;
    if (!el) {
      el = this._make(msg, "partial");
      this.container.append(el);
      this.partialsByInput.set(input, el);
    }
    el.dataset.revision = String(msg.revision ?? 0);
    this._fill(el, msg);
    this.onChange?.(this);
  }

  /** Removes everything shown. */
  clear() {
    this.container.replaceChildren();
    this.partialsByInput.clear();
    this.finalCount = 0;
    this.onChange?.(this);
  }

  _remember(id) {
    this.committedIds.add(id);
    if (this.committedIds.size > RECENT_IDS) {
      this.committedIds.delete(this.committedIds.values().next().value);
    }
  }

  _trim() {
    while (this.finalCount > this.maxItems) {
      const first = this.container.querySelector(".final");
      if (!first) break;
      first.remove();
      this.finalCount -= 1;
    }
  }
}

export function sourceOf(msg) {
  return ["floor", "machine", "interpretation"].includes(msg.source) ? msg.source : "floor";
}

/** Sets the text of the small "reconnecting" pill in a view. */
export function connectionPill(lang) {
  const pill = document.createElement("div");
  pill.className = "conn-pill";
  pill.setAttribute("role", "status");
  const dot = document.createElement("span");
  dot.className = "dot";
  const label = document.createElement("span");
  label.textContent = word("reconnecting", lang);
  pill.append(dot, label);
  return pill;
}
