import { api, el, fmtTime, header, requireLogin, showError } from "./common.js";

async function main() {
  const me = await requireLogin();
  header(me, "Exams");
  if (me.user.role === "administrator") {
    document.getElementById("actions").append(
      el("a", { href: "/exam", class: "button primary" }, "New exam"));
  }
  const exams = await api("GET", "exams");
  const body = document.querySelector("#exams tbody");
  body.replaceChildren(...exams.map((e) => el("tr", { dataset: { exam: e.id } },
    el("td", {}, e.name || e.id),
    el("td", { class: "mono" }, e.code || ""),
    el("td", {}, [fmtTime(e.opens_at), e.closes_at ? " – " + fmtTime(e.closes_at) : ""].join("")),
    el("td", { class: "actions" },
      el("a", { href: "/live?exam=" + encodeURIComponent(e.id) }, "Live"),
      el("a", { href: "/review?exam=" + encodeURIComponent(e.id) }, "Review"),
      me.user.role === "administrator" ? el("a", { href: "/exam?id=" + encodeURIComponent(e.id) }, "Edit") : null),
  )));
  if (!exams.length) body.append(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No exams yet.")));
}

main().catch(showError);
