// Shared by every dashboard page. No framework, no build step: plain
// ES2020 modules served by invigild (backend/web).
//
// api(method, path, body) calls the dashboard API under
// /api/v1/dashboard/, sends the CSRF token on state-changing requests,
// and sends the user to /login when the session is gone (401).

export const API = "/api/v1/dashboard/";

let csrf = "";
let current = null;

export class APIError extends Error {
  constructor(status, code, message) {
    super(message || code || ("HTTP " + status));
    this.status = status;
    this.code = code;
  }
}

// api returns the decoded JSON body (or null for 204 / empty bodies).
export async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  if (method !== "GET" && method !== "HEAD") {
    opts.headers["X-CSRF-Token"] = csrf;
  }
  const res = await fetch(API + path, opts);
  if (res.status === 401 && path !== "login") {
    gotoLogin();
    throw new APIError(401, "unauthorized", "Please sign in again.");
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new APIError(res.status, e.code, e.message || res.statusText);
  }
  return data;
}

export function setCSRF(token) { csrf = token || ""; }
export function csrfToken() { return csrf; }

function gotoLogin() {
  const back = location.pathname + location.search;
  location.href = "/login?next=" + encodeURIComponent(back);
}

// requireLogin loads the signed-in user (and the CSRF token) or sends the
// browser to the login page. It resolves to {user, exams}.
export async function requireLogin() {
  if (current) return current;
  const me = await api("GET", "me");
  setCSRF(me.csrf_token);
  current = { user: me.user, exams: me.exams };
  return current;
}

// el builds an element: el("a", {href: "/", class: "x"}, "text", child...).
// Attributes starting with "on" are event listeners; style is an object
// ({left: "10%"}). Strings become text nodes: nothing is ever parsed as
// HTML.
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    // The CSP (style-src 'self') drops style attributes; the CSSOM is
    // allowed: pass style as an object of properties.
    else if (k === "style") Object.assign(e.style, v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// header fills <header id="top"> with the navigation and the user menu.
export function header(me, title) {
  const top = document.getElementById("top");
  if (!top) return;
  top.replaceChildren(
    el("a", { href: "/", class: "brand" }, "Invigil"),
    el("span", { class: "title" }, title || ""),
    el("span", { class: "spacer" }),
    el("span", { class: "who" }, me.user.name + " (" + me.user.role + ")"),
    el("button", { type: "button", class: "link", onclick: logout }, "Sign out"),
  );
  if (title) document.title = title + " · Invigil";
}

export async function logout() {
  try { await api("POST", "logout"); } catch { /* already gone */ }
  location.href = "/login";
}

// showError puts a message in <div id="error" role="alert">.
export function showError(err) {
  const box = document.getElementById("error");
  const msg = err instanceof Error ? err.message : String(err);
  if (box) { box.textContent = msg; box.hidden = !msg; }
  else console.error(msg);
}

export function param(name) { return new URLSearchParams(location.search).get(name); }

export function fmtTime(t) {
  if (!t) return "";
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toLocaleString();
}

export function fmtDuration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return (h ? h + ":" + two(m) : m) + ":" + two(r);
}
