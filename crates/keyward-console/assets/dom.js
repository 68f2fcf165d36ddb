// Building the page without HTML strings: every text from the server goes in as a text node
// (textContent), so nothing it says can become markup or script.

let counter = 0;
export const uid = (prefix) => `${prefix}-${++counter}`;

// h("button", {class: "primary", onclick: fn, disabled: true}, "Save")
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "text") {
      el.textContent = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (["value", "checked", "disabled", "hidden", "selected", "required", "readOnly"].includes(key)) {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// A labelled control: <div class="field"><label for=id>text</label> control hint error</div>.
export function field(label, control, hint) {
  if (!control.id) control.id = uid("f");
  const parts = [h("label", { for: control.id, text: label }), control];
  if (hint) {
    const hintEl = h("p", { class: "hint", id: uid("hint"), text: hint });
    control.setAttribute("aria-describedby", hintEl.id);
    parts.push(hintEl);
  }
  return h("div", { class: "field" }, parts);
}

// A box that shows an error message in words (role=alert, so screen readers announce it).
export function errorBox() {
  const box = h("div", { class: "error-box", role: "alert", hidden: true });
  box.show = (error) => {
    box.textContent = error ? error.message || String(error) : "";
    box.hidden = !error;
  };
  return box;
}

export function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.classList.add("visible");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove("visible"), 4000);
}

// A page heading that takes focus, so keyboard and screen-reader users start at the new page.
export function heading(text) {
  return h("h1", { tabindex: "-1", class: "page-title", text });
}
