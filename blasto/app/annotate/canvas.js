// blasto's drawing surface (a Streamlit components.v2 module; blasto/app/annotate/canvas.py).
//
// Python sends `data`: the frame (gray PNG), the mask (PNG, white = cell), the target (which
// mask), the last event it has taken (`ack`), undo/redo/dirty flags and the view settings.
// The surface sends `events`: every stroke (image pixel coordinates) and key/toolbar action,
// numbered, as soon as it happens; it keeps resending the ones Python has not acknowledged,
// so a stroke made just before a switch of frame, step or page still reaches Python.

const TOOLS = ["outline", "brush", "polygon"];
const TOOL_NAMES = { outline: "Outline", brush: "Brush", polygon: "Polygon" };
const ZOOM_MIN = 1, ZOOM_MAX = 6;
const ADD_RGBA = [255, 210, 0, 0.42], ERASE_COLOUR = "#ff00c8", LINE_COLOUR = "#00e640";
// What outlives a remount (a step switch): tools, zoom and the events not yet acknowledged.
const kept = { tool: "outline", erase: false, brush: 8, zoom: 1, events: [], seq: 0,
               nonce: Math.random().toString(36).slice(2, 10) };
const instances = new WeakMap();

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = reject;
    image.src = url;
  });
}

class Surface {
  constructor(root, component) {
    this.component = component;
    this.data = null;
    this.view = { brightness: 0, contrast: 1 };
    this.offset = [0, 0];  // image coordinates at the view's top left
    this.live = null;      // the stroke being drawn: {tool, mode, size, points}
    this.polygon = null;   // polygon corners so far
    this.pointer = null;   // last pointer position in view pixels
    this.panning = null;
    this.space = false;
    this.imageCanvas = el("canvas");
    this.maskCanvas = el("canvas");
    this.build(root);
    this.onKey = (e) => this.key(e);
    this.onKeyUp = (e) => { if (e.code === "Space") this.space = false; };
    document.addEventListener("keydown", this.onKey);
    document.addEventListener("keyup", this.onKeyUp);
  }

  build(root) {
    this.root = el("div", { class: "bc-root", "data-testid": "blasto-canvas", tabindex: "0" });
    const bar = el("div", { class: "bc-toolbar", role: "toolbar" });
    const group = () => { const g = el("div", { class: "bc-group" }); bar.appendChild(g); return g; };
    const button = (g, label, title, action, cls) => {
      const b = el("button", { type: "button", title, "aria-label": label }, label);
      if (cls) b.className = cls;
      b.addEventListener("click", (e) => { e.preventDefault(); action(); this.root.focus(); });
      g.appendChild(b);
      return b;
    };
    const tools = group();
    this.toolButtons = {};
    const keys = { outline: "O", brush: "B", polygon: "G" };
    TOOLS.forEach((tool, i) => {
      this.toolButtons[tool] = button(tools, TOOL_NAMES[tool],
        `${TOOL_NAMES[tool]} (${keys[tool]} or ${i + 1})`, () => this.setTool(tool));
    });
    this.eraseButton = button(tools, "Erase", "Erase: paint background with any tool (E or 4)",
      () => this.setErase(!kept.erase), "bc-erase");
    const size = group();
    const sizeLabel = el("label", { title: "Brush diameter in image pixels" }, "Size");
    this.sizeInput = el("input", { type: "range", min: "1", max: "64", step: "1",
                                   "aria-label": "Brush size" });
    this.sizeText = el("span", { class: "bc-zoom-text" });
    this.sizeInput.addEventListener("input", () => { kept.brush = +this.sizeInput.value; this.sync(); this.draw(); });
    sizeLabel.append(this.sizeInput, this.sizeText);
    size.appendChild(sizeLabel);
    const zoom = group();
    button(zoom, "−", "Zoom out (- or wheel)", () => this.zoomBy(1 / 1.25));
    this.zoomText = el("span", { class: "bc-zoom-text", "data-testid": "blasto-zoom" });
    zoom.appendChild(this.zoomText);
    button(zoom, "+", "Zoom in (+ or wheel)", () => this.zoomBy(1.25));
    button(zoom, "Fit", "Whole frame (0)", () => this.setZoom(1));
    const view = group();
    const slider = (label, min, max, step, name) => {
      const l = el("label", { title: `${label} of the frame (kept for this experiment)` }, label);
      const input = el("input", { type: "range", min, max, step, "aria-label": label });
      input.addEventListener("input", () => { this.view[name] = +input.value; this.paintImage(); this.draw(); });
      input.addEventListener("change", () => this.sendView());
      l.appendChild(input);
      view.appendChild(l);
      return input;
    };
    this.brightnessInput = slider("Brightness", "-100", "100", "5", "brightness");
    this.contrastInput = slider("Contrast", "0.5", "4", "0.1", "contrast");
    const edit = group();
    this.undoButton = button(edit, "Undo", "Undo (Ctrl+Z)", () => this.send("undo"));
    this.redoButton = button(edit, "Redo", "Redo (Ctrl+Shift+Z or Ctrl+Y)", () => this.send("redo"));
    this.clearButton = button(edit, "Clear", "Start from an empty mask (Undo brings it back)",
      () => this.send("clear"));
    this.saveButton = button(group(), "Save mask", "Save (S)", () => this.send("save"), "bc-save");
    this.viewport = el("div", { class: "bc-view" });
    this.canvas = el("canvas", { "data-testid": "blasto-canvas-surface" });
    this.viewport.appendChild(this.canvas);
    this.status = el("div", { class: "bc-status", "aria-live": "polite" });
    this.root.append(bar, this.viewport, this.status);
    root.appendChild(this.root);
    this.ctx = this.canvas.getContext("2d");
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => this.down(e));
    c.addEventListener("pointermove", (e) => this.move(e));
    c.addEventListener("pointerup", (e) => this.up(e));
    c.addEventListener("pointercancel", (e) => this.up(e));
    c.addEventListener("pointerleave", () => { this.pointer = null; this.draw(); });
    c.addEventListener("dblclick", (e) => { e.preventDefault(); this.closePolygon(); });
    c.addEventListener("contextmenu", (e) => e.preventDefault());
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.zoomBy(e.deltaY < 0 ? 1.25 : 1 / 1.25, this.local(e));
    }, { passive: false });
  }

  // -- data from Python ---------------------------------------------------------------------
  async update(data) {
    const first = this.data === null;
    const newTarget = first || data.target !== this.data.target;
    this.data = data;
    const size = data.display;
    if (this.canvas.width !== size) {
      this.canvas.width = size;
      this.canvas.height = size;
      this.viewport.style.width = `${size}px`;
      this.viewport.style.height = `${size}px`;
    }
    if (first || data.view_key !== this.viewKey) {
      this.viewKey = data.view_key;
      this.view = { brightness: data.view.brightness, contrast: data.view.contrast };
      this.brightnessInput.value = this.view.brightness;
      this.contrastInput.value = this.view.contrast;
    }
    if (newTarget) { this.live = null; this.polygon = null; }
    this.acknowledge(data.ack);
    const [image, mask] = await Promise.all([
      this.imageUrl === data.image ? null : loadImage(data.image),
      this.maskUrl === data.mask ? null : loadImage(data.mask)]);
    if (this.data !== data) return;  // newer data arrived while these decoded
    if (image) { this.imageUrl = data.image; this.image = image; }
    if (mask) { this.maskUrl = data.mask; this.maskImage = mask; }
    if (image) this.paintImage();
    if (first) this.setZoom(kept.zoom);
    this.paintMask();
    this.sync();
    this.draw();
    this.root.setAttribute("data-ready", data.revision_key);
  }

  acknowledge(ack) {
    if (!ack || ack.nonce !== kept.nonce) return;
    // Not published: the next event sends the shorter list (publishing would rerun the page).
    kept.events = kept.events.filter((e) => e.seq > ack.seq);
  }

  // -- events to Python ---------------------------------------------------------------------
  send(kind, extra = {}) {
    if (!this.data) return;
    kept.seq += 1;
    kept.events.push({ nonce: kept.nonce, seq: kept.seq, target: this.data.target, kind, ...extra });
    this.publish();
    if (kind === "stroke") { this.paintMask(); this.draw(); }
  }

  publish() {
    this.component.setStateValue("events", kept.events.slice());
  }

  sendView() {
    this.component.setStateValue("view", { key: this.data.view_key, ...this.view });
  }

  // -- pictures ------------------------------------------------------------------------------
  paintImage() {
    if (!this.image) return;
    const { width, height } = this.data;
    this.imageCanvas.width = width;
    this.imageCanvas.height = height;
    const ctx = this.imageCanvas.getContext("2d");
    ctx.filter = `brightness(${1 + this.view.brightness / 100}) contrast(${this.view.contrast})`;
    ctx.drawImage(this.image, 0, 0, width, height);
    ctx.filter = "none";
  }

  paintMask() {
    // The saved-or-edited mask from Python, plus the strokes it has not acknowledged yet.
    if (!this.maskImage) return;
    const { width, height } = this.data;
    const m = this.maskCanvas;
    m.width = width;
    m.height = height;
    const ctx = m.getContext("2d");
    ctx.drawImage(this.maskImage, 0, 0, width, height);
    const pixels = ctx.getImageData(0, 0, width, height);
    const [r, g, b, a] = ADD_RGBA;
    for (let i = 0; i < pixels.data.length; i += 4) {
      const on = pixels.data[i] > 127;
      pixels.data[i] = r; pixels.data[i + 1] = g; pixels.data[i + 2] = b;
      pixels.data[i + 3] = on ? Math.round(255 * a) : 0;
    }
    ctx.putImageData(pixels, 0, 0);
    for (const e of kept.events) {
      if (e.kind === "stroke" && e.target === this.data.target) this.paintStroke(ctx, e.stroke);
    }
  }

  paintStroke(ctx, stroke) {
    const [r, g, b, a] = ADD_RGBA;
    ctx.save();
    ctx.globalCompositeOperation = stroke.mode === "erase" ? "destination-out" : "source-over";
    ctx.fillStyle = ctx.strokeStyle = `rgba(${r},${g},${b},${stroke.mode === "erase" ? 1 : a})`;
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.lineWidth = stroke.size;
    ctx.beginPath();
    stroke.points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    if (stroke.tool === "brush") {
      if (stroke.points.length === 1) ctx.lineTo(stroke.points[0][0] + 0.01, stroke.points[0][1]);
      ctx.stroke();
    } else {
      ctx.closePath();
      if (stroke.mode === "erase") { ctx.fill(); ctx.stroke(); } else ctx.fill();
    }
    ctx.restore();
  }

  // -- view: zoom and pan -------------------------------------------------------------------
  get scale() { return (this.data.display / this.data.width) * kept.zoom; }

  local(e) {
    const box = this.canvas.getBoundingClientRect();
    return [e.clientX - box.left, e.clientY - box.top];
  }

  toImage([sx, sy]) { return [sx / this.scale + this.offset[0], sy / this.scale + this.offset[1]]; }

  setZoom(zoom, around) {
    if (!this.data) return;
    const old = this.scale;
    const at = around || [this.data.display / 2, this.data.display / 2];
    const fixed = [at[0] / old + this.offset[0], at[1] / old + this.offset[1]];
    kept.zoom = Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, zoom));
    this.offset = [fixed[0] - at[0] / this.scale, fixed[1] - at[1] / this.scale];
    this.clampOffset();
    this.sync();
    this.draw();
  }

  zoomBy(factor, around) { this.setZoom(kept.zoom * factor, around); }

  clampOffset() {
    const span = this.data.width - this.data.display / this.scale;
    this.offset = this.offset.map((v) => Math.min(Math.max(v, 0), Math.max(span, 0)));
  }

  // -- pointer ------------------------------------------------------------------------------
  down(e) {
    if (!this.data) return;
    this.root.focus({ preventScroll: true });
    const at = this.local(e);
    if (e.button === 1 || e.button === 2 || this.space) {
      this.panning = { at, offset: this.offset.slice() };
      this.canvas.setPointerCapture(e.pointerId);
      e.preventDefault();
      return;
    }
    if (e.button !== 0) return;
    const point = this.toImage(at);
    if (kept.tool === "polygon") {
      if (this.polygon && this.polygon.length >= 3) {
        const [fx, fy] = this.polygon[0];
        if (Math.hypot((fx - point[0]) * this.scale, (fy - point[1]) * this.scale) < 10) {
          this.closePolygon();
          return;
        }
      }
      this.polygon = (this.polygon || []).concat([point]);
      this.draw();
      return;
    }
    this.canvas.setPointerCapture(e.pointerId);
    this.live = { tool: kept.tool, mode: kept.erase ? "erase" : "add",
                  size: kept.tool === "brush" ? kept.brush : 1, points: [point] };
    this.draw();
  }

  move(e) {
    this.pointer = this.local(e);
    if (this.panning) {
      const [x0, y0] = this.panning.at;
      this.offset = [this.panning.offset[0] - (this.pointer[0] - x0) / this.scale,
                     this.panning.offset[1] - (this.pointer[1] - y0) / this.scale];
      this.clampOffset();
    } else if (this.live) {
      const points = this.live.points;
      const point = this.toImage(this.pointer);
      const last = points[points.length - 1];
      if (Math.hypot(point[0] - last[0], point[1] - last[1]) * this.scale >= 1) points.push(point);
    }
    this.draw();
  }

  up(e) {
    if (this.panning) { this.panning = null; return; }
    if (!this.live) return;
    const stroke = this.live;
    this.live = null;
    if (e.type === "pointerup") {
      const point = this.toImage(this.local(e));
      const last = stroke.points[stroke.points.length - 1];
      if (point[0] !== last[0] || point[1] !== last[1]) stroke.points.push(point);
    }
    if (stroke.tool === "outline" && stroke.points.length < 3) { this.draw(); return; }
    stroke.points = stroke.points.map(([x, y]) => [+x.toFixed(2), +y.toFixed(2)]);
    this.send("stroke", { stroke });
  }

  closePolygon() {
    const corners = this.polygon;
    this.polygon = null;
    if (!corners || corners.length < 3) { this.draw(); return; }
    const points = corners.map(([x, y]) => [+x.toFixed(2), +y.toFixed(2)]);
    this.send("stroke", { stroke: { tool: "polygon", mode: kept.erase ? "erase" : "add", size: 1, points } });
  }

  // -- keys ---------------------------------------------------------------------------------
  key(e) {
    if (!this.data || !this.root.isConnected) return;
    const origin = e.composedPath()[0];
    const tag = origin && origin.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (origin && origin.isContentEditable)) return;
    const k = e.key.toLowerCase(), ctrl = e.ctrlKey || e.metaKey;
    let done = true;
    if (ctrl && k === "z") this.send(e.shiftKey ? "redo" : "undo");
    else if (ctrl && k === "y") this.send("redo");
    else if (ctrl && k === "s") this.send("save");
    else if (ctrl || e.altKey) done = false;
    else if (e.code === "Space") this.space = true;
    else if (k === "s") this.send("save");
    else if (k === "arrowleft" || k === ",") this.send("previous");
    else if (k === "arrowright" || k === ".") this.send("next");
    else if (k === "p") this.send("propose");
    else if (k === "c") this.send("copy");
    else if (k === "i") this.send("interpolate");
    else if (k === "o" || k === "1") this.setTool("outline");
    else if (k === "b" || k === "2") this.setTool("brush");
    else if (k === "g" || k === "3") this.setTool("polygon");
    else if (k === "e" || k === "4") this.setErase(!kept.erase);
    else if (k === "+" || k === "=") this.zoomBy(1.25);
    else if (k === "-" || k === "_") this.zoomBy(1 / 1.25);
    else if (k === "0") this.setZoom(1);
    else if (k === "enter") this.closePolygon();
    else if (k === "escape") { this.polygon = null; this.live = null; this.draw(); }
    else done = false;
    if (done) e.preventDefault();
  }

  setTool(tool) { kept.tool = tool; this.polygon = null; this.sync(); this.draw(); }
  setErase(on) { kept.erase = on; this.sync(); this.draw(); }

  // -- screen -------------------------------------------------------------------------------
  sync() {
    const d = this.data;
    if (!d) return;
    for (const tool of TOOLS) this.toolButtons[tool].setAttribute("aria-pressed", String(kept.tool === tool));
    this.eraseButton.setAttribute("aria-pressed", String(kept.erase));
    this.sizeInput.value = kept.brush;
    this.sizeInput.disabled = kept.tool !== "brush";
    this.sizeText.textContent = `${kept.brush} px`;
    this.zoomText.textContent = `${kept.zoom.toFixed(kept.zoom % 1 ? 1 : 0)}x`;
    const waiting = kept.events.some((e) => e.target === d.target);
    this.undoButton.disabled = !d.can_undo && !waiting;
    this.redoButton.disabled = !d.can_redo;
    this.saveButton.disabled = !d.dirty && !waiting;
    this.status.replaceChildren();
    const title = el("b", {}, d.title);
    const state = d.dirty || waiting
      ? el("span", { class: "bc-dirty" }, " · Unsaved strokes")
      : el("span", { class: "bc-saved" }, d.had_mask ? " · Saved." : "");
    this.status.append(title, state, document.createTextNode(d.note ? ` · ${d.note}` : ""));
  }

  draw() {
    const d = this.data, ctx = this.ctx;
    if (!d || !this.image) return;
    const s = this.scale, [ox, oy] = this.offset;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, d.display, d.display);
    ctx.imageSmoothingEnabled = kept.zoom < 2;
    ctx.setTransform(s, 0, 0, s, -ox * s, -oy * s);
    ctx.drawImage(this.imageCanvas, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.maskCanvas, 0, 0);
    const line = (points, colour, width, close) => {
      ctx.save();
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      ctx.lineCap = ctx.lineJoin = "round";
      ctx.beginPath();
      points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      if (close) ctx.closePath();
      ctx.stroke();
      ctx.restore();
    };
    const colour = kept.erase ? ERASE_COLOUR : LINE_COLOUR;
    if (this.live) {
      const brush = this.live.tool === "brush";
      line(this.live.points, brush ? colour + "99" : colour, brush ? this.live.size : 2 / s, false);
    }
    if (this.polygon) {
      const points = this.pointer ? this.polygon.concat([this.toImage(this.pointer)]) : this.polygon;
      line(points, colour, 2 / s, false);
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    if (this.pointer && !this.panning) {  // the brush under the cursor, at its true size
      const [x, y] = this.pointer;
      const radius = kept.tool === "brush" ? (kept.brush * s) / 2 : 3;
      ctx.beginPath();
      ctx.arc(x, y, Math.max(radius, 1.5), 0, 2 * Math.PI);
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 3;
      ctx.stroke();
      ctx.strokeStyle = colour;
      ctx.lineWidth = 1.5;
      ctx.stroke();
    }
  }

  destroy() {
    document.removeEventListener("keydown", this.onKey);
    document.removeEventListener("keyup", this.onKeyUp);
  }
}

export default function (component) {
  const { data, parentElement } = component;
  let surface = instances.get(parentElement);
  if (!surface) {
    surface = new Surface(parentElement, component);
    instances.set(parentElement, surface);
  }
  surface.component = component;
  if (data) surface.update(data);
  // Streamlit may call a cleanup of an earlier, superseded mount while this surface lives on:
  // only a surface that has left the page lets go of its keys.
  return () => setTimeout(() => {
    if (!surface.root.isConnected) { surface.destroy(); instances.delete(parentElement); }
  }, 0);
}
