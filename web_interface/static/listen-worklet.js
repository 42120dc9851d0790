// The mixer behind listen.js: one queue per side of the call, resampled to the output
// rate and summed. A side more than 300 ms behind drops its oldest audio, so what you hear
// stays close to real time. A side that ran dry waits for 120 ms of audio before it plays
// again: the callee's audio comes a read at a time (100 ms, docs/architecture.md, Caller
// audio to the model) and the bus delivers it with some jitter, so playing each piece as
// it lands would stutter.
const MAX_BEHIND = 0.3;
const START_AFTER = 0.12;
const HEARD = 0.01; // RMS of a word, well above a quiet line

class Side {
  constructor() {
    this.chunks = []; this.pos = 0; this.rate = 8000; this.buffered = 0; this.playing = false;
    this.lastPush = 0;
  }

  push(samples, rate) {
    this.lastPush = currentTime;
    this.rate = rate;
    this.chunks.push(samples);
    this.buffered += samples.length;
    while (this.buffered > rate * MAX_BEHIND && this.chunks.length > 1) {
      this.buffered -= this.chunks.shift().length;
      this.pos = 0;
    }
  }

  mixInto(out, outRate) {
    // A short piece with nothing behind it (the last words before a pause) plays too,
    // once nothing more has come for START_AFTER.
    const waited = currentTime - this.lastPush >= START_AFTER;
    if (!this.playing && this.buffered < this.rate * START_AFTER && !waited) return;
    this.playing = true;
    const step = this.rate / outRate;
    for (let i = 0; i < out.length && this.chunks.length; i += 1) {
      out[i] += this.chunks[0][Math.floor(this.pos)];
      this.pos += step;
      while (this.chunks.length && this.pos >= this.chunks[0].length) {
        this.pos -= this.chunks[0].length;
        this.buffered -= this.chunks.shift().length;
      }
    }
    if (!this.chunks.length) this.playing = false;
  }
}

class CallMixer extends AudioWorkletProcessor {
  constructor() {
    super();
    this.sides = [new Side(), new Side()];
    this.told = false;
    this.port.onmessage = (event) => {
      const { side, rate, samples } = event.data;
      if (side > 1) return;
      this.sides[side].push(samples, rate);
      if (!this.told && rms(samples) > HEARD) {
        this.told = true; // the page times the first audio it was given
        this.port.postMessage({ firstAudio: true });
      }
    };
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    out.fill(0);
    this.sides.forEach((side) => side.mixInto(out, sampleRate));
    for (let i = 0; i < out.length; i += 1) out[i] = Math.max(-1, Math.min(1, out[i]));
    return true;
  }
}

function rms(samples) {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / Math.max(1, samples.length));
}

registerProcessor("call-mixer", CallMixer);
