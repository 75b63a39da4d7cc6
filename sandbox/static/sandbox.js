// golive sandbox: a little progressive enhancement. Every form also works without JavaScript.
"use strict";

// Checkboxes, selects, radio buttons and date pickers send their action as soon as they change,
// as in Slack. requestSubmit() runs the submit handler below (confirm dialogs).
document.addEventListener("change", (event) => {
  const form = event.target.form;
  if (form && form.hasAttribute("data-autosubmit")) form.requestSubmit();
});

// Confirm dialogs (Block Kit `confirm`), links of URL buttons, and no double submits.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const confirmData = form.getAttribute("data-confirm");
  if (confirmData) {
    const c = JSON.parse(confirmData);
    const question = [c.title, c.text].filter(Boolean).join("\n\n");
    if (!window.confirm(question)) {
      event.preventDefault();
      form.reset();
      return;
    }
  }
  const submitter = event.submitter;
  if (submitter && submitter.dataset.url) window.open(submitter.dataset.url, "_blank", "noopener");
  if (form.classList.contains("busy")) {
    event.preventDefault();
    return;
  }
  form.classList.add("busy");
});

// Overflow menus close when you click elsewhere; Escape closes the modal.
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details.el-overflow[open]")) {
    if (!menu.contains(event.target)) menu.open = false;
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const close = document.querySelector("dialog.modal .modal-x");
  if (close) close.click();
});

// Newest messages at the bottom, as in Slack; the composer keeps the focus.
window.addEventListener("DOMContentLoaded", () => {
  if (document.querySelector("dialog.modal")) {
    const first = document.querySelector("dialog.modal .has-error input, dialog.modal .has-error select, dialog.modal input, dialog.modal select, dialog.modal textarea");
    if (first) first.focus();
    return;
  }
  // A link from Activity (`/#m-<ts>`) shows its message, highlighted (CSS :target), instead.
  let target = null;
  try {
    if (location.hash.length > 1) target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
  } catch (_) {
    target = null; // a malformed fragment: behave as without one
  }
  if (target) target.scrollIntoView({ block: "center" });
  else if (document.body.classList.contains("view-channel")) window.scrollTo(0, document.body.scrollHeight);
  const composer = document.getElementById("composer-text");
  if (composer) composer.focus({ preventScroll: true });
});
