// OpenDeep live page: one WebSocket per page for the person's events; questions from
// calls pop up on every open page; the call page streams its transcript and timeline.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const shown = new Map(); // request_id -> form element
const closed = new Set(); // request ids answered or expired: never shown again here

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function showQuestion(q) {
  const id = String(q.request_id);
  if (shown.has(id) || closed.has(id)) return;
  const form = document.getElementById("question-template").content.firstElementChild.cloneNode(true);
  form.dataset.requestId = id;
  form.querySelector(".q-text").textContent = q.question;
  const link = form.querySelector(".q-call");
  if (q.call_id) link.href = "/calls/" + encodeURIComponent(q.call_id); else link.remove();
  const countdown = form.querySelector(".q-countdown");
  const expires = q.expires_at ? Date.parse(q.expires_at) : null;
  const tick = () => {
    if (!expires) { countdown.textContent = ""; return; }
    const left = Math.max(0, Math.round((expires - Date.now()) / 1000));
    countdown.textContent = left > 0 ? `${left} s left` : "time is up";
    if (left === 0) closeQuestion(id, "Time is up: the call went on without your answer.");
  };
  form.querySelectorAll("[data-quick]").forEach((b) =>
    b.addEventListener("click", () => { form.answer.value = b.dataset.quick; form.answer.focus(); }));
  form.addEventListener("submit", (submit) => { submit.preventDefault(); sendAnswer(id, form); });
  document.getElementById("questions").appendChild(form);
  shown.set(id, form);
  form.timer = setInterval(tick, 1000);
  tick();
  form.answer.focus();
  notify(q.question);
}

function closeQuestion(id, message) {
  // Gone from this page for good: the floating form, and its card on the notifications page.
  closed.add(id);
  document.querySelectorAll(`[data-question-card="${id}"]`).forEach((card) => card.remove());
  const form = shown.get(id);
  if (!form || form.closing) return;
  form.closing = true;
  clearInterval(form.timer);
  form.querySelector(".q-status").textContent = message;
  form.querySelectorAll("button, textarea").forEach((n) => { n.disabled = true; });
  setTimeout(() => { form.remove(); shown.delete(id); }, 3000);
}

function onPending(ev) {
  // The socket's first message: every question still waiting, from the store. What this
  // page shows and the list lacks was answered or expired while the socket was away.
  const waiting = new Set(ev.questions.map((q) => String(q.request_id)));
  for (const id of [...shown.keys()]) {
    if (!waiting.has(id)) closeQuestion(id, "This question was answered elsewhere or has expired.");
  }
  document.querySelectorAll("[data-question-card]").forEach((card) => {
    if (!waiting.has(card.dataset.questionCard)) card.remove(); // closed as the page loaded
  });
  ev.questions.forEach(showQuestion);
}

function onQuestionClosed(ev) {
  const id = String(ev.request_id);
  if (shown.get(id)?.sending) { closed.add(id); return; } // this page's own answer: its reply says
  closeQuestion(id, ev.status === "answered" ? "Answered (on another page)." : "Expired: the call went on without an answer.");
}

async function sendAnswer(id, form) {
  const answer = form.answer.value.trim();
  if (!answer) { form.querySelector(".q-status").textContent = "Type an answer first."; return; }
  form.sending = true; // meanwhile this page's own answer, announced to all pages, is not news
  try {
    const response = await fetch(`/api/feedback/${id}/answer`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ answer }),
    });
    if (response.ok) {
      const body = await response.json();
      closeQuestion(id, body.delivered ? "Sent to the call." : "Saved, but the call had already moved on.");
    } else if (response.status === 409) {
      closeQuestion(id, "This question was already answered or has expired.");
    } else {
      form.querySelector(".q-status").textContent = "Could not send; try again.";
    }
  } catch {
    form.querySelector(".q-status").textContent = "Could not send; try again.";
  } finally {
    form.sending = false;
  }
}

function notify(text) {
  if (!("Notification" in window) || !document.hidden) return;
  if (Notification.permission === "granted") {
    new Notification("OpenDeep: the agent asks", { body: text });
  } else if (Notification.permission === "default") {
    Notification.requestPermission();
  }
}

function stamp(at) {
  return new Date(at).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

function onTurn(ev) {
  // In seq order, once each: the page's own turns, the catch-up fetch and the stream overlap.
  const call = document.getElementById("call");
  const list = document.getElementById("transcript");
  if (!call || !list || call.dataset.callId !== ev.call_id) return;
  if (list.querySelector(`[data-seq="${Number(ev.seq)}"]`)) return;
  const item = el("li", { class: `turn ${ev.speaker}`, "data-seq": ev.seq });
  item.appendChild(el("span", { class: "who" }, ev.speaker === "agent" ? "Agent" : "Them"));
  item.appendChild(document.createTextNode(" " + ev.text));
  const later = [...list.children].find((n) => Number(n.dataset.seq) > Number(ev.seq));
  list.insertBefore(item, later ?? null);
  document.getElementById("no-turns")?.remove();
}

function onCallEvent(ev) {
  const call = document.getElementById("call");
  if (call && call.dataset.callId === ev.call_id) addCallEvent({ id: ev.event_id, kind: ev.kind, at: ev.at });
}

function micros(at) {
  // The stored time to the microsecond (Date keeps milliseconds): the database's order.
  const fraction = (/\.(\d+)/.exec(at)?.[1] ?? "").padEnd(6, "0").slice(0, 6);
  return Math.floor(Date.parse(at) / 1000) * 1e6 + Number(fraction);
}

function addCallEvent(row) {
  // The timeline in (at, id) order, as the page rendered it; a row already there is skipped.
  const list = document.getElementById("timeline");
  if (!list || list.querySelector(`[data-event-id="${Number(row.id)}"]`)) return;
  const at = micros(row.at);
  const item = el("li", { "data-event-id": row.id, "data-at": row.at });
  item.appendChild(el("time", { datetime: row.at }, stamp(row.at)));
  item.appendChild(document.createTextNode(" — " + row.kind.replaceAll("_", " ")));
  const later = [...list.querySelectorAll("[data-event-id]")].find((n) => {
    const other = micros(n.dataset.at);
    return other > at || (other === at && Number(n.dataset.eventId) > Number(row.id));
  });
  list.insertBefore(item, later ?? null);
  document.getElementById("no-events")?.remove();
}

let holdTimer = null;

function showHold(box, since) {
  clearInterval(holdTimer);
  if (!since) { box.hidden = true; box.textContent = ""; return; }
  const start = Date.parse(since);
  const tick = () => {
    const held = Math.max(0, Math.floor((Date.now() - start) / 1000));
    box.textContent = `on hold ${Math.floor(held / 60)}:${String(held % 60).padStart(2, "0")}`;
  };
  tick();
  box.hidden = false;
  holdTimer = setInterval(tick, 1000);
}

function onHold(ev) {
  const call = document.getElementById("call");
  const box = document.getElementById("call-hold");
  if (!call || !box || call.dataset.callId !== ev.call_id) return;
  showHold(box, ev.on_hold ? ev.since : "");
}

function onActivity(ev) {
  if (ev.type === "call_status" || ev.status) {
    // Also on a call's own page, which has no activity feed.
    const call = document.getElementById("call");
    if (call && call.dataset.callId === ev.call_id && ev.status) showCallStatus(ev.status);
  }
  const feed = document.getElementById("activity");
  if (!feed || !ev.call_id) return;
  const item = el("li");
  const what = ev.type === "turn" ? `${ev.speaker === "agent" ? "Agent" : "Callee"}: ${ev.text}`
    : ev.type === "feedback_request" ? `Question: ${ev.question}`
    : ev.type === "call_hold" ? (ev.on_hold ? "on hold" : "off hold")
    : ev.type === "call_event" ? ev.kind.replaceAll("_", " ")
    : ev.type.replaceAll("_", " ") + (ev.status ? `: ${ev.status.replaceAll("_", " ")}` : "");
  item.appendChild(el("a", { href: "/calls/" + encodeURIComponent(ev.call_id) }, what));
  feed.prepend(item);
  document.getElementById("no-activity")?.remove();
  while (feed.children.length > 50) feed.lastElementChild.remove();
}

function showCallStatus(status) {
  document.getElementById("call-status").textContent = status.replaceAll("_", " ");
  // The call is over: nothing left to hang up or take over, and the page says so.
  if (!["dialing", "ringing", "answered"].includes(status)) {
    document.getElementById("call-controls")?.remove();
    const ended = document.getElementById("call-ended");
    if (ended) ended.hidden = false;
  }
}

async function refreshCall() {
  // Events between the page's rendering and its socket opening are not replayed: once the
  // socket listens, catch up on the call's status, turns and timeline (e.g. after a hang-up's
  // redirect, or a reconnect); what the stream also brings is shown once.
  const call = document.getElementById("call");
  if (!call) return;
  const response = await fetch("/api/calls/" + encodeURIComponent(call.dataset.callId),
    { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const found = await response.json();
  found.turns.forEach((t) => onTurn({ call_id: found.id, seq: t.seq, speaker: t.speaker, text: t.text }));
  found.events.forEach(addCallEvent);
  showCallStatus(found.status);
}

function onTaskStatus(ev) {
  const badge = document.querySelector(`[data-task-status="${ev.task_id}"]`);
  if (badge) badge.textContent = ev.to_status.replaceAll("_", " ");
  const list = document.querySelector(`ol.timeline[data-task-id="${ev.task_id}"]`);
  if (!list || list.querySelector(`[data-event-id="${ev.event_id}"]`)) return;
  const item = el("li", { "data-event-id": ev.event_id });
  item.appendChild(el("time", { datetime: ev.at }, new Date(ev.at).toISOString().slice(0, 19).replace("T", " ") + " UTC"));
  item.appendChild(document.createTextNode(` ${(ev.from_status || "new").replaceAll("_", " ")} → `));
  item.appendChild(el("strong", {}, ev.to_status.replaceAll("_", " ")));
  item.appendChild(el("span", { class: "muted" }, ` ${ev.actor}${ev.reason ? ": " + ev.reason : ""}`));
  list.appendChild(item);
}

function connect(delay = 500) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/ws/events`);
  ws.onopen = () => { delay = 500; refreshCall(); };
  ws.onmessage = (msg) => {
    const ev = JSON.parse(msg.data);
    if (ev.type === "feedback_request") showQuestion(ev);
    if (["feedback_request", "questions_pending", "feedback_closed", "notification", "call_status"].includes(ev.type)) refreshBadge();
    if (ev.type === "questions_pending") { onPending(ev); return; }
    if (ev.type === "feedback_closed") { onQuestionClosed(ev); return; }
    if (ev.type === "turn") onTurn(ev);
    if (ev.type === "call_event") onCallEvent(ev);
    if (ev.type === "call_hold") onHold(ev);
    if (ev.type === "task_status") { onTaskStatus(ev); return; }
    onActivity(ev);
  };
  ws.onclose = (closed) => {
    if (closed.code === 4008) { liveStopped(closed.reason); return; } // a newer page took over
    setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
  };
}

function liveStopped(reason) {
  const status = document.getElementById("live-status");
  if (!status) return;
  status.textContent = `Live updates stopped here: ${reason || "another page took over"}. Reload to resume.`;
  status.hidden = false;
}

async function refreshBadge() {
  const badge = document.getElementById("notifications-badge");
  const response = await fetch("/api/notifications", { headers: { Accept: "application/json" } });
  if (!badge || !response.ok) return;
  const { unread } = await response.json();
  badge.textContent = unread;
  badge.hidden = unread === 0;
  badge.setAttribute("aria-label", `${unread} need you`);
}

const holdBox = document.getElementById("call-hold");
if (holdBox && holdBox.dataset.since) showHold(holdBox, holdBox.dataset.since);

if (document.body.dataset.live) {
  connect(); // its first message lists the questions waiting: shown at once
  refreshBadge();
}

// A recorded call: a click (or Enter) on a line of the transcript plays the recording from there.
function seekRecording(event) {
  const line = event.target.closest("[data-seek]");
  const audio = document.getElementById("recording");
  if (!line || !audio) return;
  if (event.type === "keydown" && event.key !== "Enter") return;
  audio.currentTime = Number(line.dataset.seek);
  audio.play().catch(() => {}); // autoplay may be refused; the position is set either way
}
document.getElementById("transcript")?.addEventListener("click", seekRecording);
document.getElementById("transcript")?.addEventListener("keydown", seekRecording);
