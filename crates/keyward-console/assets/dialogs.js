// Modal dialogs on <dialog>: focus moves into the dialog, Tab stays inside it, Escape cancels
// (or, for the one-time secret, asks first), and focus returns where it was when it closes.

import { h, append, uid } from "./dom.js";

function focusable(dialog) {
  return [...dialog.querySelectorAll("button, [href], input, select, textarea, [tabindex]:not([tabindex='-1'])")].filter(
    (el) => !el.disabled && !el.hidden && el.getClientRects().length > 0,
  );
}

// Opens `dialog` modally. `onEscape` decides what Escape does (default: close with "cancel").
function open(dialog, { onEscape, initialFocus } = {}) {
  const returnTo = document.activeElement;
  document.body.append(dialog);
  dialog.addEventListener("keydown", (event) => {
    if (event.key !== "Tab") return;
    const items = focusable(dialog);
    if (items.length === 0) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault();
    if (onEscape) onEscape();
    else dialog.close("cancel");
  });
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (returnTo && returnTo.isConnected && typeof returnTo.focus === "function") returnTo.focus();
  });
  dialog.showModal();
  (initialFocus || focusable(dialog)[0] || dialog).focus();
}

// Asks for confirmation; resolves true when confirmed. `body` may hold extra controls, which
// the caller reads after it resolves.
export function confirm({ title, message, confirmLabel = "Confirm", danger = false, body = [] }) {
  return new Promise((resolve) => {
    const cancelButton = h("button", { type: "button", text: "Cancel", onclick: () => dialog.close("cancel") });
    const okButton = h("button", {
      type: "button",
      class: danger ? "danger" : "primary",
      text: confirmLabel,
      onclick: () => dialog.close("ok"),
    });
    const titleId = uid("dialog-title");
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-labelledby": titleId },
      h("h2", { id: titleId, text: title }),
      h("p", { class: "dialog-message", text: message }),
      body,
      h("div", { class: "dialog-actions" }, cancelButton, okButton),
    );
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"));
    open(dialog, { initialFocus: cancelButton });
  });
}

async function copy(text, input, status) {
  try {
    await navigator.clipboard.writeText(text);
    status.textContent = "Copied to the clipboard.";
  } catch {
    // No Clipboard API (not a secure context, or permission refused): select the text so
    // Ctrl+C / Cmd+C copies it.
    input.focus();
    input.select();
    status.textContent = "Select-and-copy: the text is selected; press Ctrl+C (or ⌘C) to copy it.";
  }
}

function secretField(label, value, id) {
  const input = h("input", { type: "text", id, readOnly: true, value, class: "secret", spellcheck: "false", autocomplete: "off" });
  const status = h("span", { class: "copy-status", role: "status" });
  const button = h("button", { type: "button", text: `Copy ${label.toLowerCase()}`, onclick: () => copy(input.value, input, status) });
  return h("div", { class: "field" }, h("label", { for: id, text: label }), h("div", { class: "copy-row" }, input, button), status);
}

// The one-time secret of a created, refreshed or regenerated key (and/or the download of a
// private signing key made in the browser). Closing asks for confirmation; on close the secret,
// the private key and its Blob URL leave the page.
export function secret({ title, key, secret: value, privateKeyPem }) {
  return new Promise((resolve) => {
    let blobUrl = null;
    const extra = [];
    if (privateKeyPem) {
      blobUrl = URL.createObjectURL(new Blob([privateKeyPem], { type: "application/x-pem-file" }));
      extra.push(
        h(
          "div",
          { class: "notice" },
          h("p", { text: "The private signing key was made in this browser and has not been sent anywhere. Download it now: it cannot be shown again." }),
          h("a", { class: "button", id: "download-private-key", href: blobUrl, download: `keyward-${key.id}-signing-key.pem`, text: "Download private key (PKCS#8 PEM)" }),
        ),
      );
    }
    const closeButton = h("button", { type: "button", class: "primary", id: "secret-close", text: "I have stored it — close" });
    const dialog = h(
      "dialog",
      { class: "dialog secret-dialog", "aria-labelledby": "secret-title", id: "secret-dialog" },
      h("h2", { id: "secret-title", text: title }),
      h("p", {}, "Key ", h("strong", { text: key.name }), " (", h("code", { text: key.id }), ")"),
      value
        ? [
            h("p", { class: "warning", role: "alert", text: "Copy the secret now. It is shown only once and cannot be shown again: Keyward stores only a hash of it." }),
            secretField("Secret", value, "secret-value"),
            secretField("id:secret", `${key.id}:${value}`, "secret-pair"),
            h("p", { class: "hint", text: "Send the secret as Authorization: Bearer <secret> or X-API-Key; the id:secret form is for HTTP Basic and OAuth client credentials." }),
          ]
        : null,
      extra,
      h("div", { class: "dialog-actions" }, closeButton),
    );
    const askToClose = async () => {
      const sure = await confirm({
        title: "Close the secret?",
        message: "The secret will not be shown again. Close only once you have stored it.",
        confirmLabel: "Close it",
        danger: true,
      });
      if (sure) dialog.close("done");
    };
    closeButton.addEventListener("click", askToClose);
    dialog.addEventListener("close", () => {
      for (const input of dialog.querySelectorAll("input")) input.value = "";
      if (blobUrl) URL.revokeObjectURL(blobUrl);
      dialog.replaceChildren();
      resolve();
    });
    open(dialog, { onEscape: askToClose, initialFocus: dialog.querySelector(".copy-row button, #download-private-key") });
  });
}

// A small modal form (e.g. creating an administrator); `submit` gets the form and may throw
// an error to show. Resolves with the result of `submit`, or null when cancelled.
export function formDialog({ title, fields, submitLabel, submit }) {
  return new Promise((resolve) => {
    let result = null;
    const error = h("div", { class: "error-box", role: "alert", hidden: true });
    const form = h("form", { method: "dialog", novalidate: true }, fields, error);
    const cancelButton = h("button", { type: "button", text: "Cancel", onclick: () => dialog.close("cancel") });
    append(form, [h("div", { class: "dialog-actions" }, cancelButton, h("button", { type: "submit", class: "primary", text: submitLabel }))]);
    const dialog = h("dialog", { class: "dialog", "aria-label": title }, h("h2", { text: title }), form);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!form.reportValidity()) return;
      try {
        result = await submit(form);
        dialog.close("ok");
      } catch (e) {
        error.textContent = e.message;
        error.hidden = false;
      }
    });
    dialog.addEventListener("close", () => resolve(result));
    open(dialog);
  });
}
