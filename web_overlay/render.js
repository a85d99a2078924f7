// The phone's caption pane: one flowing paragraph per utterance, all as text.
// Caption text is only ever assigned with textContent, never parsed as HTML.

import { word } from "./feed.js";
import { Paragraphs, sourceLabel } from "./paragraphs.js";

export { sourceOf } from "./paragraphs.js";

/**
 * One language track drawn as paragraphs into a container element.
 *
 * Committed fragments are appended to their paragraph as spans (.cap.final), a partial
 * tail is one span (.cap.partial) replaced in place, hidden from screen readers so that
 * the container's aria-live region announces committed text only.
 *
 * options: maxCommitted (committed fragments kept in the DOM; the oldest paragraphs are
 * removed whole beyond it), labels, labelLang, partials, speakers (a paragraph at a
 * change of speaker opens with the name, and the role with roles), onChange(pane).
 */
export class ParagraphPane {
  constructor(container, options = {}) {
    this.container = container;
    this.labels = options.labels ?? true;
    this.labelLang = options.labelLang ?? "en";
    this.speakers = options.speakers ?? true;
    this.roles = options.roles ?? true;
    this.model = new Paragraphs({ partials: options.partials ?? true,
                                  maxCommitted: options.maxCommitted ?? 1000 });
    this.onChange = options.onChange ?? null;
    this.onTrim = options.onTrim ?? null;
    this.paraEls = new Map();       // paragraph n -> element
    this.partialEls = new Map();    // input -> {span, standalone paragraph element or null}
  }

  get isEmpty() { return this.model.isEmpty; }
  get lastSource() { return this.model.lastSource; }

  _paragraph(source, labelled, extraClass, speaker = null) {
    const p = document.createElement("p");
    p.className = `para src-${source}${extraClass ? " " + extraClass : ""}`;
    p.dataset.source = source;
    if (this.speakers && speaker) p.append(speakerHead(speaker, this.roles));
    const label = this.labels && labelled ? sourceLabel(source, this.labelLang) : "";
    if (label) {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = label;
      p.append(tag);
    }
    return p;
  }

  _span(kind, id, text) {
    const el = document.createElement("span");
    el.className = `cap ${kind}`;
    el.dataset.id = id;
    const t = document.createElement("span");
    t.className = "text";
    t.textContent = text;
    el.append(t);
    return el;
  }

  _removePartials() {
    for (const shown of this.partialEls.values()) {
      shown.space?.remove();
      shown.span.remove();
      shown.standalone?.remove();
    }
    this.partialEls.clear();
  }

  /** Appends a committed caption to its paragraph. */
  commit(msg) {
    const { para, created, dropped } = this.model.commit(msg);
    this._removePartials();  // drawn again below, after the text that now precedes them
    let el = this.paraEls.get(para.n);
    if (created) {
      el = this._paragraph(para.source, para.labelled, "", para.headed ? para.speaker : null);
      el.dataset.key = para.key;
      el.dataset.para = String(para.n);
      this.container.append(el);
      this.paraEls.set(para.n, el);
    }
    // The committed text is a new node (never the partial's node turned final), so that
    // screen readers announce it as an addition.
    if (el.querySelector(".cap.final")) el.append(document.createTextNode(" "));
    const span = this._span("final", String(msg.id ?? ""), msg.text);
    span.dataset.seq = String(msg.seq);
    el.append(span);
    if (dropped.length) this._drop(dropped);
    this._placePartials();
    this.onChange?.(this);
  }

  /** Shows, replaces or withdraws the partial caption of msg.input. */
  partial(msg) {
    if (!this.model.partial(msg)) return;
    this._placePartials();
    this.onChange?.(this);
  }

  /** Removes everything shown. */
  clear() {
    this.model.clear();
    this.container.replaceChildren();
    this.paraEls.clear();
    this.partialEls.clear();
    this.onChange?.(this);
  }

  _drop(paras) {
    let removed = 0;
    for (const para of paras) {
      const el = this.paraEls.get(para.n);
      if (el) { removed += el.offsetHeight; el.remove(); }
      this.paraEls.delete(para.n);
    }
    this.onTrim?.(removed);
  }

  /** Puts every partial where it belongs: the tail of its paragraph, or a paragraph of its own. */
  _placePartials() {
    for (const [input, shown] of this.partialEls) {
      const partial = this.model.partials.get(input);
      if (!partial || shown.id !== partial.id || shown.attached !== this.model.attached(partial)) {
        shown.space?.remove();
        shown.span.remove();
        shown.standalone?.remove();
        this.partialEls.delete(input);
      }
    }
    for (const [input, partial] of this.model.partials) {
      let shown = this.partialEls.get(input);
      if (!shown) {
        const span = this._span("partial", partial.id, partial.text);
        span.setAttribute("aria-hidden", "true");
        shown = { id: partial.id, span, attached: this.model.attached(partial),
                  standalone: null, space: null };
        if (shown.attached) {
          const el = this.paraEls.get(this.model.last.n);
          shown.space = document.createTextNode(" ");
          el.append(shown.space, span);
        } else {
          shown.standalone = this._paragraph(
            partial.source, this.model.partialLabelled(partial), "provisional",
            this.model.partialHeaded(partial) ? partial.speaker : null);
          shown.standalone.append(span);
          this.container.append(shown.standalone);
        }
        this.partialEls.set(input, shown);
      }
      shown.span.firstChild.textContent = partial.text;
    }
  }
}

/** The name (and role) that opens a paragraph at a change of speaker; text only. */
export function speakerHead(speaker, withRole = true) {
  const head = document.createElement("span");
  head.className = "speaker";
  const name = document.createElement("span");
  name.className = "speaker-name";
  name.textContent = speaker.name;
  head.append(name);
  if (withRole && speaker.role) {
    const role = document.createElement("span");
    role.className = "speaker-role";
    role.textContent = speaker.role;
    head.append(document.createTextNode(" "), role);
  }
  return head;
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
