// The sidebar's waiting panel and team fold to their headings (remembered in this browser): on
// a laptop's short screen a supervisor gives the conversation list their room. The waiting
// count stays beside its heading.

const PREFIX = "pytake.folded.";

for (const toggle of document.querySelectorAll(".section-toggle")) {
  const body = document.getElementById(toggle.getAttribute("aria-controls"));
  const key = PREFIX + body.id;
  const show = (open) => {
    toggle.setAttribute("aria-expanded", String(open));
    body.hidden = !open;
  };
  show(localStorage.getItem(key) !== "1");
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    localStorage.setItem(key, open ? "0" : "1");
    show(open);
  });
}
