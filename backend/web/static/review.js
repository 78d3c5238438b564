import { api, el, fmtDuration, fmtTime, header, param, requireLogin, showError } from "./common.js";

// The review page: an exam's attempts (?exam=ID), or one attempt
// (?session=ID) with its camera and screen in one synced player, the
// timeline of violations, proctor actions and gaps, stills, outcome,
// legal hold, notes and the evidence bundle.

const OUTCOMES = { "": "not reviewed", no_issue: "no issue", suspicious: "suspicious", violation: "violation" };

async function main() {
  const me = await requireLogin();
  const session = param("session");
  if (session) return showAttempt(me, session);
  const exam = param("exam");
  if (!exam) { location.href = "/"; return; }
  return showList(me, exam);
}

// --- the list of attempts ---

async function showList(me, exam) {
  header(me, "Review");
  document.getElementById("list").hidden = false;
  const form = document.getElementById("filters");
  const load = async () => {
    const q = new URLSearchParams(new FormData(form));
    const attempts = await api("GET", "exams/" + encodeURIComponent(exam) + "/attempts?" + q);
    const body = document.querySelector("#attempts tbody");
    body.replaceChildren(...attempts.map((a) => el("tr", { class: a.purged ? "purged" : "", dataset: { session: a.session_id } },
      el("td", { class: "mono" }, a.session_id, a.client ? el("div", { class: "muted" }, a.client) : null),
      el("td", {}, fmtTime(a.created_at)),
      el("td", {}, a.purged ? "deleted (retention)" : a.state),
      el("td", {}, a.violations ? el("span", { class: "badge " + (a.critical ? "bad" : "warn") },
        a.violations + (a.critical ? " (" + a.critical + " critical)" : "")) : "0"),
      el("td", {}, OUTCOMES[a.review.outcome] || a.review.outcome),
      el("td", {}, a.review.hold ? el("span", { class: "badge" }, "on hold") : ""),
      el("td", {}, a.purged ? "" : el("a", { href: "/review?session=" + encodeURIComponent(a.session_id) }, "Review")),
    )));
    if (!attempts.length) body.append(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No attempts match.")));
  };
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load().catch(showError); });
  const exams = await api("GET", "exams");
  const e = exams.find((x) => x.id === exam);
  header(me, "Review · " + (e ? e.name : exam));
  await load();
}

// --- one attempt ---

// TrackPlayer feeds one fragmented MP4 recording to a <video> through
// Media Source Extensions, a chunk at a time, and keeps asking for more
// while the attempt is still recording (the backend serves only whole,
// committed fragments, so any byte range it gives is safe to append).
class TrackPlayer {
  constructor(video, track) {
    this.video = video;
    this.track = track;
    this.offset = 0;
    this.done = false; // the file has no more bytes for now
    this.busy = null;
  }

  async open() {
    const type = 'video/mp4; codecs="' + this.track.codec + '"';
    if (!window.MediaSource || !MediaSource.isTypeSupported(type)) {
      throw new Error("This browser cannot play " + type + ".");
    }
    this.ms = new MediaSource();
    this.video.src = URL.createObjectURL(this.ms);
    await new Promise((ok) => this.ms.addEventListener("sourceopen", ok, { once: true }));
    this.sb = this.ms.addSourceBuffer(type);
    await this.more();
  }

  bufferedEnd() {
    const b = this.sb && this.sb.buffered;
    return b && b.length ? b.end(b.length - 1) : 0;
  }

  // more fetches and appends the next chunk; false when nothing is new.
  more() {
    if (!this.busy) this.busy = this.fetchChunk().finally(() => { this.busy = null; });
    return this.busy;
  }

  async fetchChunk() {
    const CHUNK = 4 << 20;
    const res = await fetch(this.track.url, {
      credentials: "same-origin",
      headers: { Range: "bytes=" + this.offset + "-" + (this.offset + CHUNK - 1) },
    });
    if (res.status === 416) { this.done = true; return false; }
    if (!res.ok) throw new Error(this.track.name + " recording: HTTP " + res.status);
    const buf = await res.arrayBuffer();
    if (!buf.byteLength) { this.done = true; return false; }
    await this.append(buf);
    this.offset += buf.byteLength;
    this.done = buf.byteLength < CHUNK;
    return true;
  }

  async append(buf) {
    for (let attempt = 0; ; attempt++) {
      try {
        await new Promise((ok, fail) => {
          this.sb.addEventListener("updateend", ok, { once: true });
          this.sb.addEventListener("error", fail, { once: true });
          this.sb.appendBuffer(buf);
        });
        return;
      } catch (e) {
        // Quota: drop what lies well behind the playhead, then retry.
        if (e.name !== "QuotaExceededError" || attempt > 0) throw e;
        const behind = this.video.currentTime - 30;
        if (behind <= 0) throw e;
        await new Promise((ok) => {
          this.sb.addEventListener("updateend", ok, { once: true });
          this.sb.remove(0, behind);
        });
      }
    }
  }

  // fill loads chunks until the buffer reaches t (seconds) or the file ends.
  async fill(t) {
    while (this.bufferedEnd() < t && await this.more()) { /* next chunk */ }
  }
}

async function showAttempt(me, id) {
  const d = await api("GET", "sessions/" + encodeURIComponent(id) + "/review");
  header(me, "Review · " + d.exam.name);
  document.getElementById("attempt").hidden = false;
  document.getElementById("back").href = "/review?exam=" + encodeURIComponent(d.exam.id);
  document.getElementById("summary").textContent =
    [d.session.session_id, d.client, d.session.state, fmtTime(d.session.created_at)].filter(Boolean).join(" · ");
  const evidence = document.getElementById("evidence");
  evidence.href = "/api/v1/dashboard/sessions/" + encodeURIComponent(id) + "/evidence.zip";

  // The attempt's time span, in capture time (ms since 1970).
  const times = [];
  for (const v of d.videos) {
    const t = d.session.tracks.find((x) => x.name === v.name);
    const s = Date.parse(v.start);
    times.push(s, s + (t ? t.duration_s * 1000 : 0));
  }
  for (const e of d.events) if (e.time && !e.time.startsWith("0001")) times.push(Date.parse(e.time));
  const start = times.length ? Math.min(...times) : Date.parse(d.session.created_at);
  const end = Math.max(start + 1000, ...times);

  // Players: the first video leads, the other follows it.
  const players = [];
  for (const v of d.videos) {
    const video = document.getElementById(v.name);
    if (!video) continue;
    const p = new TrackPlayer(video, v);
    p.offsetMs = Date.parse(v.start) - start; // where media time 0 sits on the timeline
    players.push(p);
  }
  for (const name of ["camera", "screen"]) {
    if (!d.videos.some((v) => v.name === name)) {
      document.getElementById(name).replaceWith(el("p", { class: "muted" }, "No " + name + " recording."));
    }
  }
  await Promise.all(players.map((p) => p.open()));
  const lead = players[0];

  const position = () => (lead ? lead.offsetMs + lead.video.currentTime * 1000 : 0);
  const clock = document.getElementById("clock");
  const cursor = el("div", { class: "cursor" });
  const timeline = document.getElementById("timeline");
  const pct = (t) => (100 * (t - start) / (end - start)) + "%";

  async function seekTo(t) {
    // t: capture time (ms). Each video goes to its own media time.
    await Promise.all(players.map(async (p) => {
      const mt = Math.max(0, (t - start - p.offsetMs) / 1000);
      await p.fill(mt + 2);
      p.video.currentTime = mt;
    }));
    render();
  }

  function render() {
    const pos = position();
    clock.textContent = fmtDuration(pos) + " / " + fmtDuration(end - start);
    cursor.style.left = pct(start + pos);
  }

  // Timeline: gaps, violations, proctor actions; a click anywhere seeks.
  timeline.replaceChildren();
  for (const g of d.gaps) {
    timeline.append(el("div", { class: "gap", title: "No recording " + fmtTime(g.from) + " – " + fmtTime(g.to),
      style: { left: pct(Date.parse(g.from)), width: "calc(" + pct(Date.parse(g.to)) + " - " + pct(Date.parse(g.from)) + ")" } }));
  }
  const markers = [];
  for (const e of d.events) {
    if (e.type !== "violation.open") continue;
    const t = Date.parse(e.time);
    const sev = e.body.severity === "critical" ? "critical" : "warning";
    markers.push({ t, cls: sev, label: (e.body.summary || e.body.code || "violation") + " (" + sev + ")" });
  }
  for (const c of d.commands) {
    markers.push({ t: Date.parse(c.created_at), cls: "command", label: "Proctor: " + c.command + (c.text ? " – " + c.text : "") });
  }
  for (const m of markers) {
    timeline.append(el("button", {
      type: "button", class: "marker " + m.cls, style: { left: pct(m.t) },
      title: m.label + " at " + fmtDuration(m.t - start), "aria-label": m.label + " at " + fmtDuration(m.t - start),
      dataset: { time: String(m.t) },
      onclick: (ev) => { ev.stopPropagation(); seekTo(m.t).catch(showError); },
    }));
  }
  timeline.append(cursor);
  timeline.addEventListener("click", (ev) => {
    const r = timeline.getBoundingClientRect();
    seekTo(start + (ev.clientX - r.left) / r.width * (end - start)).catch(showError);
  });

  // Events table: each time seeks.
  document.querySelector("#events tbody").replaceChildren(...d.events.map((e) => {
    const t = Date.parse(e.time);
    const detail = { ...e.body };
    delete detail.type;
    return el("tr", { class: e.type.startsWith("violation") ? "violation" : "" },
      el("td", {}, el("button", { type: "button", class: "link", onclick: () => seekTo(t).catch(showError) }, fmtDuration(t - start))),
      el("td", {}, e.type),
      el("td", { class: "muted" }, JSON.stringify(detail)));
  }));

  // Playback: one button for both; the follower is kept in step.
  const play = document.getElementById("play");
  play.addEventListener("click", async () => {
    if (lead && lead.video.paused) {
      await Promise.all(players.map((p) => p.video.play().catch(() => {})));
      play.textContent = "Pause";
    } else {
      players.forEach((p) => p.video.pause());
      play.textContent = "Play";
    }
  });
  document.getElementById("rate").addEventListener("change", (ev) => {
    players.forEach((p) => { p.video.playbackRate = Number(ev.target.value); });
  });
  if (lead) {
    lead.video.addEventListener("timeupdate", () => {
      render();
      const pos = position();
      for (const p of players.slice(1)) {
        const want = (pos - p.offsetMs) / 1000;
        if (want >= 0 && Math.abs(p.video.currentTime - want) > 0.3) p.video.currentTime = want;
      }
      // Keep a minute buffered ahead.
      for (const p of players) {
        if (!p.done && p.bufferedEnd() < p.video.currentTime + 60) p.more().catch(showError);
      }
    });
    lead.video.addEventListener("ended", () => { play.textContent = "Play"; });
  }
  render();

  // While the attempt records, new fragments arrive: ask every 5 s.
  if (d.session.state === "active" || d.session.state === "paused") {
    document.getElementById("live").hidden = false;
    setInterval(() => players.forEach((p) => { p.done = false; p.more().catch(() => {}); }), 5000);
  }

  // Stills.
  document.getElementById("stills").replaceChildren(...d.stills.map((s) => el("figure", {},
    el("a", { href: s.url, target: "_blank", rel: "noopener" }, el("img", { src: s.url, alt: stillLabel(s) })),
    el("figcaption", {}, stillLabel(s) + " · " + fmtDuration(Date.parse(s.time) - start)))));
  if (!d.stills.length) document.getElementById("stills").append(el("p", { class: "muted" }, "No stills."));

  // Outcome, hold, notes.
  const outcome = document.getElementById("outcome");
  outcome.outcome.value = d.review.outcome || "";
  outcome.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await api("PUT", "sessions/" + encodeURIComponent(id) + "/outcome", { outcome: outcome.outcome.value }).catch(showError);
    if (r) document.getElementById("outcome-saved").textContent = "Saved by " + r.updated_by + ".";
  });
  const hold = document.getElementById("hold");
  hold.hold.checked = d.review.hold;
  hold.hold_reason.value = d.review.hold_reason || "";
  if (me.user.role === "proctor") hold.querySelectorAll("input,button").forEach((x) => { x.disabled = true; });
  hold.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await api("PUT", "sessions/" + encodeURIComponent(id) + "/hold",
      { hold: hold.hold.checked, hold_reason: hold.hold_reason.value }).catch(showError);
    if (r) document.getElementById("hold-saved").textContent = r.hold ? "On hold." : "Hold released.";
  });
  const notes = document.getElementById("notes");
  const showNote = (n) => notes.append(el("li", {}, el("strong", {}, n.author), " · ", el("span", { class: "muted" }, fmtTime(n.created_at)), el("div", {}, n.text)));
  d.notes.forEach(showNote);
  const note = document.getElementById("note");
  note.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const n = await api("POST", "sessions/" + encodeURIComponent(id) + "/notes", { text: note.text.value }).catch(showError);
    if (n) { showNote(n); note.reset(); }
  });
}

function stillLabel(s) {
  const why = { id_photo: "ID photo", room_scan: "Room scan" }[s.why] || (s.why ? "Proctor's snapshot" : "Still");
  return why + (s.source ? " (" + s.source + ")" : "");
}

main().catch(showError);
