// The login page: email and password → POST /v1/auth/login, which sets the session cookie.

import { post } from "../api.js";
import { h, field, errorBox, heading } from "../dom.js";

export async function render(page, ctx) {
  if (ctx.me) {
    ctx.navigate("#/keys");
    return;
  }
  const email = h("input", { type: "email", name: "email", id: "login-email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", id: "login-password", autocomplete: "current-password", required: true });
  const error = errorBox();
  const submit = h("button", { type: "submit", class: "primary", id: "login-submit", text: "Log in" });
  const form = h("form", { class: "card login", novalidate: true }, heading("Log in to Keyward"), error, field("Email", email), field("Password", password), submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    submit.disabled = true;
    error.show(null);
    try {
      const answer = await post("/v1/auth/login", { email: email.value.trim(), password: password.value }, { anonymous: true });
      password.value = "";
      ctx.afterLogin(answer.admin, answer.csrf_token);
    } catch (e) {
      error.show(e);
      submit.disabled = false;
      password.focus();
    }
  });
  page.classList.add("narrow");
  page.append(form, h("p", { class: "hint center" }, h("a", { href: "#/api", text: "API documentation" })));
}
