// The parts of a message beyond its text, shared by the inbox and the web-chat widget: the
// message it quotes, its reactions, an order's items and total, a WhatsApp Flow's answers.
// Each builds a node from the message as REST and the socket give it; nothing here fetches.

import { locale, t } from "./i18n.js";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The quoted message above a reply (`message.reply_to`), a button that calls `onJump(id)`.
 * `ownSide` is the direction whose messages read as "You" to the viewer; the other side's read
 * as `otherName` ("Customer" in the inbox, the business's name in the widget). */
export function quoteNode(quoted, { onJump, ownSide = "outbound", otherName = t("msg.quote_customer") } = {}) {
  const node = el("button", "msg-quote");
  node.type = "button";
  node.dataset.quoteId = String(quoted.id);
  node.title = t("msg.quote_jump");
  node.setAttribute("aria-label", `${t("msg.quote_jump")}: ${quoted.text || ""}`);
  const who = quoted.direction === ownSide ? t("msg.quote_you") : otherName;
  node.append(el("span", "msg-quote-who", who));
  node.append(el("span", "msg-quote-text", quoted.deleted ? t("msg.quote_deleted") : quoted.text || `[${quoted.type}]`));
  if (onJump) node.addEventListener("click", () => onJump(quoted.id));
  return node;
}

/** The reactions under a message, one chip per reactor (`message.reactions`). */
export function reactionsNode(reactions) {
  const shown = (reactions || []).filter((r) => r && r.emoji);
  if (!shown.length) return null;
  const node = el("div", "msg-reactions");
  node.setAttribute("role", "group");
  node.setAttribute("aria-label", t("msg.reactions"));
  for (const reaction of shown) {
    const chip = el("span", "msg-reaction", reaction.emoji);
    chip.dataset.by = reaction.by || "";
    node.append(chip);
  }
  return node;
}

function money(amount, currency) {
  try {
    return new Intl.NumberFormat(locale(), { style: "currency", currency }).format(amount);
  } catch {
    return `${Number(amount).toFixed(2)} ${currency || ""}`.trim(); // no (or an unknown) currency
  }
}

/** An order's items and total (`content.order`). */
export function orderNode(order) {
  const node = el("div", "msg-order");
  node.append(el("strong", "", `${t("preview.order")}`));
  const list = el("ul", "msg-order-items");
  for (const item of order.items || []) {
    const row = el("li", "", t("msg.order_item", { qty: item.quantity, id: item.product_retailer_id }));
    row.append(el("span", "msg-order-price", money(item.item_price * item.quantity, item.currency)));
    list.append(row);
  }
  node.append(list);
  const total = el("div", "msg-order-total", `${t("msg.order_total")}: `);
  total.append(el("strong", "", money(order.total, order.currency)));
  node.append(total);
  if (order.text) node.append(el("p", "msg-order-note", order.text));
  return node;
}

/** The answers a customer gave in a WhatsApp Flow (`content.flow.fields`). */
export function flowNode(flow) {
  const node = el("div", "msg-flow");
  node.append(el("strong", "", t("msg.form")));
  const list = el("dl", "msg-flow-fields");
  for (const [name, value] of Object.entries(flow.fields || {})) {
    list.append(el("dt", "", name.replaceAll("_", " ")));
    list.append(el("dd", "", typeof value === "object" ? JSON.stringify(value) : String(value)));
  }
  node.append(list);
  return node;
}

/** A short highlight on the message a quote points at, once it is scrolled to. */
export function flash(node) {
  node.classList.remove("msg-flash");
  void node.offsetWidth; // restart the animation
  node.classList.add("msg-flash");
}
