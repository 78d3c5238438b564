import { api, el, header, param, requireLogin, showError } from "./common.js";

// The exam form (administrators): name, code, window, the policy's common
// fields (on top of the JSON, which experts may edit), assigned proctors
// and reviewers, and the printable join link.

const ACTIONS = ["allow", "flag", "block"];

function get(obj, path) {
  return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

function set(obj, path, v) {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== "object" || o[k] === null) o[k] = {};
    o = o[k];
  }
  o[keys[keys.length - 1]] = v;
}

// datetime-local ⇄ RFC 3339 in the browser's zone.
function toLocalInput(t) {
  if (!t) return "";
  const d = new Date(t);
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d - off).toISOString().slice(0, 16);
}
function fromLocalInput(v) { return v ? new Date(v).toISOString() : ""; }

async function main() {
  const me = await requireLogin();
  if (me.user.role !== "administrator") { showError("Only administrators edit exams."); return; }
  let id = param("id");
  header(me, id ? "Edit exam" : "New exam");
  const form = document.getElementById("exam");
  const fields = [...document.querySelectorAll("#policy-form [data-path]")];
  for (const s of fields) {
    if (s.tagName === "SELECT") {
      const opts = s.dataset.options ? s.dataset.options.split(" ") : ACTIONS;
      s.replaceChildren(...opts.map((o) => el("option", { value: o }, o)));
    }
  }
  const jsonBox = document.getElementById("policy-json");
  let exam = null;
  let policy = id ? null : await api("GET", "policy/default");
  if (id) {
    exam = await api("GET", "exams/" + encodeURIComponent(id));
    policy = exam.policy;
    form.name.value = exam.name;
    form.code.value = exam.code;
    form.opens_at.value = toLocalInput(exam.opens_at);
    form.closes_at.value = toLocalInput(exam.closes_at);
    showAfterSave(exam);
  }
  const fillFields = (p) => {
    for (const f of fields) {
      const v = get(p, f.dataset.path);
      if (f.type === "checkbox") f.checked = !!v;
      else f.value = v ?? "";
    }
    jsonBox.value = JSON.stringify(p, null, 2);
  };
  fillFields(policy);
  const locked = exam && exam.open_attempts > 0;
  document.getElementById("policy-locked").hidden = !locked;
  fields.forEach((f) => { f.disabled = locked; });
  jsonBox.disabled = locked;
  // Editing the JSON updates the fields (when it parses).
  jsonBox.addEventListener("change", () => {
    try { fillFields(JSON.parse(jsonBox.value)); } catch { /* shown on save */ }
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError("");
    const problems = document.getElementById("policy-errors");
    problems.hidden = true;
    document.querySelectorAll(".invalid").forEach((x) => x.classList.remove("invalid"));
    let p;
    try { p = JSON.parse(jsonBox.value); } catch (e) {
      problems.textContent = "The policy JSON does not parse: " + e.message;
      problems.hidden = false;
      return;
    }
    for (const f of fields) {
      let v = f.type === "checkbox" ? f.checked : f.value;
      if (f.dataset.type === "int") v = v === "" ? 0 : Number(v);
      if (v === "" && get(p, f.dataset.path) === undefined) continue;
      set(p, f.dataset.path, v);
    }
    const body = {
      name: form.name.value, code: form.code.value,
      opens_at: fromLocalInput(form.opens_at.value), closes_at: fromLocalInput(form.closes_at.value),
    };
    if (!locked) body.policy = p;
    try {
      exam = await api(id ? "PUT" : "POST", id ? "exams/" + encodeURIComponent(id) : "exams", body);
    } catch (err) {
      if (err.code === "invalid_policy") {
        problems.textContent = err.message;
        problems.hidden = false;
        // Mark the fields the validator names ("displays.max: is 0, …").
        for (const f of fields) {
          if (err.message.includes(f.dataset.path + ":") || err.message.includes(f.dataset.path + " ")) f.classList.add("invalid");
        }
      } else showError(err);
      return;
    }
    if (!id) {
      id = exam.id;
      history.replaceState(null, "", "/exam?id=" + encodeURIComponent(id));
      header(me, "Edit exam");
    }
    form.code.value = exam.code;
    document.getElementById("saved").textContent = "Saved.";
    fillFields(exam.policy);
    showAfterSave(exam);
  });
}

async function showAfterSave(exam) {
  document.getElementById("after-save").hidden = false;
  const link = document.getElementById("join-link");
  link.href = exam.join_link;
  link.textContent = exam.join_link;
  const u = new URL(exam.join_link.replace(/^invigil:/, "http:"));
  document.getElementById("join-server").textContent = u.searchParams.get("server");
  document.getElementById("join-code").textContent = exam.code;
  document.getElementById("copy-link").onclick = async () => {
    try {
      await navigator.clipboard.writeText(exam.join_link);
      document.getElementById("copied").textContent = "Copied.";
    } catch {
      document.getElementById("copied").textContent = "Select the link and copy it.";
    }
  };
  document.getElementById("print").onclick = () => window.print();
  const users = (await api("GET", "users")).filter((u) => u.role !== "administrator");
  const assigned = new Set((exam.assigned || []).map((a) => a.id));
  const box = document.getElementById("assign");
  box.replaceChildren(...users.map((u) => el("label", {},
    el("input", { type: "checkbox", checked: assigned.has(u.id), dataset: { user: u.id },
      onchange: async (ev) => {
        const path = "users/" + encodeURIComponent(u.id) + "/exams/" + encodeURIComponent(exam.id);
        try { await api(ev.target.checked ? "PUT" : "DELETE", path); } catch (err) {
          ev.target.checked = !ev.target.checked;
          showError(err);
        }
      } }),
    u.name + " (" + u.role + ")")));
  if (!users.length) box.append(el("p", { class: "muted" }, "No proctors or reviewers yet: add them with invigild user add."));
}

main().catch(showError);
