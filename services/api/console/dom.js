// What both console pages share: the key's place in the tab, and building elements safely (every value
// from the API is written as text, never as HTML). Loaded before console.js and experience.js.
"use strict";

const KEY_STORE = "mission-pulse.key"; // sessionStorage: the key lives as long as the tab, shared by its pages

const $ = (id) => document.getElementById(id);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}
