// The console's "Now speaking" card: the programme item on now, its speakers as buttons
// (keys 1-9), "Other / audience question" (key 0), "Nobody", who is set, and the
// schedule toggle. It reads state.programme and sends speaker and item commands; see
// docs/operator.md. Every name is set as text.

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function same(a, b) {
  return !!a && !!b && ["name", "role", "language", "input"].every((k) => (a[k] || "") === (b[k] || ""));
}

function when(item) {
  if (item.start && item.end) return `${item.start}–${item.end}`;
  return item.start || (item.end ? `until ${item.end}` : "");  // as programme.item_when
}

export class ProgrammePanel {
  /** host: the card's body; send(cmd, args): the console's command sender. */
  constructor(host, send) {
    this.host = host;
    this.send = send;
    this.sig = "";
    this.programme = null;
  }

  /** Draws state.programme (only when it changed, so focus and hover survive). */
  render(programme) {
    const sig = JSON.stringify(programme ?? null);
    if (sig === this.sig) return;
    this.sig = sig;
    this.programme = programme ?? null;
    if (!programme) { this.host.replaceChildren(); return; }
    const items = programme.items || [];
    const index = Number.isInteger(programme.item) ? programme.item : null;
    const item = index !== null ? items[index] : null;
    const parts = [];

    const head = el("div", "speaking-item");
    const prev = el("button", "btn small", "‹");
    prev.type = "button";
    prev.setAttribute("aria-label", "Previous item");
    prev.disabled = !items.length || index === 0;
    prev.addEventListener("click", () => this.send("item", { item: Math.max(0, (index ?? 1) - 1) }));
    const next = el("button", "btn small", "›");
    next.type = "button";
    next.setAttribute("aria-label", "Next item");
    next.disabled = !items.length || index === items.length - 1;
    next.addEventListener("click", () => this.send("item", { item: index === null ? 0 : index + 1 }));
    const title = el("div", "speaking-title");
    title.id = "speaking-title";
    if (item) {
      title.append(el("span", "speaking-when", when(item)), el("span", "speaking-name", item.title));
      title.title = `Item ${index + 1} of ${items.length}`;
    } else {
      title.textContent = items.length ? "No item on" : "No programme (configs: [[programme.items]], or --programme FILE.csv)";
    }
    head.append(prev, title, next);
    parts.push(head);

    const set = el("div", "speaking-set");
    set.id = "speaking-set";
    const who = programme.speaker;
    set.textContent = who ? `Set: ${who.name}${who.role ? `, ${who.role}` : ""}` : "Nobody set: no names on the screens";
    set.dataset.tone = who ? "good" : "idle";
    parts.push(set);

    const buttons = el("div", "speaker-buttons");
    buttons.id = "speakers";
    (item?.speakers || []).forEach((speaker, n) => {
      const b = el("button", "btn speaker-button");
      b.type = "button";
      b.dataset.speaker = String(n);
      b.setAttribute("aria-pressed", String(same(speaker, who)));
      if (n < 9) b.append(el("kbd", "", String(n + 1)));
      b.append(el("span", "speaker-button-name", speaker.name));
      const about = [speaker.role, speaker.language && speaker.language.toUpperCase()].filter(Boolean).join(" · ");
      if (about) b.append(el("span", "speaker-button-role", about));
      b.addEventListener("click", () => this.pick(n));
      buttons.append(b);
    });
    const other = el("button", "btn speaker-button other");
    other.type = "button";
    other.id = "speaker-other";
    other.setAttribute("aria-pressed", String(!!who && who.name === programme.other));
    other.append(el("kbd", "", "0"), el("span", "speaker-button-name", "Other / audience question"));
    other.addEventListener("click", () => this.send("speaker", { other: true }));
    const nobody = el("button", "btn speaker-button nobody", "Nobody");
    nobody.type = "button";
    nobody.id = "speaker-none";
    nobody.setAttribute("aria-pressed", String(!who));
    nobody.addEventListener("click", () => this.send("speaker", { none: true }));
    buttons.append(other, nobody);
    parts.push(buttons);

    const auto = el("label", "speaking-auto");
    const box = el("input");
    box.type = "checkbox";
    box.id = "speaking-auto";
    box.checked = !!programme.auto;
    box.disabled = !items.some((i) => i.start);
    box.addEventListener("change", () => this.send("item", { auto: box.checked }));
    auto.append(box, document.createTextNode(" Follow the schedule (the item moves on at its start time)"));
    parts.push(auto);
    this.host.replaceChildren(...parts);
  }

  /** Sets speaker n of the item on now. */
  pick(n) {
    const p = this.programme;
    const item = p && Number.isInteger(p.item) ? p.items[p.item] : null;
    if (!item || n >= item.speakers.length) return false;
    this.send("speaker", { item: p.item, speaker: n });
    return true;
  }

  /** A key of the console: 1-9 a speaker of the item, 0 "other"; true if it was ours. */
  key(key) {
    if (!this.programme) return false;
    if (key === "0") { this.send("speaker", { other: true }); return true; }
    return /^[1-9]$/.test(key) && this.pick(Number(key) - 1);
  }
}
