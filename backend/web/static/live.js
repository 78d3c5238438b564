// The live grid (docs/dashboard.md "Live"): every active session of an exam
// as a tile with its camera, state and badges; a click opens the session
// big (camera and screen) with chat, warn, pause/resume, end and snapshot.
//
// Video: the backend relays the client's H.264 access units (Annex-B) over
// a websocket per track; in a worker (live-worker.js), WebCodecs'
// VideoDecoder decodes them (configured without a description, so it takes
// Annex-B as it comes) and each frame is drawn to its canvas, handed to the
// worker as an OffscreenCanvas. Only tiles on screen decode: a tile scrolled away, or
// the whole grid while a session is open, closes its socket, and reopens it
// when it is seen again (the backend starts it at its cached keyframe).

import { API, api, el, header, param, requireLogin, showError } from "./common.js";

const exam = param("exam");
const POLL_MS = 1000;
const tiles = new Map(); // session id → Tile
let last = null; // the last poll's answer
let detail = null; // the open session: {id, cam, scr}
let myUser = null;

// Figures for tests and the latency benchmark (bench/live).
const stats = window.__invigilLive = {
  frames: 0, // frames drawn, all videos
  latencies: [], // ms from capture (the client's clock) to drawn, last 600
  firstFrame: [], // ms from opening a video to its first picture
  errors: [],
  open: 0, // videos decoding now
};

// The video workers (live-worker.js) own the sockets, decoders and
// canvases; LiveVideo is the page's handle on one canvas in them. Canvases
// are spread over one worker per two cores (at most four).
const workers = [];
const canvasSlot = new WeakMap(); // canvas element → {slot, worker}
const slotInfo = new Map(); // slot → {canvas, onInfo}
let nextSlot = 1;
// Tiles draw at most this many pictures a second; the big views all.
const TILE_FPS = 10;

function startWorkers() {
  const n = Math.max(1, Math.min(4, Math.floor((navigator.hardwareConcurrency || 2) / 2)));
  const per = [];
  for (let i = 0; i < n; i++) {
    const w = new Worker("/assets/live-worker.js");
    per.push({ drawn: 0, open: 0 });
    w.onmessage = (ev) => {
      const m = ev.data;
      if (m.op === "info") {
        const s = slotInfo.get(m.slot);
        if (s) s.onInfo(m.text);
      } else if (m.op === "stats") {
        for (const [slot, n] of Object.entries(m.frames)) {
          const s = slotInfo.get(Number(slot));
          if (s && n > 0) s.canvas.dataset.frames = String(n);
        }
        per[i] = { drawn: m.drawn, open: m.open };
        stats.frames = per.reduce((a, p) => a + p.drawn, 0);
        stats.open = per.reduce((a, p) => a + p.open, 0);
        stats.latencies.push(...m.latencies);
        if (stats.latencies.length > 600) stats.latencies.splice(0, stats.latencies.length - 600);
        stats.firstFrame.push(...m.firstFrame);
        stats.errors.push(...m.errors);
      }
    };
    w.onerror = (e) => { stats.errors.push("worker: " + e.message); showError("The video worker failed: " + e.message); };
    workers.push(w);
  }
}
startWorkers();

// liveURL is a track's live socket. A tile starts at the cached keyframe
// alone (a picture at once, motion from the next keyframe: nothing to
// catch up on); a big view gets the whole cached GOP and plays on from it.
function liveURL(session, track, tile) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return proto + "//" + location.host + API + "sessions/" + encodeURIComponent(session) + "/live?track=" + track + (tile ? "&start=key" : "");
}

// LiveVideo plays one track of one session on a canvas while wanted.
class LiveVideo {
  constructor(session, track, canvas, onInfo, maxFps) {
    this.session = session;
    this.track = track;
    this.wanted = false;
    let c = canvasSlot.get(canvas);
    if (!c) {
      const slot = nextSlot++;
      c = { slot, worker: workers[slot % workers.length] };
      canvasSlot.set(canvas, c);
      const off = canvas.transferControlToOffscreen();
      c.worker.postMessage({ op: "canvas", slot, canvas: off, maxFps: maxFps || 0 }, [off]);
    }
    this.slot = c.slot;
    this.worker = c.worker;
    this.tile = !!maxFps;
    delete canvas.dataset.frames;
    slotInfo.set(this.slot, { canvas, onInfo: onInfo || (() => {}) });
  }

  want(on) {
    if (on === this.wanted) return;
    this.wanted = on;
    if (on) this.worker.postMessage({ op: "play", slot: this.slot, session: this.session, track: this.track, url: liveURL(this.session, this.track, this.tile) });
    else this.worker.postMessage({ op: "stop", slot: this.slot });
  }

  // drop forgets the canvas (its tile is gone).
  drop() {
    this.worker.postMessage({ op: "drop", slot: this.slot });
    slotInfo.delete(this.slot);
  }
}

// Tile is one session in the grid.
class Tile {
  constructor(s) {
    this.id = s.session_id;
    this.canvas = el("canvas", { width: 240, height: 180, "aria-hidden": "true" });
    this.name = el("span", { class: "name mono" }, shortID(this.id));
    this.conn = el("span", { class: "badge" });
    this.badges = el("span", { class: "badges" });
    this.info = el("span", { class: "info muted" });
    this.el = el("article", {
      class: "tile", role: "listitem", tabindex: "0", dataset: { session: this.id },
      onclick: () => openDetail(this.id),
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openDetail(this.id); } },
    },
    el("div", { class: "frame" }, this.canvas, this.info),
    el("div", { class: "meta" }, this.name, this.conn, this.badges));
    this.video = new LiveVideo(this.id, "camera", this.canvas, (t) => { this.info.textContent = t; }, TILE_FPS);
    this.visible = false;
  }

  update(s) {
    this.s = s;
    const c = connection(s, last && last.now);
    this.conn.className = "badge " + c.cls;
    this.conn.textContent = c.text;
    this.conn.title = c.title;
    const b = [];
    if (s.state === "paused") b.push(el("span", { class: "badge warn" }, "paused"));
    if (s.ending) b.push(el("span", { class: "badge warn" }, "ending"));
    for (const v of s.violations) {
      b.push(el("span", { class: "badge " + (v.severity === "high" || v.severity === "critical" ? "bad" : "warn"), title: v.summary }, v.code || "violation"));
    }
    const unread = unreadChat(s);
    if (unread) b.push(el("span", { class: "badge chat", title: "unread messages from the student" }, "✉ " + unread));
    if (s.backlog > 0) b.push(el("span", { class: "badge", title: "messages captured but not yet uploaded" }, "backlog " + s.backlog));
    if (s.integrity === "mismatch") b.push(el("span", { class: "badge bad" }, "integrity"));
    this.badges.replaceChildren(...b);
    this.el.classList.toggle("flagged", s.violations.length > 0 || unread > 0);
    this.el.setAttribute("aria-label", "Session " + this.id + ", " + c.text + (s.violations.length ? ", " + s.violations.length + " open violations" : "") + (unread ? ", " + unread + " unread messages" : ""));
  }

  sync() {
    this.video.want(this.visible && !document.hidden && !detail && !this.el.hidden);
  }
}

function shortID(id) { return id.length > 12 ? id.slice(0, 12) + "…" : id; }

// connection is what the tile says about the client's connection.
function connection(s, serverNow) {
  const age = s.last_heard && serverNow ? (Date.parse(serverNow) - Date.parse(s.last_heard)) / 1000 : null;
  const heard = age === null ? "nothing received yet" : "last data " + Math.max(0, Math.round(age)) + " s ago";
  if (s.connected) return { cls: "ok", text: "online", title: heard };
  return { cls: "bad", text: age === null ? "offline" : "offline " + fmtAge(age), title: heard };
}

function fmtAge(s) {
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  return Math.round(s / 3600) + " h";
}

function readKey(id) { return "invigil.chat.read." + id; }
function studentLines(s) { return s.chat.filter((c) => c.from === "student").length; }
function unreadChat(s) {
  const read = Number(localStorage.getItem(readKey(s.session_id)) || 0);
  return Math.max(0, studentLines(s) - read);
}
function markRead(s) { localStorage.setItem(readKey(s.session_id), String(studentLines(s))); }

const io = new IntersectionObserver((entries) => {
  for (const e of entries) {
    const t = tiles.get(e.target.dataset.session);
    if (!t) continue;
    t.visible = e.isIntersecting;
    t.sync();
  }
}, { rootMargin: "100px" });

function render(data) {
  last = data;
  const grid = document.getElementById("grid");
  const seen = new Set();
  const onlyFlagged = document.getElementById("only-flagged").checked;
  for (const s of data.sessions) {
    seen.add(s.session_id);
    let t = tiles.get(s.session_id);
    if (!t) {
      t = new Tile(s);
      tiles.set(s.session_id, t);
      grid.append(t.el);
      io.observe(t.el);
    }
    t.update(s);
    t.el.hidden = onlyFlagged && !t.el.classList.contains("flagged");
    t.sync();
  }
  for (const [id, t] of tiles) {
    if (!seen.has(id)) {
      t.video.drop();
      io.unobserve(t.el);
      t.el.remove();
      tiles.delete(id);
    }
  }
  const flagged = data.sessions.filter((s) => s.violations.length).length;
  document.getElementById("summary").textContent = data.sessions.length + " active session" + (data.sessions.length === 1 ? "" : "s") +
    (flagged ? " · " + flagged + " with open violations" : "");
  document.getElementById("empty").hidden = data.sessions.length > 0;
  if (detail) renderDetail();
}

// ---- the open session ----

const dlg = () => document.getElementById("detail");

function openDetail(id) {
  if (detail) closeDetail();
  detail = {
    id,
    cam: new LiveVideo(id, "camera", document.getElementById("big-camera"), (t) => { document.getElementById("big-camera-info").textContent = t; }),
    scr: new LiveVideo(id, "screen", document.getElementById("big-screen"), (t) => { document.getElementById("big-screen-info").textContent = t; }),
  };
  for (const t of tiles.values()) t.sync(); // the grid pauses while a session is open
  document.getElementById("detail-title").textContent = "Session " + id;
  renderDetail();
  dlg().showModal();
  detail.cam.want(true);
  detail.scr.want(true);
}

function closeDetail() {
  if (!detail) return;
  detail.cam.want(false);
  detail.scr.want(false);
  detail = null;
  if (dlg().open) dlg().close();
  for (const t of tiles.values()) t.sync();
}

function current() { return last && detail && last.sessions.find((s) => s.session_id === detail.id); }

function fmtClock(t) { return t ? new Date(t).toLocaleTimeString() : ""; }

const stateText = {
  queued: "sent, waiting for the client",
  delivered: "delivered to the client",
  acked: "done by the client",
  acknowledged: "acknowledged by the student",
  failed: "failed",
};

function renderDetail() {
  const s = current();
  const status = document.getElementById("detail-status");
  if (!s) {
    status.textContent = "no longer active";
    status.className = "badge";
    return;
  }
  const c = connection(s, last.now);
  status.className = "badge " + c.cls;
  status.textContent = c.text + (s.state === "paused" ? " · paused" : "") + (s.ending ? " · ending" : "");
  status.title = c.title + "; last stored message " + s.last_seq + (s.backlog ? "; " + s.backlog + " captured messages not yet uploaded" : "");
  document.getElementById("detail-violations").replaceChildren(
    ...(s.violations.length ? s.violations.map((v) => el("li", {}, el("span", { class: "badge bad" }, v.code), " ", v.summary, " ", el("span", { class: "muted" }, "since " + fmtClock(v.at))))
      : [el("li", { class: "muted" }, "none")]));
  const log = document.getElementById("chat-log");
  log.replaceChildren(...s.chat.map((m) => el("li", { class: m.from },
    el("span", { class: "who" }, m.from === "proctor" ? "You" : "Student"), " ",
    el("span", { class: "text" }, m.text), " ", el("span", { class: "muted" }, fmtClock(m.at)))));
  markRead(s);
  const tile = tiles.get(s.session_id);
  if (tile) tile.update(s);
  const cmds = [...s.commands].reverse();
  document.getElementById("commands").replaceChildren(...cmds.map((c) => el("li", { dataset: { command: c.command, state: c.state, id: c.id } },
    el("strong", {}, c.command), c.text ? " “" + c.text + "” " : " ",
    el("span", { class: "state " + c.state }, stateText[c.state] || c.state,
      c.state === "acknowledged" ? " at " + fmtClock(c.answered_at) : "",
      c.error ? ": " + c.error : ""),
    " ", el("span", { class: "muted" }, fmtClock(c.at)))));
  document.getElementById("pause").disabled = s.state === "paused" || s.ending;
  document.getElementById("resume").disabled = s.state !== "paused" || s.ending;
  document.getElementById("end").disabled = s.ending;
  const stills = s.snapshots.filter((p) => s.commands.some((c) => c.id === p.why)).slice(-3).reverse();
  const box = document.getElementById("stills");
  const want = stills.map((p) => String(p.seq)).join(",");
  if (box.dataset.seqs !== want) {
    box.dataset.seqs = want;
    box.replaceChildren(...stills.map((p) => el("figure", {},
      el("img", { src: API + "sessions/" + encodeURIComponent(s.session_id) + "/snapshots/" + p.seq, alt: "Snapshot of the " + p.source + " at " + fmtClock(p.at), width: 320 }),
      el("figcaption", { class: "muted" }, "Snapshot " + fmtClock(p.at)))));
  }
}

async function command(name, text) {
  if (!detail) return;
  try {
    await api("POST", "sessions/" + encodeURIComponent(detail.id) + "/commands", { command: name, text: text || "" });
    await poll();
  } catch (e) {
    showError(e);
  }
}

function wire() {
  document.getElementById("detail-close").addEventListener("click", closeDetail);
  dlg().addEventListener("close", () => { if (detail) closeDetail(); });
  document.getElementById("only-flagged").addEventListener("change", () => last && render(last));
  document.getElementById("chat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const inp = document.getElementById("chat-text");
    if (!inp.value.trim()) return;
    command("chat", inp.value.trim());
    inp.value = "";
  });
  document.getElementById("warn-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const inp = document.getElementById("warn-text");
    if (!inp.value.trim()) return;
    command("warn", inp.value.trim());
    inp.value = "";
  });
  document.getElementById("pause").addEventListener("click", () => command("pause", "Your proctor paused the exam."));
  document.getElementById("resume").addEventListener("click", () => command("resume"));
  document.getElementById("snapshot").addEventListener("click", () => command("snapshot"));
  const endDlg = document.getElementById("end-dialog");
  document.getElementById("end").addEventListener("click", () => {
    document.getElementById("end-reason").value = "";
    endDlg.showModal();
  });
  document.getElementById("end-cancel").addEventListener("click", () => endDlg.close());
  document.getElementById("end-form").addEventListener("submit", (e) => {
    const reason = document.getElementById("end-reason").value.trim();
    if (!reason) { e.preventDefault(); return; }
    command("end", reason);
  });
  document.addEventListener("visibilitychange", () => {
    for (const t of tiles.values()) t.sync();
    if (detail) { detail.cam.want(!document.hidden); detail.scr.want(!document.hidden); }
  });
}

let polling = false;
async function poll() {
  if (polling) return;
  polling = true;
  try {
    render(await api("GET", "exams/" + encodeURIComponent(exam) + "/live"));
    showError("");
  } catch (e) {
    showError(e);
  } finally {
    polling = false;
  }
}

async function main() {
  myUser = await requireLogin();
  header(myUser, "Live");
  if (!exam) throw new Error("No exam chosen: open the live grid from the exam list.");
  if (typeof VideoDecoder === "undefined") showError("This browser cannot decode video (no WebCodecs): use a current Chromium, Chrome, Edge or Firefox.");
  const exams = await api("GET", "exams");
  const e = exams.find((x) => x.id === exam);
  header(myUser, "Live: " + (e ? e.name : exam));
  if (myUser.user.role === "reviewer") {
    throw new Error("The live grid is for proctors and administrators; reviewers review the recordings.");
  }
  wire();
  await poll();
  setInterval(() => { if (!document.hidden) poll(); }, POLL_MS);
}

main().catch(showError);
