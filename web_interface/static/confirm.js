// Asks before a destructive action: a form with data-confirm="question" is sent only
// once the person confirms (hang up, take over, cancel a campaign, settle a task).
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
  if (!window.confirm(form.dataset.confirm)) event.preventDefault();
});
