// The planning chat: streamed replies (server-sent events read from a POST with fetch),
// the plan as an editable table with its answering-machine and hold options, "Confirm
// and schedule" creating the campaign.
"use strict";

(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const log = document.getElementById("chat-log");
  const form = document.getElementById("chat-form");
  const status = document.getElementById("chat-status");
  const planBox = document.getElementById("plan");
  const rows = document.querySelector("#plan-tasks tbody");
  const problemsBox = document.getElementById("plan-problems");
  let plan = JSON.parse(document.getElementById("plan-data").textContent);
  const TOOL_NAMES = { lookup_businesses: "Looking up businesses…", propose_plan: "Checking the plan…" };
  const COLUMNS = [
    ["contact_name", "Who", "text"], ["phone_number", "Number", "tel"],
    ["objective", "Objective", "area"], ["success_criteria", "Success means", "area"],
    ["max_attempts", "Attempts", "number"],
  ];

  function line(role, text) {
    const item = document.createElement("li");
    item.className = "turn " + (role === "user" ? "callee" : "agent");
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = role === "user" ? "You" : "Assistant";
    item.append(who, document.createTextNode(" "));
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    item.appendChild(body);
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return body;
  }

  function cell(task, index, [key, label, kind]) {
    const td = document.createElement("td");
    td.dataset.label = label;
    const input = document.createElement(kind === "area" ? "textarea" : "input");
    if (kind !== "area") input.type = kind;
    if (kind === "number") { input.min = 1; input.max = 20; }
    if (kind === "area") input.rows = 2;
    input.value = task[key] ?? "";
    input.dataset.key = key;
    input.setAttribute("aria-label", `${label}, call ${index + 1}`);
    td.appendChild(input);
    return td;
  }

  function renderPlan(next) {
    plan = next;
    if (!plan) { planBox.hidden = true; return; }
    document.getElementById("plan-name").value = plan.name ?? "";
    document.getElementById("plan-goal").value = plan.goal ?? "";
    document.getElementById("plan-stop").value = plan.stop_after_successes ?? "";
    document.getElementById("plan-voicemail").value = plan.voicemail_policy ?? "hang_up_and_retry";
    document.getElementById("plan-message-counts").checked = Boolean(plan.voicemail_message_counts);
    document.getElementById("plan-hold").value = plan.max_hold_minutes ?? 30;
    document.getElementById("plan-amd").checked = Boolean(plan.asterisk_amd);
    document.getElementById("plan-recording").value = plan.recording ?? "off";
    rows.replaceChildren();
    (plan.tasks || []).forEach((task, index) => {
      const tr = document.createElement("tr");
      COLUMNS.forEach((column) => tr.appendChild(cell(task, index, column)));
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", `Remove call ${index + 1}`);
      remove.addEventListener("click", () => { const p = readPlan(); p.tasks.splice(index, 1); renderPlan(p); });
      const td = document.createElement("td");
      td.appendChild(remove);
      tr.appendChild(td);
      rows.appendChild(tr);
    });
    planBox.hidden = false;
  }

  function readPlan() {
    const stop = document.getElementById("plan-stop").value;
    const tasks = [...rows.children].map((tr, index) => {
      const task = { ...((plan.tasks || [])[index] || {}) }; // keeps windows, context, zones
      tr.querySelectorAll("[data-key]").forEach((input) => {
        task[input.dataset.key] = input.dataset.key === "max_attempts" ? Number(input.value || 1) : input.value;
      });
      return task;
    });
    const hold = document.getElementById("plan-hold").value;
    return {
      ...plan,
      name: document.getElementById("plan-name").value,
      goal: document.getElementById("plan-goal").value,
      stop_after_successes: stop ? Number(stop) : null,
      voicemail_policy: document.getElementById("plan-voicemail").value,
      voicemail_message_counts: document.getElementById("plan-message-counts").checked,
      max_hold_minutes: hold ? Number(hold) : 30,
      asterisk_amd: document.getElementById("plan-amd").checked,
      recording: document.getElementById("plan-recording").value,
      tasks,
    };
  }

  function showProblems(list) {
    problemsBox.replaceChildren();
    if (!list.length) return;
    const intro = document.createElement("p");
    intro.textContent = "Nothing was scheduled:";
    const ul = document.createElement("ul");
    list.forEach((text) => { const li = document.createElement("li"); li.textContent = text; ul.appendChild(li); });
    problemsBox.append(intro, ul);
  }

  function onEvent(ev, reply) {
    if (ev.type === "conversation") {
      log.dataset.conversationId = ev.id;
      history.replaceState(null, "", `/chat?c=${ev.id}`);
    } else if (ev.type === "delta") {
      reply.textContent += ev.text;
      log.scrollTop = log.scrollHeight;
    } else if (ev.type === "tool") {
      status.textContent = TOOL_NAMES[ev.name] || "Working…";
    } else if (ev.type === "plan") {
      renderPlan(ev.plan);
      showProblems([]);
    } else if (ev.type === "problems") {
      showProblems(ev.problems);
    } else if (ev.type === "error") {
      status.textContent = ev.message;
    } else if (ev.type === "done") {
      if (!status.textContent.startsWith("The assistant")) status.textContent = "";
    }
  }

  async function send(text) {
    line("user", text);
    const reply = line("assistant", "");
    status.textContent = "The assistant is typing…";
    const id = log.dataset.conversationId;
    const response = await fetch("/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "text/event-stream" },
      body: JSON.stringify({ conversation_id: id ? Number(id) : null, message: text }),
    });
    if (!response.ok) {  // nothing was stored: put the words back for a retry
      const body = await response.json().catch(() => ({}));
      status.textContent = typeof body.detail === "string" ? body.detail : "Could not send; try again.";
      reply.parentElement.previousElementSibling.remove();
      reply.parentElement.remove();
      form.message.value = text;
      return;
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (data) onEvent(JSON.parse(data), reply);
      }
    }
    if (!reply.textContent) reply.parentElement.remove();
  }

  async function confirm() {
    const id = log.dataset.conversationId;
    const button = document.getElementById("plan-confirm");
    button.disabled = true;
    try {
      const url = id ? `/api/chat/${id}/confirm` : "/api/campaigns";  // by hand: no chat
      const response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ plan: readPlan() }),
      });
      const body = await response.json();
      if (response.status === 201) { location.href = `/campaigns/${body.campaign_id}`; return; }
      if (response.status === 422 && Array.isArray(body.detail)) {
        showProblems(body.detail.map((d) => d.msg));
      } else {
        showProblems([body.detail || "Could not schedule; try again."]);
      }
    } finally {
      button.disabled = false;
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = form.message.value.trim();
    if (!text) return;
    form.message.value = "";
    form.querySelector("button").disabled = true;
    try { await send(text); } finally { form.querySelector("button").disabled = false; form.message.focus(); }
  });
  form.message.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
  });
  const blankCall = (goal) => ({ contact_name: "", phone_number: "", objective: goal || "", success_criteria: "", max_attempts: 3 });
  function startByHand() {
    if (!plan) renderPlan({ name: "", goal: "", tasks: [blankCall("")] });
    planBox.hidden = false;
    document.getElementById("plan-name").focus();
  }
  document.getElementById("plan-add").addEventListener("click", () => {
    const p = plan ? readPlan() : { name: "", goal: "", tasks: [] };
    p.tasks.push(blankCall(p.goal));
    renderPlan(p);
  });
  document.getElementById("plan-new").addEventListener("click", startByHand);
  document.getElementById("plan-confirm").addEventListener("click", confirm);
  if (plan) renderPlan(plan);
  else if (planBox.dataset.manual) renderPlan({ name: "", goal: "", tasks: [blankCall("")] });
})();
