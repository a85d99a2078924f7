// Utterance paragraphs: how the views group caption messages into running text.
// Pure: no DOM, no clock. The phone (render.js) and the roll-up lines of the screen and
// the overlay (rollup.js) draw what this model holds.
//
// Committed fragments of one utterance (the same paragraph key, on one track) append
// to one paragraph; the partial tail of that utterance continues it. A paragraph starts
// at a new utterance, a change of source or of speaker, or a pause longer than
// PARAGRAPH_PAUSE_S. A paragraph whose speaker differs from the one before it on the
// track is "headed": the views open it with the speaker's name.
// Paragraphs follow the order of the committed captions: nothing is re-ordered.

import { word } from "./feed.js";

// Within one utterance the recogniser's pauses are shorter than this (its voice
// activity detection ends an utterance sooner); a longer gap in stream time means the
// text after it is a new thought, even under the same key.
export const PARAGRAPH_PAUSE_S = 3.0;
const RECENT_REVISIONS = 512;

export function sourceOf(msg) {
  return ["floor", "machine", "interpretation"].includes(msg.source) ? msg.source : "floor";
}

/** The utterance a caption belongs to: the "utterance" hint of machine captions, else its id. */
export function paragraphKey(msg) {
  return String(msg.utterance ?? msg.id ?? "");
}

/** The caption's speaker as {name, role}, or null (absent, or not a speaker). */
export function speakerOf(msg) {
  const sp = msg.speaker;
  if (!sp || typeof sp !== "object" || typeof sp.name !== "string" || !sp.name) return null;
  return { name: sp.name, role: typeof sp.role === "string" ? sp.role : "" };
}

function speakerKey(speaker) { return speaker ? `${speaker.name}\u0000${speaker.role}` : ""; }

/** The label word of a source, or "" for the floor (the speaker needs no label). */
export function sourceLabel(source, lang) {
  return source === "floor" ? "" : word(source, lang);
}

/**
 * The paragraphs of one language track.
 *
 * options: partials (keep partial captions), maxCommitted (committed fragments kept;
 * the oldest paragraphs are dropped whole beyond it), pauseS.
 */
export class Paragraphs {
  constructor(options = {}) {
    this.keepPartials = options.partials ?? true;
    this.maxCommitted = options.maxCommitted ?? Infinity;
    this.pauseS = options.pauseS ?? PARAGRAPH_PAUSE_S;
    this.paras = [];               // {n, key, source, input, labelled, speaker, headed, texts, seqs, ids, endS}
    this.partials = new Map();     // input -> {id, key, source, input, speaker, text, revision, began}
    this.partialsBegun = 0;
    this.committed = 0;            // fragments held
    this.serial = 0;
    this.revisions = new Map();    // id -> highest partial revision seen
  }

  get last() { return this.paras.length ? this.paras[this.paras.length - 1] : null; }
  get lastSource() { return this.last ? this.last.source : null; }
  get isEmpty() { return this.paras.length === 0 && this.partials.size === 0; }

  /**
   * Adds a committed caption.
   *
   * Returns {para, created, fragment, dropped}: the paragraph it went to, whether it
   * is new, the index of the fragment in it, and the paragraphs dropped from the front.
   */
  commit(msg) {
    const source = sourceOf(msg);
    const key = paragraphKey(msg);
    const input = String(msg.input ?? "floor");
    const speaker = speakerOf(msg);
    const who = speakerKey(speaker);
    const startS = typeof msg.start_s === "number" ? msg.start_s : null;
    let para = this.last;
    const paused = para && startS !== null && para.endS !== null && startS - para.endS > this.pauseS;
    let created = false;
    if (!para || para.key !== key || para.source !== source || para.who !== who || paused) {
      const prev = para;
      this.serial += 1;
      para = {
        n: this.serial, key, source, input, texts: [], seqs: [], ids: [], endS: null,
        labelled: source !== "floor" && (!prev || prev.source !== source),
        speaker, who, headed: !!speaker && (!prev || prev.who !== who),
      };
      this.paras.push(para);
      created = true;
    }
    para.texts.push(msg.text);
    para.seqs.push(msg.seq);
    para.ids.push(String(msg.id ?? ""));
    if (typeof msg.end_s === "number") para.endS = Math.max(para.endS ?? msg.end_s, msg.end_s);
    this.committed += 1;
    const partial = this.partials.get(input);
    if (partial && partial.id === String(msg.id ?? "")) this.partials.delete(input);
    return { para, created, fragment: para.texts.length - 1, dropped: this._trim() };
  }

  /** Shows or replaces the partial of msg.input (empty text withdraws it); true if changed. */
  partial(msg) {
    if (!this.keepPartials) return false;
    const input = String(msg.input ?? "floor");
    const id = String(msg.id ?? "");
    const revision = Number(msg.revision ?? 0);
    const current = this.partials.get(input);
    if (!msg.text) {
      if (!current) return false;
      this.partials.delete(input);
      return true;
    }
    const seen = this.revisions.get(id);
    // An older revision arriving late; or the revision already committed or withdrawn.
    if (seen !== undefined && (revision < seen || (revision === seen && current?.id !== id))) return false;
    this._remember(id, revision);
    const speaker = speakerOf(msg);
    this.partials.set(input, {
      id, key: paragraphKey(msg), source: sourceOf(msg), input, text: msg.text, revision,
      speaker, who: speakerKey(speaker),
      // When this utterance's partials began, among all the track's (see latestSpeaker).
      began: current?.id === id ? current.began : ++this.partialsBegun,
    });
    return true;
  }

  /** Whether a partial continues the last committed paragraph (else it stands alone). */
  attached(partial) {
    const last = this.last;
    return !!last && last.key === partial.key && last.source === partial.source
      && last.who === partial.who;
  }

  /** Whether a partial that stands alone opens with its speaker's name (a change). */
  partialHeaded(partial) {
    return !!partial.speaker && (this.last?.who ?? "") !== partial.who;
  }

  /** Who speaks in the newest text of the track: the speaker of the partial that began
   * last, else the last paragraph's. (The map keeps each input where it was first
   * added, so its order is not the order the partials began in.) */
  get latestSpeaker() {
    let newest = null;
    for (const partial of this.partials.values()) {
      if (!newest || partial.began > newest.began) newest = partial;
    }
    newest = newest ?? this.last;
    return newest ? newest.speaker : null;
  }

  /** Whether a partial that stands alone starts with a label. */
  partialLabelled(partial) {
    const prev = this.lastSource;
    return partial.source !== "floor" && prev !== partial.source;
  }

  clear() {
    this.paras = [];
    this.partials.clear();
    this.committed = 0;
  }

  _remember(id, revision) {
    this.revisions.delete(id);
    this.revisions.set(id, revision);
    if (this.revisions.size > RECENT_REVISIONS) {
      this.revisions.delete(this.revisions.keys().next().value);
    }
  }

  _trim() {
    const dropped = [];
    // Whole paragraphs go, oldest first, and never the one being written.
    while (this.committed > this.maxCommitted && this.paras.length > 1) {
      const first = this.paras.shift();
      this.committed -= first.texts.length;
      dropped.push(first);
    }
    return dropped;
  }
}
