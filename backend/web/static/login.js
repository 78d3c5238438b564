import { api, param, showError } from "./common.js";

const form = document.getElementById("login");
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(form);
  const button = form.querySelector("button");
  button.disabled = true;
  showError("");
  try {
    await api("POST", "login", { name: f.get("name"), password: f.get("password") });
    const next = param("next");
    // Only a local path: never an absolute URL (open redirect).
    location.href = next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
  } catch (err) {
    if (err.status === 401) showError("Wrong name or password.");
    else if (err.status === 429) showError("Too many attempts. Wait a minute and try again.");
    else showError(err);
    button.disabled = false;
  }
});
