// golive sandbox: a little progressive enhancement. Every form also works without JavaScript.
"use strict";

const SCROLL_KEY = "golive-sandbox:view";

// Checkboxes, selects, radio buttons and date pickers send their action as soon as they change,
// as in Slack. requestSubmit() runs the submit handler below (confirm dialogs).
document.addEventListener("change", (event) => {
  const form = event.target.form;
  if (form && form.hasAttribute("data-autosubmit")) form.requestSubmit();
});

// ----- confirm dialogs (Block Kit `confirm`): the page's own modal dialog, never window.confirm().
// The form names its <dialog>; the dialog's buttons close it (method="dialog") with "confirm" or
// "deny", Escape cancels it. Only "confirm" sends the form, with the button that was clicked.
let confirmedForm = null;

function askToConfirm(form, dialog, submitter) {
  dialog.returnValue = "";
  dialog.addEventListener(
    "close",
    () => {
      if (dialog.returnValue === "confirm") {
        confirmedForm = form; // the submit event runs within requestSubmit()
        if (submitter && submitter.form === form) form.requestSubmit(submitter);
        else form.requestSubmit();
        confirmedForm = null;
      } else {
        form.reset(); // a ticked box or a chosen option goes back, as in Slack
      }
    },
    { once: true },
  );
  dialog.showModal();
  const ok = dialog.querySelector(".confirm-ok");
  if (ok) ok.focus();
}

// Links of URL buttons, no double submits, and where the person was (see "the view is kept").
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.method === "dialog") return; // a confirm dialog's own buttons
  const dialogId = form.getAttribute("data-confirm-dialog");
  const dialog = dialogId ? document.getElementById(dialogId) : null;
  if (dialog && typeof dialog.showModal === "function" && confirmedForm !== form) {
    event.preventDefault();
    if (!dialog.open) askToConfirm(form, dialog, event.submitter);
    return;
  }
  confirmedForm = null;
  const submitter = event.submitter;
  if (submitter && submitter.dataset.url) window.open(submitter.dataset.url, "_blank", "noopener");
  if (form.classList.contains("busy")) {
    event.preventDefault();
    return;
  }
  form.classList.add("busy");
  rememberView(form);
});

// ----- the view is kept: every action reloads the page (POST-redirect-GET), so the page notes
// where the person was: the message they acted on (or the first one in view) and how far down it
// was, in the channel and in the thread pane; the next page puts them back there. Without
// JavaScript the page goes back to the acted-on message (`back` ends with `#a-<its id>`).
function pane() {
  return document.querySelector("aside.thread-pane");
}

function headerBottom() {
  const head = document.querySelector(".main-head");
  return head ? head.getBoundingClientRect().bottom : 0;
}

function firstInView(messages, top) {
  for (const m of messages) if (m.getBoundingClientRect().bottom > top + 4) return m;
  return null;
}

function anchorOf(el) {
  return el ? { id: el.id, top: el.getBoundingClientRect().top } : null;
}

function atBottom(el) {
  return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
}

function rememberView(form) {
  // `form`: the form sent (or the thread link followed), whose message stays where it is.
  const thread = pane();
  const acted = form ? form.closest("article.msg") : null;
  const inPane = acted && thread && thread.contains(acted);
  const channel = document.querySelectorAll("section.timeline article.msg");
  // The acted-on message keeps its place; else the view stays at the bottom (where new messages
  // show) if it was there, or keeps its first message in view where it was.
  const state = {
    here: document.body.dataset.here || "",
    view: document.body.dataset.view || "",
    bottom: form && form.classList.contains("composer-form"),
    y: window.scrollY,
    main: null,
    thread: thread ? thread.dataset.thread : "",
    pane: null,
  };
  if (!state.bottom) {
    if (acted && !inPane) state.main = anchorOf(acted);
    else if (atBottom(document.scrollingElement)) state.bottom = true;
    else state.main = anchorOf(firstInView(channel, headerBottom()));
  }
  if (thread) {
    const head = thread.querySelector(".thread-head");
    const top = head ? head.getBoundingClientRect().bottom : thread.getBoundingClientRect().top;
    const bottom = !inPane && thread.scrollTop > 0 && atBottom(thread);
    const first = bottom ? null : firstInView(thread.querySelectorAll("article.msg"), top);
    state.pane = { bottom, anchor: anchorOf(inPane ? acted : first) };
  }
  // Without JavaScript `back` carries the acted-on message as a fragment; here the page puts the
  // person back itself, so the address stays clean.
  if (form && form.elements && form.elements.back) form.elements.back.value = form.elements.back.value.split("#")[0];
  try {
    sessionStorage.setItem(SCROLL_KEY, JSON.stringify(state));
  } catch (_) {
    // storage refused (private mode): the page simply opens at the newest message
  }
}

function takeRemembered() {
  try {
    const raw = sessionStorage.getItem(SCROLL_KEY);
    sessionStorage.removeItem(SCROLL_KEY);
    return raw ? JSON.parse(raw) : null;
  } catch (_) {
    return null;
  }
}

function putBack(anchor, scroll) {
  const el = anchor ? document.getElementById(anchor.id) : null;
  if (!el) return false;
  const delta = el.getBoundingClientRect().top - anchor.top;
  if (scroll === window) window.scrollBy(0, delta);
  else scroll.scrollTop += delta;
  return true;
}

function restoreView(state) {
  if (state.view !== (document.body.dataset.view || "")) return false;
  const scroller = document.scrollingElement;
  if (state.bottom) window.scrollTo(0, scroller.scrollHeight);
  else if (!putBack(state.main, window)) window.scrollTo(0, state.y || 0);
  const thread = pane();
  if (thread && state.pane && state.thread === thread.dataset.thread) {
    if (state.pane.bottom) thread.scrollTop = thread.scrollHeight;
    else putBack(state.pane.anchor, thread);
  }
  return true;
}

// Opening or closing a thread keeps the channel where it is.
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a.thread-summary, a.thread-close, a.thread-link");
  if (link && !event.defaultPrevented && event.button === 0 && !event.metaKey && !event.ctrlKey) {
    rememberView(link);
    if (link.matches(".thread-summary, .thread-link")) sessionStorage.setItem(SCROLL_KEY + ":opened", "1");
  }
});

// ----- menus and the Escape key
// Overflow menus close when you click elsewhere. Escape closes the modal, else the thread pane
// (a confirm dialog handles its own Escape: it cancels).
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details.el-overflow[open]")) {
    if (!menu.contains(event.target)) menu.open = false;
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || document.querySelector("dialog.confirm[open]")) return;
  const close = document.querySelector("dialog.modal .modal-x");
  if (close) {
    close.click();
    return;
  }
  const closeThread = document.querySelector("aside.thread-pane .thread-close");
  if (closeThread && !event.target.closest("input, textarea, select")) closeThread.click();
});

// ----- where the page opens
function linkedMessage() {
  // A link from Activity (`/#m-<ts>`, `/?thread=<ts>#m-<ts>`) shows its message, highlighted (CSS :target).
  if (location.hash.length < 2) return null;
  let id = "";
  try {
    id = decodeURIComponent(location.hash.slice(1));
  } catch (_) {
    return null; // a malformed fragment: behave as without one
  }
  return { id, el: document.getElementById(id) };
}

function openThreadOf(id) {
  // An older link to a reply (`/#m-<ts>`): the reply is in its thread, so open that thread.
  const index = document.getElementById("thread-index");
  if (!index || !id.startsWith("m-")) return false;
  const thread = JSON.parse(index.textContent)[id.slice(2)];
  if (!thread) return false;
  const params = new URLSearchParams(location.search);
  params.set("thread", thread);
  location.replace(location.pathname + "?" + params.toString() + location.hash);
  return true;
}

function centreIn(el, thread) {
  if (thread && thread.contains(el)) {
    const box = thread.getBoundingClientRect();
    const at = el.getBoundingClientRect();
    thread.scrollTop += at.top - box.top - (box.height - at.height) / 2;
    const parent = document.getElementById("m-" + thread.dataset.thread);
    if (parent) parent.scrollIntoView({ block: "center" });
  } else {
    el.scrollIntoView({ block: "center" });
  }
}

window.addEventListener("DOMContentLoaded", () => {
  if ("scrollRestoration" in history) history.scrollRestoration = "manual";
  const remembered = takeRemembered();
  let opened = false;
  try {
    opened = sessionStorage.getItem(SCROLL_KEY + ":opened") === "1";
    sessionStorage.removeItem(SCROLL_KEY + ":opened");
  } catch (_) {
    opened = false;
  }
  const linked = linkedMessage();
  const thread = pane();
  const modal = document.querySelector("dialog.modal");
  if (linked && linked.id.startsWith("m-")) {
    if (!linked.el && openThreadOf(linked.id)) return;
    if (linked.el) centreIn(linked.el, thread);
  } else if (remembered && restoreView(remembered)) {
    if (linked) history.replaceState(null, "", location.pathname + location.search);
  } else if (linked && linked.el) {
    linked.el.scrollIntoView({ block: "start" }); // back from an action, without a remembered view
  } else if (document.body.classList.contains("view-channel") || document.body.classList.contains("view-messages")) {
    window.scrollTo(0, document.body.scrollHeight); // newest messages at the bottom, as in Slack
  }
  if (modal) {
    const first = modal.querySelector(".has-error input, .has-error select, input:not([type=hidden]), select, textarea");
    if (first) first.focus();
    return;
  }
  if (thread && opened) {
    const title = document.getElementById("thread-title");
    if (title) title.focus({ preventScroll: true });
    return;
  }
  const composer = document.getElementById("composer-text");
  if (composer) composer.focus({ preventScroll: true });
});

// A link to a reply followed on this very page (only the fragment changes): open its thread.
window.addEventListener("hashchange", () => {
  const linked = linkedMessage();
  if (linked && !linked.el) openThreadOf(linked.id);
});
