// Guidepost dashboard enhancements. Every page works without this file: it only adds
// copy buttons, confirmation dialogs in place of the server's confirmation pages, and
// drag-and-drop reordering that submits the same "move to position" form a keyboard
// user submits by hand.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.textContent);
    button.textContent = "Copied";
  } catch (_) {
    const range = document.createRange();
    range.selectNodeContents(source);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    button.textContent = "Selected: press Ctrl+C";
  }
});

for (const button of document.querySelectorAll("button[data-copy]")) {
  button.hidden = false;
}

// Drag a step by its handle onto another step: submits that step's "move to position"
// form with the target's position.
let dragged = null;
for (const row of document.querySelectorAll("[data-step-position]")) {
  const handle = row.querySelector(".drag-handle");
  if (!handle) continue;
  handle.hidden = false;
  handle.setAttribute("draggable", "true");
  handle.addEventListener("dragstart", (event) => {
    dragged = row;
    event.dataTransfer.effectAllowed = "move";
  });
  row.addEventListener("dragover", (event) => {
    if (dragged && dragged !== row) event.preventDefault();
  });
  row.addEventListener("drop", (event) => {
    event.preventDefault();
    if (!dragged || dragged === row) return;
    const form = dragged.querySelector("form.move-to");
    form.querySelector("input[name=position]").value = row.dataset.stepPosition;
    form.submit();
  });
}

// Destructive actions (forms marked with data-confirm) ask on the server when posted
// without confirm=yes; with this script they ask in a dialog and, on yes, add the field so
// the action happens in one step.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const message = form.dataset.confirm;
  if (!message) return;
  if (!window.confirm(message)) {
    event.preventDefault();
    return;
  }
  if (!form.querySelector("input[name=confirm]")) {
    const field = document.createElement("input");
    field.type = "hidden";
    field.name = "confirm";
    field.value = "yes";
    form.append(field);
  }
});
