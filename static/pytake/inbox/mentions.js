// Mentions in internal notes: "@" and the first letters of a teammate's name list the team;
// the chosen one is written "@NameWithoutSpaces", which the server reads as a mention and
// notifies (a `notification` event; notifications.js shows it to them).

import { $ } from "./dom.js";
import { me } from "./state.js";
import { addSuggestProvider } from "./suggest.js";
import { teamMembers } from "./team.js";

const TOKEN_CHARS = /^[\p{L}\p{N}_.+-]+$/u; // what the server reads after "@"

/** How a teammate is written in a note: their name without spaces, or the start of their e-mail. */
export function mentionToken(member) {
  const name = (member.name || "").replace(/\s+/g, "");
  return TOKEN_CHARS.test(name) ? name : member.email.split("@")[0];
}

addSuggestProvider({
  pattern: /(?:^|\s)@([\p{L}\p{N}_.+-]*)$/u,
  active: () => $("composer").classList.contains("is-note"),
  items(query) {
    const needle = query.toLowerCase();
    return [...teamMembers()]
      .filter((member) => member.id !== me().id)
      .filter((member) => {
        const words = [member.name, member.email, mentionToken(member)].join(" ").toLowerCase();
        return !needle || words.split(/[\s@.]+/).some((word) => word.startsWith(needle)) || words.includes(needle);
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  },
  render(member, li) {
    li.className = "suggest-member";
    li.dataset.userId = member.id;
    const name = document.createElement("strong");
    name.textContent = member.name;
    const token = document.createElement("span");
    token.className = "muted";
    token.textContent = ` @${mentionToken(member)}`;
    li.append(name, token);
  },
  choose: (member) => `@${mentionToken(member)} `,
});
