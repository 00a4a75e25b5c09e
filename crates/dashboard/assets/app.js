// Guidepost dashboard enhancements. Every page works without this file: it only adds
// copy buttons and drag-and-drop reordering that submits the same "move to position"
// form a keyboard user submits by hand.
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

// Confirm destructive actions marked with data-confirm.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
