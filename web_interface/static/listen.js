// Listen to a live call: both sides, mixed, through an AudioWorklet (listen-worklet.js).
// The socket's binary messages are records of side (1 byte: 0 callee, 1 agent), sample
// rate (2 bytes) and length (2 bytes), big-endian, then μ-law samples
// (call_processor/live_listen.py). Listening changes nothing on the call.
(() => {
  const button = document.getElementById("listen");
  if (!button) return;
  const status = document.getElementById("listen-status");
  const ULAW = new Float32Array(256);
  for (let byte = 0; byte < 256; byte += 1) {
    const u = ~byte & 0xff;
    const magnitude = ((((u & 0x0f) << 3) + 0x84) << ((u >> 4) & 7)) - 0x84;
    ULAW[byte] = ((u & 0x80) ? -magnitude : magnitude) / 32768;
  }
  let socket = null;
  let context = null;

  function post(node, data) {
    const view = new DataView(data);
    let at = 0;
    while (at + 5 <= data.byteLength) {
      const side = view.getUint8(at);
      const rate = view.getUint16(at + 1);
      const length = view.getUint16(at + 3);
      const bytes = new Uint8Array(data, at + 5, Math.min(length, data.byteLength - at - 5));
      const samples = new Float32Array(bytes.length);
      bytes.forEach((b, i) => { samples[i] = ULAW[b]; });
      node.port.postMessage({ side, rate, samples }, [samples.buffer]);
      at += 5 + length;
    }
  }

  async function start() {
    button.disabled = true;
    context = new AudioContext();
    await context.audioWorklet.addModule("/static/listen-worklet.js");
    const node = new AudioWorkletNode(context, "call-mixer", { outputChannelCount: [1] });
    node.connect(context.destination);
    node.port.onmessage = (event) => {
      if (event.data.firstAudio && !document.body.dataset.listenFirstAudio) {
        document.body.dataset.listenFirstAudio = String(Date.now());
      }
    };
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/calls/${button.dataset.callId}/listen`);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      status.textContent = "Listening: you hear both sides; they cannot hear you.";
      button.textContent = "Stop listening";
      button.disabled = false;
    };
    socket.onmessage = (event) => post(node, event.data);
    socket.onclose = () => stop(socket && socket.readyState === WebSocket.CLOSED ? "The call is over or listening stopped." : "");
  }

  function stop(why = "") {
    const open = socket;
    socket = null;
    if (open && open.readyState <= WebSocket.OPEN) open.close();
    if (context) context.close();
    context = null;
    button.textContent = "Listen";
    button.disabled = false;
    status.textContent = why;
  }

  button.addEventListener("click", () => (socket ? stop() : start().catch((error) => stop(`Could not listen: ${error.message}`))));
})();
