// The live grid's video worker (live.js starts one). It owns the live
// sockets, the WebCodecs decoders and the canvases (OffscreenCanvas, one
// per slot: a tile or a big view), so that receiving, decoding and drawing
// never hold up the page's own thread: with many tiles the page stays
// responsive even when the machine cannot decode every frame.
//
// From the page: {op: "canvas", slot, canvas, maxFps}, {op: "play", slot,
// session, track, url}, {op: "stop", slot}, {op: "drop", slot}. To the page: {op: "info", slot, text}
// and, every 250 ms, {op: "stats", frames: {slot: n}, drawn, latencies,
// firstFrame, errors, open}.

const slots = new Map(); // slot → Player
let drawn = 0, open = 0;
let latencies = [], firstFrame = [], errors = [];

function now() { return performance.timeOrigin + performance.now(); }

// codecOf builds "avc1.PPCCLL" from the SPS of an Annex-B access unit.
function codecOf(au) {
  for (let i = 0; i + 4 < au.length; i++) {
    if (au[i] === 0 && au[i + 1] === 0 && au[i + 2] === 1) {
      if ((au[i + 3] & 0x1f) === 7 && i + 6 < au.length) {
        const hex = (b) => b.toString(16).padStart(2, "0");
        return "avc1." + hex(au[i + 4]) + hex(au[i + 5]) + hex(au[i + 6]);
      }
      i += 2;
    }
  }
  return "";
}

class Player {
  constructor(slot, canvas, maxFps) {
    this.slot = slot;
    this.minGap = maxFps ? 1000 / maxFps : 0;
    this.lastDraw = 0;
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { alpha: false });
    this.baseWidth = canvas.width;
    this.ws = null;
    this.decoder = null;
    this.frames = 0;
    this.info = "";
    this.retry = 0;
  }

  setInfo(text) {
    if (text === this.info) return;
    this.info = text;
    postMessage({ op: "info", slot: this.slot, text });
  }

  play(session, track, url) {
    if (this.ws && this.session === session && this.track === track) return;
    this.stop();
    if (this.session !== session || this.track !== track) {
      this.ctx.fillStyle = "#111";
      this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
      this.frames = 0;
    }
    this.session = session;
    this.track = track;
    this.url = url;
    this.wanted = true;
    this.connect();
  }

  connect() {
    clearTimeout(this.retry);
    if (!this.wanted) return;
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.opened = now();
    this.first = true;
    this.setInfo("connecting…");
    ws.onmessage = (ev) => { if (typeof ev.data !== "string") this.chunk(ev.data); };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopDecoder();
      if (this.wanted) {
        this.setInfo("reconnecting…");
        this.retry = setTimeout(() => this.connect(), 2000);
      }
    };
  }

  stop() {
    this.wanted = false;
    clearTimeout(this.retry);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close();
    this.stopDecoder();
  }

  stopDecoder() {
    if (this.decoder) {
      open--;
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
          error: (e) => { errors.push(String(e)); this.setInfo("decoder error"); this.stopDecoder(); },
        });
        // No description: the decoder takes Annex-B access units as the
        // client sends them (SPS and PPS in front of every keyframe).
        this.decoder.configure({ codec, optimizeForLatency: true });
        open++;
      } catch (e) {
        errors.push(String(e));
        this.setInfo("cannot decode " + codec);
        this.decoder = null;
        return;
      }
      this.needKey = false;
    }
    if (!key && (this.needKey || this.decoder.decodeQueueSize > 20)) {
      this.needKey = true; // behind: skip to the next keyframe
      return;
    }
    this.needKey = false;
    try {
      this.decoder.decode(new EncodedVideoChunk({ type: key ? "key" : "delta", timestamp: t, data }));
    } catch (e) {
      errors.push(String(e));
      this.stopDecoder();
    }
  }

  draw(frame) {
    // A tile draws at most maxFps pictures a second: converting and
    // scaling a camera frame costs more than decoding it.
    const t = performance.now();
    if (!this.wanted || (this.minGap && !this.first && t - this.lastDraw < this.minGap)) { frame.close(); return; }
    this.lastDraw = t;
    const c = this.canvas;
    const w = this.baseWidth;
    const h = Math.round(w * frame.displayHeight / frame.displayWidth) || c.height;
    if (c.width !== w) c.width = w;
    if (c.height !== h) c.height = h;
    this.ctx.drawImage(frame, 0, 0, w, h);
    const lag = now() - frame.timestamp / 1000;
    frame.close();
    drawn++;
    this.frames++;
    latencies.push(lag);
    if (this.first) {
      this.first = false;
      firstFrame.push(now() - this.opened);
    }
    this.setInfo(lag > 5000 ? "catching up, " + Math.round(lag / 1000) + " s behind" : "");
  }
}

onmessage = (ev) => {
  const m = ev.data;
  switch (m.op) {
    case "canvas":
      slots.set(m.slot, new Player(m.slot, m.canvas, m.maxFps));
      break;
    case "play":
      slots.get(m.slot)?.play(m.session, m.track, m.url);
      break;
    case "stop":
      slots.get(m.slot)?.stop();
      break;
    case "drop":
      slots.get(m.slot)?.stop();
      slots.delete(m.slot);
      break;
  }
};

setInterval(() => {
  const frames = {};
  for (const [slot, p] of slots) frames[slot] = p.frames;
  postMessage({ op: "stats", frames, drawn, latencies, firstFrame, errors, open });
  latencies = []; firstFrame = []; errors = [];
}, 250);
