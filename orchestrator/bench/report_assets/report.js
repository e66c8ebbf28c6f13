// report.html: filters and a virtualised list over the results embedded as JSON.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("data").textContent);
  const names = data.names, items = data.items, results = data.results;
  const ROW = 30, SPARE = 12;
  const list = document.getElementById("list"), spacer = document.getElementById("spacer");
  const detail = document.getElementById("detail"), count = document.getElementById("count");
  const fStrategy = document.getElementById("f-strategy"), fStatus = document.getElementById("f-status");
  const fSearch = document.getElementById("f-search");
  const STATUSES = ["wrong", "abstained", "disagreement", "correct", "error"];
  let shown = results, picked = null, drawn = new Map();

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function matches(r, status) {
    return status === "all" || (status === "disagreement" ? r.d : r.st === status);
  }
  function options() {
    fStrategy.append(el("option", { value: "all" }, `all (${results.length})`));
    names.forEach((name, k) => {
      const n = results.filter((r) => r.s === k).length;
      fStrategy.append(el("option", { value: String(k) }, `${name} (${n})`));
    });
    fStatus.append(el("option", { value: "all" }, "all"));
    for (const s of STATUSES) fStatus.append(el("option", { value: s }, s));
  }
  function statusCounts(pool) {
    for (const opt of fStatus.options) {
      const n = opt.value === "all" ? pool.length : pool.filter((r) => matches(r, opt.value)).length;
      opt.textContent = `${opt.value} (${n})`;
    }
  }
  function apply() {
    const strategy = fStrategy.value, status = fStatus.value, needle = fSearch.value.trim().toLowerCase();
    let pool = strategy === "all" ? results : results.filter((r) => r.s === Number(strategy));
    if (needle) {
      pool = pool.filter((r) => {
        const it = items[r.i];
        return it.id.toLowerCase().includes(needle) || (it.q || "").toLowerCase().includes(needle);
      });
    }
    statusCounts(pool);
    shown = pool.filter((r) => matches(r, status));
    count.textContent = `${shown.length} of ${results.length} results`;
    spacer.style.height = `${shown.length * ROW}px`;
    for (const node of drawn.values()) node.remove();
    drawn = new Map();
    list.scrollTop = 0;
    draw();
  }
  function rowNode(r, k) {
    const it = items[r.i];
    const node = el("div", { class: "row", "data-k": String(k), "data-status": r.st,
                             "data-strategy": names[r.s] });
    node.style.top = `${k * ROW}px`;
    node.append(el("span", { title: it.id }, it.id), el("span", { title: names[r.s] }, names[r.s]));
    const badges = el("span");
    badges.append(el("span", { class: `badge ${r.st}` }, r.st));
    if (r.d) badges.append(el("span", { class: "badge split", title: "the answers fell into several clusters" }, "split"));
    node.append(badges, el("span", { class: "answer" }, r.a === null ? "-" : r.a),
                el("span", {}, r.c === null ? "" : r.c.toFixed(2)));
    if (r === picked) node.classList.add("picked");
    node.addEventListener("click", () => pick(r));
    return node;
  }
  function draw() {
    const first = Math.max(0, Math.floor(list.scrollTop / ROW) - SPARE);
    const last = Math.min(shown.length, Math.ceil((list.scrollTop + list.clientHeight) / ROW) + SPARE);
    for (const [k, node] of drawn) {
      if (k < first || k >= last) { node.remove(); drawn.delete(k); }
    }
    for (let k = first; k < last; k++) {
      if (!drawn.has(k)) { const node = rowNode(shown[k], k); list.append(node); drawn.set(k, node); }
    }
  }
  function section(title) { detail.append(el("h3", {}, title)); }
  function pre(text) { detail.append(el("pre", {}, text === null || text === undefined ? "-" : text)); }
  function table(header, rows, onRow) {
    const t = el("table", onRow ? { class: "others" } : {});
    const head = el("tr"); for (const h of header) head.append(el("th", {}, h)); t.append(head);
    rows.forEach((cells, k) => {
      const tr = el("tr"); for (const c of cells) tr.append(el("td", {}, c));
      if (onRow) tr.addEventListener("click", () => onRow(k));
      t.append(tr);
    });
    detail.append(t);
  }
  function pick(r) {
    picked = r;
    for (const node of drawn.values()) node.classList.toggle("picked", shown[Number(node.dataset.k)] === r);
    const it = items[r.i];
    detail.replaceChildren();
    detail.append(el("h3", { id: "detail-title" }, `${it.id} · ${names[r.s]}`));
    detail.append(el("p", { class: "hint" }, `answer type ${it.type}`));
    section("Question"); pre(it.q);
    section("Gold answer"); pre(it.gold === "" ? "(scored by tests)" : it.gold);
    section("Verdict");
    const facts = [`status ${r.st}`, r.c === null ? null : `confidence ${r.c.toFixed(3)}`,
                   `${r.n} calls`, r.usd ? `$${r.usd.toFixed(6)}` : null,
                   r.t === null ? null : `${r.t.toFixed(2)} s`, r.x ? `read as ${r.x}` : null];
    detail.append(el("p", { id: "verdict-facts" }, facts.filter(Boolean).join(" · ")));
    pre(r.a);
    if (r.err) { section("Error"); pre(r.err); }
    const notes = [...(r.notes || []), ...(r.note ? [r.note] : [])];
    if (notes.length) { section("Notes"); const ul = el("ul"); for (const n of notes) ul.append(el("li", {}, n)); detail.append(ul); }
    if (r.cl.length) {
      section(`Clusters (${r.cl.length})`);
      table(["answer", "members", "weight"], r.cl.map(([a, m, w]) => [a, (m || []).join(", "), w]));
    }
    if (r.cand.length) {
      section("Calls");
      table(["member", "role", "answer"], r.cand.map(([m, role, text, err]) => [m, role, err ? `error: ${err}` : text]));
    }
    const same = results.filter((o) => o.i === r.i);
    section("Every strategy and member on this item");
    table(["strategy", "status", "answer", "confidence"],
          same.map((o) => [names[o.s], o.st + (o.d ? " (split)" : ""), o.a === null ? "-" : o.a,
                           o.c === null ? "" : o.c.toFixed(2)]),
          (k) => pick(same[k]));
  }
  function tips() {
    const tip = document.getElementById("tip");
    document.addEventListener("mouseover", (e) => {
      const mark = e.target.closest && e.target.closest("[data-tip]");
      if (!mark) { tip.style.display = "none"; return; }
      tip.textContent = mark.getAttribute("data-tip");
      tip.style.display = "block";
    });
    document.addEventListener("mousemove", (e) => {
      tip.style.left = `${Math.min(e.clientX + 12, window.innerWidth - 370)}px`;
      tip.style.top = `${e.clientY + 14}px`;
    });
  }
  options();
  fStrategy.addEventListener("change", apply);
  fStatus.addEventListener("change", apply);
  fSearch.addEventListener("input", apply);
  list.addEventListener("scroll", () => requestAnimationFrame(draw), { passive: true });
  window.addEventListener("resize", draw);
  tips();
  apply();
  if (shown.length) pick(shown[0]);
  document.body.dataset.ready = "true";
})();
