// Forms on every page. Asks before a destructive action: a form with
// data-confirm="question" is sent only once the person confirms (remove, revoke, hang up,
// take over, cancel a campaign, settle a task). And a page that answers a failed form
// post (kept input, every error) takes its page's own address, so a reload shows the
// page instead of sending the form again (body data-replace-url).
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
  if (!window.confirm(form.dataset.confirm)) event.preventDefault();
});

// Phone-sized screens: the main navigation folds behind a Menu button (app.css); without
// this script it simply stays open.
(() => {
  const toggle = document.querySelector(".menu-toggle");
  const nav = document.getElementById("main-nav");
  if (!toggle || !nav) return;
  document.documentElement.classList.add("js-menu");
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  });
})();

(() => {
  const target = document.body.dataset.replaceUrl;
  if (target && target.startsWith("/")) history.replaceState(null, "", target);
})();
