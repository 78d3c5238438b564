// The live grid (docs/dashboard.md "Live"): every active session of an exam
// as a tile with its camera, state and badges; a click opens the session
// big (camera and screen) with chat, warn, pause/resume, end and snapshot.
//
// Video: the backend relays the client's H.264 access units (Annex-B) over
// a websocket per track; WebCodecs' VideoDecoder decodes them (configured
// without a description, so it takes Annex-B as it comes) and each frame is
// drawn to a canvas. Only tiles on screen decode: a tile scrolled away, or
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

function now() { return performance.timeOrigin + performance.now(); }

// codecOf builds "avc1.PPCCLL" from the SPS of an Annex-B access unit.
function codecOf(au) {
  for (let i = 0; i + 4 < au.length; i++) {
    if (au[i] === 0 && au[i + 1] === 0 && au[i + 2] === 1) {
      const nal = au[i + 3];
      if ((nal & 0x1f) === 7 && i + 6 < au.length) {
        const hex = (b) => b.toString(16).padStart(2, "0");
        return "avc1." + hex(au[i + 4]) + hex(au[i + 5]) + hex(au[i + 6]);
      }
      i += 2;
    }
  }
  return "";
}

// LiveVideo plays one track of one session on a canvas while wanted.
class LiveVideo {
  constructor(session, track, canvas, onInfo) {
    this.session = session;
    this.track = track;
    this.canvas = canvas;
    this.ctx2d = canvas.getContext("2d", { alpha: false });
    this.onInfo = onInfo || (() => {});
    this.wanted = false;
    this.ws = null;
    this.decoder = null;
    this.needKey = true;
    this.retry = 0;
    this.lag = null;
  }

  want(on) {
    if (on === this.wanted) return;
    this.wanted = on;
    if (on) this.open();
    else this.close();
  }

  open() {
    clearTimeout(this.retry);
    if (this.ws || !this.wanted) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const url = proto + "//" + location.host + API + "sessions/" + encodeURIComponent(this.session) + "/live?track=" + this.track;
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.opened = now();
    this.first = true;
    this.onInfo("connecting…");
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") return; // hello
      this.chunk(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopDecoder();
      if (ev.code === 1008 || ev.code === 4403) { this.onInfo("not allowed"); return; }
      if (this.wanted) {
        this.onInfo("reconnecting…");
        this.retry = setTimeout(() => this.open(), 2000);
      }
    };
  }

  close() {
    clearTimeout(this.retry);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close();
    this.stopDecoder();
  }

  stopDecoder() {
    if (this.decoder) {
      stats.open--;
      if (this.decoder.state !== "closed") this.decoder.close();
    }
    this.decoder = null;
    this.needKey = true;
  }

  chunk(buf) {
    if (buf.byteLength < 18) return;
    const dv = new DataView(buf);
    const key = (dv.getUint8(0) & 1) === 1;
    const t = Number(dv.getBigUint64(9)); // capture time, µs
    const data = new Uint8Array(buf, 17);
    if (!this.decoder) {
      if (!key) return;
      const codec = codecOf(data);
      if (!codec) return;
      try {
        this.decoder = new VideoDecoder({
          output: (f) => this.draw(f),
          error: (e) => { stats.errors.push(String(e)); this.onInfo("decoder error"); this.stopDecoder(); },
        });
        this.decoder.configure({ codec, optimizeForLatency: true });
        stats.open++;
      } catch (e) {
        stats.errors.push(String(e));
        this.onInfo("cannot decode " + codec);
        this.decoder = null;
        return;
      }
      this.needKey = false;
    }
    if (!key && (this.needKey || this.decoder.decodeQueueSize > 20)) {
      this.needKey = true; // behind: wait for the next keyframe
      return;
    }
    this.needKey = false;
    try {
      this.decoder.decode(new EncodedVideoChunk({ type: key ? "key" : "delta", timestamp: t, data }));
    } catch (e) {
      stats.errors.push(String(e));
      this.stopDecoder();
    }
  }

  draw(frame) {
    const c = this.canvas;
    const w = c.width, h = Math.round(c.width * frame.displayHeight / frame.displayWidth) || c.height;
    if (c.height !== h) c.height = h;
    this.ctx2d.drawImage(frame, 0, 0, w, h);
    const lag = now() - frame.timestamp / 1000;
    frame.close();
    stats.frames++;
    stats.latencies.push(lag);
    if (stats.latencies.length > 600) stats.latencies.shift();
    if (this.first) {
      this.first = false;
      stats.firstFrame.push(now() - this.opened);
    }
    this.lag = lag;
    c.dataset.frames = String((Number(c.dataset.frames) || 0) + 1);
    this.onInfo(lag > 5000 ? "catching up, " + Math.round(lag / 1000) + " s behind" : "");
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
    this.video = new LiveVideo(this.id, "camera", this.canvas, (t) => { this.info.textContent = t; });
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
      t.video.want(false);
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
