// The Review page's movie player and area chart (blasto/app/player.py mounts it).
//
// Streamlit calls the default export again on every script run with the new `data`; the
// player lives on the component's root (parentElement) and only reacts to what changed:
// a new movie (sprite URL) reloads and goes to data.frame, a new data.seek.nonce jumps to
// data.seek.frame, anything else (fps, colours, chart) is applied in place, so a rerun never
// stops or restarts the movie. The frame goes back to Python (setStateValue "frame") when the
// movie is paused, scrubbed, stepped or clicked on the chart, never while it plays.

const SVG = "http://www.w3.org/2000/svg";
const REPORT_DELAY_MS = 250; // scrubbing: report once the slider rests

function el(tag, attrs = {}, parent = null, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function svg(tag, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

function formatNumber(v) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a >= 10) return v.toFixed(1);
  return v.toPrecision(3);
}

function formatHours(h) {
  if (h === null || h === undefined || !isFinite(h)) return null;
  const minutes = Math.round(h * 60);
  return `${Math.floor(minutes / 60)}:${String(minutes % 60).padStart(2, "0")} h`;
}

class Player {
  constructor(root) {
    this.root = el("div", { class: "bp", tabindex: "0", "data-frame": "0", "data-shown": "0", "data-playing": "false" });
    this.root.player = this; // for tests and benches: the chart geometry and the data
    root.appendChild(this.root);
    this.data = null;
    this.frame = 0;
    this.playing = false;
    this.shown = 0; // frames drawn since the movie loaded (the playback bench reads it)
    this.image = null;
    this.paths = []; // Path2D per frame, made on first use
    this.handPaths = {};
    this.movieUrl = null;
    this.seekNonce = null;
    this.reportTimer = null;
    this.lastReported = null;
    this.build();
    this.loop = this.loop.bind(this);
    this.raf = requestAnimationFrame(this.loop);
  }

  build() {
    const main = el("div", { class: "bp-main" }, this.root);
    const left = el("div", { class: "bp-left" }, main);
    this.movie = el("div", { class: "bp-movie" }, left);
    this.canvas = el("canvas", { class: "bp-canvas" }, this.movie);
    this.status = el("div", { class: "bp-status" }, this.movie, "Loading the movie…");
    const bar = el("div", { class: "bp-bar" }, left);
    this.playButton = el("button", { class: "bp-play", type: "button", title: "Play / pause (space)" }, bar, "▶ Play");
    this.prevButton = el("button", { class: "bp-step", type: "button", title: "Previous frame (←)" }, bar, "◀");
    this.nextButton = el("button", { class: "bp-step", type: "button", title: "Next frame (→)" }, bar, "▶");
    this.scrub = el("input", { class: "bp-scrub", type: "range", min: "0", max: "0", step: "1", value: "0", "aria-label": "Frame" }, bar);
    const info = el("div", { class: "bp-info" }, left);
    this.label = el("span", { class: "bp-label" }, info, "Frame 0 of 0");
    this.detail = el("span", { class: "bp-detail" }, info);
    const look = el("div", { class: "bp-look" }, left);
    const contrastLabel = el("label", {}, look, "Contrast ");
    this.contrast = el("input", { type: "range", min: "0.5", max: "4", step: "0.1", value: "1", "aria-label": "Contrast" }, contrastLabel);
    const brightLabel = el("label", {}, look, "Brightness ");
    this.brightness = el("input", { type: "range", min: "0.5", max: "2.5", step: "0.05", value: "1", "aria-label": "Brightness" }, brightLabel);
    this.rate = el("span", { class: "bp-rate" }, look);

    const right = el("div", { class: "bp-right" }, main);
    this.chartBox = el("div", { class: "bp-chart" }, right);
    this.chart = svg("svg", { class: "bp-svg" }, this.chartBox);
    this.legend = el("div", { class: "bp-legend" }, right);

    this.playButton.addEventListener("click", () => this.setPlaying(!this.playing));
    this.prevButton.addEventListener("click", () => this.step(-1));
    this.nextButton.addEventListener("click", () => this.step(1));
    this.scrub.addEventListener("input", () => {
      this.setPlaying(false, false);
      this.show(parseInt(this.scrub.value, 10));
      this.report();
    });
    for (const input of [this.contrast, this.brightness]) input.addEventListener("input", () => this.draw());
    this.chart.addEventListener("click", (event) => this.chartClicked(event));
    this.chart.addEventListener("mousemove", (event) => this.hover(event));
    this.chart.addEventListener("mouseleave", () => this.hover(null));
    this.root.addEventListener("keydown", (event) => {
      if (event.target.tagName === "INPUT" && event.target.type !== "range") return;
      if (event.key === " ") { this.setPlaying(!this.playing); event.preventDefault(); }
      else if (event.key === "ArrowLeft" && event.target !== this.scrub) { this.step(-1); event.preventDefault(); }
      else if (event.key === "ArrowRight" && event.target !== this.scrub) { this.step(1); event.preventDefault(); }
    });
    this.resize = new ResizeObserver(() => { this.draw(); this.drawChart(); });
    this.resize.observe(this.movie);
    this.resize.observe(this.chartBox);
  }

  get count() {
    return this.data ? this.data.movie.count : 0;
  }

  update(data, setStateValue) {
    this.setStateValue = setStateValue;
    const first = this.data === null;
    this.data = data;
    const movie = data.movie;
    this.scrub.max = String(Math.max(0, movie.count - 1));
    this.movie.style.setProperty("--aspect", `${movie.width} / ${movie.height}`);
    this.movie.style.setProperty("--ratio", String(movie.width / movie.height));
    this.paths = new Array(movie.count).fill(undefined);
    this.handPaths = {};
    if (movie.url !== this.movieUrl) {
      this.movieUrl = movie.url;
      this.image = null;
      this.status.style.display = "";
      const image = new Image();
      image.onload = () => {
        if (this.movieUrl !== movie.url) return;
        this.image = image;
        this.status.style.display = "none";
        this.shown = 0;
        this.draw();
      };
      image.onerror = () => { this.status.textContent = "The movie could not be loaded."; };
      image.src = movie.url;
      this.frame = Math.min(Math.max(0, data.frame || 0), movie.count - 1);
      this.setPlaying(false, false);
    }
    const seek = data.seek || {};
    if (first) {
      this.seekNonce = seek.nonce;
    } else if (seek.nonce !== undefined && seek.nonce !== this.seekNonce) {
      this.seekNonce = seek.nonce;
      this.setPlaying(false, false);
      this.show(seek.frame);
    }
    if (this.playing) this.anchor(); // a new rate takes effect from the frame shown
    this.rate.textContent = `${data.fps} frames/s`;
    this.show(this.frame);
    this.drawChart();
    this.drawLegend();
  }

  // -- playback ---------------------------------------------------------------------------
  anchor() {
    this.startTime = performance.now();
    this.startFrame = this.frame;
  }

  setPlaying(playing, report = true) {
    if (playing === this.playing) return;
    this.playing = playing;
    this.root.dataset.playing = String(playing);
    this.playButton.textContent = playing ? "⏸ Pause" : "▶ Play";
    if (playing) {
      this.anchor();
      this.root.focus({ preventScroll: true });
    } else if (report) {
      this.report(0);
    }
  }

  loop(now) {
    this.raf = requestAnimationFrame(this.loop);
    if (!this.playing || !this.data || !this.image) return;
    // The frame follows the clock, not the number of callbacks: the rate is the set one even
    // when the browser drops animation frames (then frames are skipped, and `shown` says so).
    const elapsed = (now - this.startTime) / 1000;
    const frame = (this.startFrame + Math.floor(elapsed * this.data.fps)) % this.count;
    if (frame !== this.frame) this.show(frame);
  }

  step(delta) {
    this.setPlaying(false, false);
    this.show((this.frame + delta + this.count) % this.count);
    this.report();
  }

  report(delay = REPORT_DELAY_MS) {
    clearTimeout(this.reportTimer);
    this.reportTimer = setTimeout(() => {
      if (this.playing || !this.setStateValue || this.frame === this.lastReported) return;
      this.lastReported = this.frame;
      this.setStateValue("frame", this.frame);
    }, delay);
  }

  show(frame) {
    if (!this.data) return;
    frame = Math.min(Math.max(0, Math.round(frame || 0)), this.count - 1);
    this.frame = frame;
    this.root.dataset.frame = String(frame);
    if (this.scrub.value !== String(frame)) this.scrub.value = String(frame);
    const chart = this.data.chart;
    const parts = [];
    const when = formatHours(chart.time_h[frame]);
    if (when) parts.push(when);
    if (chart.value[frame] !== null) parts.push(`${formatNumber(chart.value[frame])} ${chart.unit}`);
    if (this.data.hand[frame] !== undefined) parts.push("hand mask dashed");
    this.label.textContent = `Frame ${frame} of ${this.count - 1}`;
    this.detail.textContent = parts.length ? ` · ${parts.join(" · ")}` : "";
    if (this.draw()) {
      this.shown += 1;
      this.root.dataset.shown = String(this.shown);
    }
    this.moveMarker();
  }

  // -- the movie --------------------------------------------------------------------------
  path(list, cache, frame) {
    if (cache[frame] === undefined) {
      const d = list[frame];
      cache[frame] = d ? new Path2D(d) : null;
    }
    return cache[frame];
  }

  draw() {
    if (!this.image || !this.data) return false;
    const movie = this.data.movie;
    const look = this.data.look;
    const box = this.movie.getBoundingClientRect();
    if (box.width < 2) return false;
    const dpr = window.devicePixelRatio || 1;
    const width = Math.round(box.width * dpr), height = Math.round(box.height * dpr);
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    const ctx = this.canvas.getContext("2d");
    const frame = this.frame;
    const sx = (frame % movie.columns) * movie.width, sy = Math.floor(frame / movie.columns) * movie.height;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.filter = `contrast(${this.contrast.value}) brightness(${this.brightness.value})`;
    ctx.drawImage(this.image, sx, sy, movie.width, movie.height, 0, 0, width, height);
    ctx.filter = "none";
    const scale = width / movie.width;
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
    const model = this.path(this.data.model, this.paths, frame);
    if (model) {
      ctx.globalAlpha = look.opacity;
      if (look.style === "fill") {
        ctx.fillStyle = look.colour;
        ctx.fill(model, "evenodd");
      } else {
        ctx.strokeStyle = look.colour;
        ctx.lineWidth = (2.5 * dpr) / scale;
        ctx.setLineDash([]);
        ctx.stroke(model);
      }
      ctx.globalAlpha = 1;
    }
    const hand = this.data.hand[frame] !== undefined ? this.path(this.data.hand, this.handPaths, frame) : null;
    if (hand) {
      // Dashed over the model's solid line: both show where they agree.
      ctx.strokeStyle = look.hand_colour;
      ctx.lineWidth = (2 * dpr) / scale;
      ctx.setLineDash([(5 * dpr) / scale, (4 * dpr) / scale]);
      ctx.stroke(hand);
      ctx.setLineDash([]);
    }
    return true;
  }

  // -- the chart --------------------------------------------------------------------------
  chartGeometry() {
    const chart = this.data.chart;
    const width = Math.max(200, this.chartBox.clientWidth || 400);
    const height = Math.max(180, this.chartBox.clientHeight || 300);
    const m = { left: 58, right: 12, top: 12, bottom: 40 };
    const xs = chart.x.filter((v) => v !== null);
    const ys = chart.y.filter((v) => v !== null).concat(chart.manual.map((p) => p[1]).filter((v) => v !== null));
    let x0 = Math.min(...xs), x1 = Math.max(...xs);
    let y0 = Math.min(...ys), y1 = Math.max(...ys);
    if (!(x1 > x0)) x1 = x0 + 1;
    if (!(y1 > y0)) { y0 -= 1; y1 += 1; }
    const pad = (y1 - y0) * 0.05;
    y0 -= pad; y1 += pad;
    const px = (v) => m.left + ((v - x0) / (x1 - x0)) * (width - m.left - m.right);
    const py = (v) => height - m.bottom - ((v - y0) / (y1 - y0)) * (height - m.top - m.bottom);
    return { width, height, m, x0, x1, y0, y1, px, py };
  }

  drawChart() {
    if (!this.data) return;
    const chart = this.data.chart;
    const g = this.chartGeometry();
    this.geometry = g;
    const s = this.chart;
    s.setAttribute("width", g.width);
    s.setAttribute("height", g.height);
    s.setAttribute("viewBox", `0 0 ${g.width} ${g.height}`);
    s.replaceChildren();
    const plot = { x: g.m.left, y: g.m.top, w: g.width - g.m.left - g.m.right, h: g.height - g.m.top - g.m.bottom };
    svg("rect", { x: plot.x, y: plot.y, width: plot.w, height: plot.h, class: "bp-plot" }, s);
    // Collapses first, under the curves: shaded from start to recovery (or to the end).
    const last = chart.x.length - 1;
    for (const c of chart.collapses) {
      const a = g.px(chart.x[c.start]);
      const b = g.px(chart.x[c.recovery === null ? last : c.recovery]);
      svg("rect", { x: a, y: plot.y, width: Math.max(1, b - a), height: plot.h, class: "bp-collapse" }, s);
    }
    for (const t of niceTicks(g.y0, g.y1, 5)) {
      const y = g.py(t);
      svg("line", { x1: plot.x, x2: plot.x + plot.w, y1: y, y2: y, class: "bp-grid" }, s);
      svg("text", { x: plot.x - 6, y: y + 4, class: "bp-tick", "text-anchor": "end" }, s).textContent = formatNumber(t);
    }
    for (const t of niceTicks(g.x0, g.x1, Math.max(3, Math.floor(plot.w / 80)))) {
      const x = g.px(t);
      svg("line", { x1: x, x2: x, y1: plot.y + plot.h, y2: plot.y + plot.h + 4, class: "bp-axis" }, s);
      svg("text", { x, y: plot.y + plot.h + 16, class: "bp-tick", "text-anchor": "middle" }, s).textContent = String(t);
    }
    svg("text", { x: plot.x + plot.w / 2, y: g.height - 6, class: "bp-title", "text-anchor": "middle" }, s).textContent = chart.x_label;
    svg("text", { x: 12, y: plot.y + plot.h / 2, class: "bp-title", "text-anchor": "middle",
                  transform: `rotate(-90 12 ${plot.y + plot.h / 2})` }, s).textContent = chart.y_label;
    // The model's curve, broken where a value is missing.
    let d = "", pen = false;
    chart.x.forEach((x, i) => {
      const y = chart.y[i];
      if (x === null || y === null) { pen = false; return; }
      d += `${pen ? "L" : "M"}${g.px(x).toFixed(1)} ${g.py(y).toFixed(1)}`;
      pen = true;
    });
    svg("path", { d, class: "bp-model", stroke: chart.colours.model }, s);
    for (const f of chart.highlight) {
      if (chart.y[f] === null) continue;
      svg("circle", { cx: g.px(chart.x[f]), cy: g.py(chart.y[f]), r: 7, class: "bp-highlight" }, s);
    }
    for (const [f, v] of chart.manual) {
      if (v === null) continue;
      const x = g.px(chart.x[f]), y = g.py(v);
      svg("path", { d: `M${x} ${y - 6}L${x + 5} ${y}L${x} ${y + 6}L${x - 5} ${y}Z`, class: "bp-manual",
                    fill: chart.colours.manual }, s);
    }
    for (const c of chart.collapses) {
      const start = g.px(chart.x[c.start]);
      const top = chart.y[c.start] === null ? plot.y : g.py(chart.y[c.start]);
      svg("path", { d: `M${start - 6} ${top - 12}L${start + 6} ${top - 12}L${start} ${top - 2}Z`, class: "bp-start" }, s)
        .appendChild(svg("title")).textContent = `collapse at frame ${c.start} (−${c.depth.toFixed(0)} %)`;
      if (c.recovery !== null) {
        const x = g.px(chart.x[c.recovery]);
        const y = chart.y[c.recovery] === null ? plot.y : g.py(chart.y[c.recovery]);
        svg("path", { d: `M${x - 6} ${y + 12}L${x + 6} ${y + 12}L${x} ${y + 2}Z`, class: "bp-recovery" }, s)
          .appendChild(svg("title")).textContent = `recovered at frame ${c.recovery}`;
      }
    }
    this.markerLine = svg("line", { y1: plot.y, y2: plot.y + plot.h, class: "bp-marker-line" }, s);
    this.markerDot = svg("circle", { r: 6, class: "bp-marker", stroke: chart.colours.marker }, s);
    this.hoverText = svg("text", { x: plot.x + plot.w - 4, y: plot.y + 14, class: "bp-hover", "text-anchor": "end" }, s);
    this.moveMarker();
  }

  moveMarker() {
    if (!this.markerLine || !this.geometry || !this.data) return;
    const chart = this.data.chart;
    const x = chart.x[this.frame], y = chart.y[this.frame];
    if (x === null || x === undefined) return;
    const px = this.geometry.px(x);
    this.markerLine.setAttribute("x1", px);
    this.markerLine.setAttribute("x2", px);
    this.markerDot.setAttribute("cx", px);
    this.markerDot.setAttribute("cy", y === null ? -100 : this.geometry.py(y));
  }

  frameAt(event) {
    const g = this.geometry;
    const box = this.chart.getBoundingClientRect();
    const px = event.clientX - box.left;
    let best = 0, distance = Infinity;
    this.data.chart.x.forEach((x, i) => {
      if (x === null) return;
      const dx = Math.abs(g.px(x) - px);
      if (dx < distance) { distance = dx; best = i; }
    });
    return best;
  }

  chartClicked(event) {
    if (!this.data || !this.geometry) return;
    this.show(this.frameAt(event));
    if (this.playing) this.anchor(); // keeps playing from there
    else this.report(0);
  }

  hover(event) {
    if (!this.hoverText) return;
    if (!event || !this.data) { this.hoverText.textContent = ""; return; }
    const f = this.frameAt(event);
    const chart = this.data.chart;
    const when = formatHours(chart.time_h[f]);
    this.hoverText.textContent = `frame ${f}${when ? " · " + when : ""} · ${formatNumber(chart.value[f])} ${chart.unit} (click to show)`;
  }

  drawLegend() {
    const chart = this.data.chart;
    this.legend.replaceChildren();
    const item = (cls, text, colour) => {
      const span = el("span", { class: "bp-key" }, this.legend);
      const swatch = el("i", { class: cls }, span);
      if (colour) swatch.style.background = colour;
      span.appendChild(document.createTextNode(text));
    };
    item("bp-key-model", "model", chart.colours.model);
    if (chart.manual.length) item("bp-key-manual", "manual", chart.colours.manual);
    if (chart.collapses.length) item("bp-key-collapse", `collapse (${chart.collapses.length})`);
    if (chart.highlight.length) item("bp-key-highlight", "most different");
    el("span", { class: "bp-hint" }, this.legend, "Click the chart to show a frame.");
  }

  destroy() {
    cancelAnimationFrame(this.raf);
    clearTimeout(this.reportTimer);
    this.resize.disconnect();
    this.root.remove();
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let player = parentElement.__blastoPlayer;
  if (!player || !player.root.isConnected) {
    player = new Player(parentElement);
    parentElement.__blastoPlayer = player;
  }
  if (data) player.update(data, setStateValue);
  // Streamlit may call this cleanup when a newer run's data arrived while this call was
  // loading; the player then lives on. It goes only once the component left the page.
  return () => setTimeout(() => {
    const host = parentElement.host || parentElement;
    if (!host.isConnected && parentElement.__blastoPlayer === player) {
      player.destroy();
      parentElement.__blastoPlayer = null;
    }
  }, 0);
}
