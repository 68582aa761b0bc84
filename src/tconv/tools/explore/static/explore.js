// tconv explorer: draws what /api/model answers. No arithmetic on the numbers happens here.
"use strict";

const PARAMS = ["input", "kernel", "values", "kernel_values", "stride", "padding", "dilation", "output_padding"];
const DEFAULTS = { input: "2,2", kernel: "3", values: "seed", kernel_values: "seed", stride: "1", padding: "0",
  dilation: "1", output_padding: "0" };
const KINDS = ["seed", "ones", "arange", "random"];
const $ = (id) => document.getElementById(id);

let model = null;      // the last good answer
let pos = 0;           // global animation position, 0..total
let timer = null;
let pending = 0;

function fmt(v) {
  if (Number.isInteger(v) && Math.abs(v) < 1e5) return String(v);
  return Math.abs(v) < 100 ? v.toFixed(2) : v.toPrecision(3);
}

// ---------------------------------------------------------------- controls <-> URL

function readControls() {
  const q = {};
  for (const p of ["input", "kernel", "stride", "padding", "dilation", "output_padding"]) q[p] = $(p).value.trim();
  for (const p of ["values", "kernel_values"]) {
    const kind = $(p + "-kind").value;
    q[p] = kind === "typed" ? $(p + "-typed").value.trim() : kind;
  }
  return q;
}

function writeControls(q) {
  for (const p of ["input", "kernel", "stride", "padding", "dilation", "output_padding"]) $(p).value = q[p];
  for (const p of ["values", "kernel_values"]) {
    const typed = !KINDS.includes(q[p]);
    $(p + "-kind").value = typed ? "typed" : q[p];
    $(p + "-typed").value = typed ? q[p] : "";
    $(p + "-typed").classList.toggle("on", typed);
  }
}

function queryString(q) {
  const u = new URLSearchParams();
  for (const p of PARAMS) u.set(p, q[p]);
  return u.toString();
}

function fromURL() {
  const u = new URLSearchParams(location.search);
  const q = Object.assign({}, DEFAULTS);
  for (const p of PARAMS) if (u.has(p)) q[p] = u.get(p);
  if (u.has("view")) $("view").value = u.get("view");
  return q;
}

// ---------------------------------------------------------------- errors

function clearErrors() {
  document.querySelectorAll(".err[id^=err-]").forEach((e) => (e.textContent = ""));
  document.querySelectorAll(".bad").forEach((e) => e.classList.remove("bad"));
}

function showError(param, message) {
  const span = $("err-" + param) || $("err-input");
  span.textContent = message;
  const ctl = $(param) || $(param + "-kind");
  if (ctl) ctl.classList.add("bad");
  if ($(param + "-typed")) $(param + "-typed").classList.add("bad");
}

// ---------------------------------------------------------------- fetching

async function update() {
  const q = readControls();
  history.replaceState(null, "", "?" + queryString(q) + "&view=" + $("view").value);
  const ticket = ++pending;
  let answer;
  try {
    const r = await fetch("/api/model?" + queryString(q));
    answer = await r.json();
  } catch (e) {
    answer = { error: "the tconv explore server does not answer (" + e + ")", param: "input" };
  }
  if (ticket !== pending) return; // a newer request is on its way
  clearErrors();
  if (answer.error) {
    showError(answer.param || "input", answer.error);
    document.body.dataset.state = "error";
    return;
  }
  const keep = model && model.query && sameShape(model, answer);
  model = answer;
  if (!keep) pos = 0;
  setupSlider();
  drawStatic();
  drawFrame();
  document.body.dataset.state = "ready";
}

function sameShape(a, b) {
  return JSON.stringify([a.scatter.steps.length, a.gather.steps.length]) ===
    JSON.stringify([b.scatter.steps.length, b.gather.steps.length]);
}

// ---------------------------------------------------------------- drawing helpers

function grid(el, rows, cols, cell, maxWidth) {
  el.innerHTML = "";
  const size = Math.max(16, Math.min(36, Math.floor((maxWidth || 420) / cols)));
  el.style.setProperty("--cell", size + "px");
  el.style.gridTemplateColumns = `repeat(${cols}, ${size}px)`;
  const cells = [];
  for (let i = 0; i < rows; i++) {
    const row = [];
    for (let j = 0; j < cols; j++) {
      const c = document.createElement("div");
      c.className = "cell";
      c.dataset.r = i; c.dataset.c = j;
      cell(c, i, j);
      el.appendChild(c);
      row.push(c);
    }
    cells.push(row);
  }
  return cells;
}

function total() {
  return Math.max(model.scatter.steps.length, model.gather.steps.length) + 1;
}

function setupSlider() {
  const s = $("slider");
  s.max = total();
  if (pos > total()) pos = total();
  s.value = pos;
}

// where the global position is in each view: one click is one step of each view; the view with
// fewer steps waits on its result (its outro) while the other goes on
function frameOf(steps) {
  return Math.min(pos, steps + 1);
}

// ---------------------------------------------------------------- static parts (per answer)

let S = {}; // cell handles

function drawStatic() {
  const m = model;
  $("params-line").textContent = m.params.line;
  const x = m.x, k = m.kernel;
  const kcols = k[0].length, xcols = x[0].length, ocols = m.output[0].length;
  S.in = grid($("scatter-input"), x.length, xcols, (c, i, j) => {
    c.classList.add("in"); c.textContent = fmt(x[i][j]); c.dataset.x = i * xcols + j;
  }, 200);
  S.k = grid($("scatter-kernel"), k.length, kcols, (c, i, j) => {
    c.classList.add("kern"); c.dataset.k = i * kcols + j;
  }, 200);
  const sc = m.scatter, [r0, r1, c0, c1] = sc.keep;
  S.out = grid($("scatter-output"), sc.canvas_shape[0], sc.canvas_shape[1], (c, i, j) => {
    const inside = i >= r0 && i < r1 && j >= c0 && j < c1;
    if (inside) {
      c.dataset.y = (i - r0) * ocols + (j - c0);
      if (i === r0) c.classList.add("keep-t");
      if (i === r1 - 1) c.classList.add("keep-b");
      if (j === c0) c.classList.add("keep-l");
      if (j === c1 - 1) c.classList.add("keep-r");
    }
  }, 320);
  $("scatter-output-note").textContent = sc.cropped.flat().some((v) => v) ? "(uncropped canvas)" : "";
  // gather
  const g = m.gather, gk = g.flipped, d = g.dilation;
  const klen = (n, di) => (n - 1) * di + 1;
  S.grid = grid($("gather-grid"), g.grid.length, g.grid[0].length, (c, i, j) => {
    const o = g.origin[i][j];
    c.classList.add(o === 2 ? "in" : o === 1 ? "ins" : o === 3 ? "opz" : "pad");
    c.textContent = fmt(g.grid[i][j]);
  }, 420);
  S.gk = grid($("gather-kernel"), klen(gk.length, d[0]), klen(gk[0].length, d[1]), (c, i, j) => {
    if (i % d[0] === 0 && j % d[1] === 0) {
      const a = i / d[0], b = j / d[1];
      c.classList.add("kern");
      c.textContent = fmt(gk[a][b]);
      c.dataset.k = (gk.length - 1 - a) * gk[0].length + (gk[0].length - 1 - b); // the original tap
    } else {
      c.classList.add("gap");
    }
  }, 240);
  $("gather-kernel-label").textContent = d.some((v) => v > 1) ? "flipped kernel (dilated: gaps between taps)" : "flipped kernel";
  S.gout = grid($("gather-output"), m.output.length, ocols, (c, i, j) => { c.dataset.y = i * ocols + j; }, 220);
  drawMatrices();
  drawOverlap();
  drawShape();
  for (const key of ["pytorch", "onnx", "keras", "jax", "tconv", "cli", "given"]) $("call-" + key).textContent = m.calls[key];
}

function drawMatrices() {
  const mat = model.matrix;
  for (const id of ["matrix-C", "matrix-CT", "vector-x", "vector-y"]) $(id).innerHTML = "";
  $("matrix-note").textContent = mat.too_big || "";
  if (mat.too_big) return;
  const CT = mat.CT, tap = mat.tap, rows = CT.length, cols = CT[0].length;
  const entry = (c, v, t, y, x) => {
    c.textContent = t >= 0 ? fmt(v) : "";
    if (t >= 0) { c.dataset.k = t; c.style.background = tapColour(t); } else c.classList.add("zero");
    c.dataset.x = x; c.dataset.y = y; c.classList.add("m");
  };
  // C_K: rows = input cells of the transposed conv (x), columns = its output cells (y)
  grid($("matrix-C"), cols, rows, (c, i, j) => entry(c, CT[j][i], tap[j][i], j, i), 1100);
  grid($("matrix-CT"), rows, cols, (c, i, j) => entry(c, CT[i][j], tap[i][j], i, j), 700);
  const size = $("matrix-CT").style.getPropertyValue("--cell");
  grid($("vector-x"), cols, 1, (c, i) => { c.classList.add("in"); c.textContent = fmt(mat.x[i]); c.dataset.x = i; c.classList.add("v"); }, 40);
  grid($("vector-y"), rows, 1, (c, i) => { c.classList.add("touch"); c.textContent = fmt(mat.y[i]); c.dataset.y = i; c.classList.add("v"); }, 40);
  for (const id of ["vector-x", "vector-y"]) {
    $(id).style.setProperty("--cell", size);
    $(id).style.gridTemplateColumns = size;
  }
}

const TAPS = ["#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5", "#ccebc5",
  "#ffed6f", "#bc80bd", "#d9d9d9"];
function tapColour(t) { return TAPS[t % TAPS.length]; }

function drawOverlap() {
  const o = model.overlap, counts = o.counts;
  let hi = 1;
  counts.forEach((r) => r.forEach((v) => { if (v > hi) hi = v; }));
  grid($("overlap-grid"), counts.length, counts[0].length, (c, i, j) => {
    const t = counts[i][j] / hi;
    c.style.background = `rgb(${255 - 150 * t}, ${255 - 110 * t}, 255)`;
    c.textContent = fmt(counts[i][j]);
  }, 420);
  const ul = $("overlap-words");
  ul.innerHTML = "";
  for (const w of o.words) {
    const li = document.createElement("li");
    li.textContent = w;
    if (w.includes("uneven")) li.classList.add("uneven");
    ul.appendChild(li);
  }
}

function drawShape() {
  $("shape-rule").textContent = model.shape.rule;
  const ul = $("shape-formula");
  ul.innerHTML = "";
  model.shape.formula.forEach((f, a) => {
    const li = document.createElement("li");
    li.textContent = (model.shape.formula.length > 1 ? `axis ${a}: ` : "") + f;
    ul.appendChild(li);
  });
}

// ---------------------------------------------------------------- one frame

function drawFrame() {
  const m = model;
  $("slider").value = pos;
  $("step-label").textContent = `step ${pos} / ${total()}`;
  // scatter
  const sc = m.scatter, n = sc.steps.length, f = frameOf(n);
  const k = m.kernel, x = m.x;
  const canvas = S.out;
  const [r0, r1, c0, c1] = sc.keep;
  const written = new Map();
  for (let t = 0; t < Math.min(f, n); t++) {
    const st = sc.steps[t];
    st.window.forEach(([r, c], idx) => written.set(r + "," + c, st.values[idx]));
  }
  const cur = f >= 1 && f <= n ? sc.steps[f - 1] : null;
  const win = new Set(cur ? cur.window.map(([r, c]) => r + "," + c) : []);
  const outro = f > n;
  canvas.forEach((row, i) => row.forEach((c, j) => {
    const key = i + "," + j;
    c.classList.remove("win", "touch", "crop", "outpad", "outkept");
    const inside = i >= r0 && i < r1 && j >= c0 && j < c1;
    let text = "";
    if (written.has(key)) text = fmt(written.get(key));
    if (win.has(key)) c.classList.add("win");
    else if (sc.outpad_zeros[i][j]) c.classList.add("outpad");
    else if (sc.outpad[i][j]) c.classList.add("outkept");
    else if (sc.cropped[i][j]) c.classList.add("crop");
    else if (written.has(key)) c.classList.add("touch");
    if (outro && inside) text = fmt(m.output[i - r0][j - c0]);
    c.textContent = text;
  }));
  S.in.forEach((row, i) => row.forEach((c, j) => c.classList.toggle("src", !!cur && cur.source[0] === i && cur.source[1] === j)));
  S.k.forEach((row, i) => row.forEach((c, j) => {
    c.classList.toggle("win", !!cur);
    c.textContent = fmt(cur ? cur.products[i * k[0].length + j] : k[i][j]);
  }));
  $("scatter-kernel-label").textContent = cur ? `kernel x ${fmt(cur.scale)}` : "kernel";
  $("scatter-title").textContent = f === 0 ? sc.intro : outro ? sc.outro : cur.title;
  // gather
  const g = m.gather, ng = g.steps.length, fg = frameOf(ng);
  const gcur = fg >= 1 && fg <= ng ? g.steps[fg - 1] : null;
  const done = fg > ng ? ng : Math.max(fg, 0);
  const ocols = m.output[0].length;
  S.gout.forEach((row, i) => row.forEach((c, j) => {
    const idx = i * ocols + j;
    const shown = idx < done;
    c.textContent = shown ? fmt(g.steps[idx].value) : "";
    c.classList.toggle("touch", shown && !(gcur && idx === fg - 1));
    c.classList.toggle("src", !!gcur && idx === fg - 1);
  }));
  const weights = new Map();
  if (gcur) gcur.window.forEach(([r, c], idx) => weights.set(r + "," + c, gcur.weights[idx]));
  S.grid.forEach((row, i) => row.forEach((c, j) => {
    const w = weights.get(i + "," + j);
    c.classList.toggle("winred", w !== undefined);
    let tag = c.querySelector(".w");
    if (w !== undefined) {
      if (!tag) { tag = document.createElement("span"); tag.className = "w"; c.appendChild(tag); }
      tag.textContent = "x" + fmt(w);
    } else if (tag) tag.remove();
  }));
  $("gather-title").textContent = fg === 0 ? g.intro : fg > ng ? g.outro : gcur.title;
}

// ---------------------------------------------------------------- hover cross-highlighting

function keysOf(el) {
  return { k: el.dataset.k, x: el.dataset.x, y: el.dataset.y, m: el.classList.contains("m") };
}

function highlight(el) {
  unhighlight();
  const key = keysOf(el);
  const marks = [el];
  const sel = (attr, v, scope) => (v === undefined ? [] : Array.from(document.querySelectorAll(`${scope}[data-${attr}="${v}"]`)));
  if (key.m) { // a matrix entry: its kernel tap, input cell, output cell (and the vector entries)
    marks.push(...sel("k", key.k, "#scatter-kernel .cell"), ...sel("k", key.k, "#gather-kernel .cell"));
    marks.push(...sel("x", key.x, "#scatter-input .cell"), ...sel("x", key.x, "#vector-x .cell"));
    marks.push(...sel("y", key.y, "#scatter-output .cell"), ...sel("y", key.y, "#gather-output .cell"),
      ...sel("y", key.y, "#vector-y .cell"));
  } else { // a grid cell: the matrix entries that hold it
    if (key.k !== undefined) marks.push(...sel("k", key.k, ".grid.matrix .cell"));
    if (key.x !== undefined) marks.push(...sel("x", key.x, ".grid.matrix .cell"));
    if (key.y !== undefined) marks.push(...sel("y", key.y, ".grid.matrix .cell"));
  }
  marks.forEach((e) => e.classList.add("hl"));
}

function unhighlight() {
  document.querySelectorAll(".cell.hl").forEach((e) => e.classList.remove("hl"));
}

document.addEventListener("mouseover", (ev) => {
  const c = ev.target.closest && ev.target.closest(".cell");
  if (c && (c.dataset.k !== undefined || c.dataset.x !== undefined || c.dataset.y !== undefined)) highlight(c);
  else if (!c) unhighlight();
});

// ---------------------------------------------------------------- player

function go(p) {
  if (!model) return;
  pos = Math.max(0, Math.min(total(), p));
  drawFrame();
}

function play() {
  if (timer) { clearInterval(timer); timer = null; $("play").textContent = "\u25B6 play"; return; }
  if (pos >= total()) pos = 0;
  $("play").textContent = "|| pause";
  timer = setInterval(() => {
    if (pos >= total()) { play(); return; }
    go(pos + 1);
  }, 700);
}

// ---------------------------------------------------------------- GIF download

async function downloadGif() {
  $("err-view").textContent = "";
  const url = "/gif?" + queryString(readControls()) + "&view=" + $("view").value;
  const r = await fetch(url);
  if (!r.ok) {
    const e = await r.json();
    $("err-view").textContent = e.error;
    return;
  }
  const blob = await r.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = "tconv-animation.gif";
  document.body.appendChild(a);
  a.click();
  a.remove();
  $("download-gif").dataset.bytes = blob.size;
}

// ---------------------------------------------------------------- wiring

function init() {
  writeControls(fromURL());
  let debounce = null;
  const changed = () => { clearTimeout(debounce); debounce = setTimeout(update, 120); };
  document.querySelectorAll("#controls input").forEach((e) => e.addEventListener("input", changed));
  for (const p of ["values", "kernel_values"]) {
    $(p + "-kind").addEventListener("change", () => {
      $(p + "-typed").classList.toggle("on", $(p + "-kind").value === "typed");
      if ($(p + "-kind").value !== "typed" || $(p + "-typed").value) update();
    });
  }
  $("view").addEventListener("change", () => { $("err-view").textContent = ""; update(); });
  document.querySelectorAll("[data-preset]").forEach((b) => b.addEventListener("click", () => {
    const q = Object.assign({}, DEFAULTS);
    new URLSearchParams(b.dataset.preset).forEach((v, k) => (q[k] = v));
    writeControls(q);
    update();
  }));
  document.querySelectorAll("[data-copy]").forEach((b) => b.addEventListener("click", async () => {
    const text = $(b.dataset.copy).textContent;
    try { await navigator.clipboard.writeText(text); b.textContent = "copied"; } catch (e) {
      const r = document.createRange(); r.selectNodeContents($(b.dataset.copy));
      const s = getSelection(); s.removeAllRanges(); s.addRange(r); b.textContent = "selected: Ctrl-C";
    }
    setTimeout(() => (b.textContent = "copy"), 1500);
  }));
  $("play").addEventListener("click", play);
  $("step").addEventListener("click", () => go(pos + 1));
  $("back").addEventListener("click", () => go(pos - 1));
  $("slider").addEventListener("input", () => go(Number($("slider").value)));
  $("download-gif").addEventListener("click", downloadGif);
  update();
}

init();
