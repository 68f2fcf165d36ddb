// The console's entry point: who is logged in, and which view a `#/…` route shows. Routing by
// the URL fragment keeps every page on the one HTML shell (`/`), so the server serves a single
// document and the browser's back button still works.

import { get, setCsrfToken, onSessionExpired } from "./api.js";
import { h, clear, toast } from "./dom.js";
import * as login from "./views/login.js";
import * as keys from "./views/keys.js";
import * as keyDetail from "./views/key_detail.js";
import * as keyForm from "./views/key_form.js";
import * as logs from "./views/logs.js";
import * as admins from "./views/admins.js";
import * as account from "./views/account.js";
import * as apiDocs from "./views/api_docs.js";

const main = document.getElementById("main");
const state = { me: null, returnTo: null, catalog: null };

const routes = [
  [/^#\/login$/, login, true],
  [/^#\/keys$/, keys],
  [/^#\/keys\/new$/, keyForm],
  [/^#\/keys\/([^/?]+)\/edit$/, keyForm],
  [/^#\/keys\/([^/?]+)$/, keyDetail],
  [/^#\/logs(?:\?.*)?$/, logs],
  [/^#\/admins$/, admins],
  [/^#\/account$/, account],
  [/^#\/api$/, apiDocs, true],
];

export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

// The current admin, with their CSRF token; null when not logged in.
async function whoAmI() {
  try {
    const me = await get("/v1/auth/me", { anonymous: true });
    return me;
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

export function setMe(me, csrf) {
  state.me = me;
  if (csrf) setCsrfToken(csrf);
  document.getElementById("nav").hidden = !me;
  document.getElementById("nav-admins").hidden = !(me && me.role === "superadmin");
  const accountLink = document.getElementById("nav-account");
  accountLink.textContent = me ? `Account (${me.email})` : "Account";
}

// The permission catalog, fetched once per login.
export async function catalog() {
  if (!state.catalog) state.catalog = await get("/v1/catalog");
  return state.catalog;
}

function markNav(hash) {
  for (const link of document.querySelectorAll("#nav a")) {
    const active = hash.startsWith(`#/${link.dataset.nav}`);
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

let rendering = 0;
async function render() {
  const hash = location.hash || "#/keys";
  const match = routes.map(([re, view, open]) => [hash.match(re), view, open]).find(([m]) => m);
  const ticket = ++rendering;
  if (!match) {
    clear(main).append(h("h1", { text: "Not found" }), h("p", {}, "This page does not exist. ", h("a", { href: "#/keys", text: "Go to the API keys" })));
    return;
  }
  const [m, view, open] = match;
  if (!state.me && !open) {
    state.returnTo = hash;
    navigate("#/login");
    return;
  }
  markNav(hash);
  const params = new URLSearchParams(hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : "");
  const ctx = {
    me: state.me,
    id: m[1] ? decodeURIComponent(m[1]) : null,
    edit: hash.endsWith("/edit"),
    params,
    navigate,
    catalog,
    afterLogin: (me, csrf) => {
      state.catalog = null;
      setMe(me, csrf);
      const target = state.returnTo && state.returnTo !== "#/login" ? state.returnTo : "#/keys";
      state.returnTo = null;
      navigate(target);
    },
    loggedOut: () => {
      setMe(null);
      state.catalog = null;
      navigate("#/login");
    },
    current: () => ticket === rendering,
  };
  const page = h("div", { class: "page" });
  clear(main).append(page);
  try {
    await view.render(page, ctx);
  } catch (e) {
    if (e.status === 401) return;
    if (ticket === rendering) page.append(h("div", { class: "error-box", role: "alert", text: e.message }));
  }
  const title = page.querySelector("h1");
  if (title && ticket === rendering) title.focus({ preventScroll: true });
}

onSessionExpired(() => {
  if (!state.me) return;
  state.returnTo = location.hash;
  setMe(null);
  toast("Your session has ended. Log in again.");
  navigate("#/login");
});

window.addEventListener("hashchange", render);

async function start() {
  try {
    const me = await whoAmI();
    setMe(me);
  } catch (e) {
    clear(main).append(h("div", { class: "error-box", role: "alert", text: e.message }));
    return;
  }
  render();
}

start();
