// The comparison page: one card per loaded model, filled by POST /predict. Only textContent is used for
// anything that came from the server or the user, so a text or a label can never inject markup.
"use strict";

const cards = new Map(); // model name -> {root, label, bars, latency}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(value, digits, unit) {
  return typeof value === "number" ? value.toFixed(digits) + (unit || "") : "n/a";
}

function setStatus(message, isError) {
  const status = document.getElementById("status");
  status.textContent = message;
  status.classList.toggle("error", Boolean(isError));
}

function buildCard(model, best, deployed) {
  const root = el("article", "card");
  root.dataset.model = model.name;
  const head = el("div", "card-head");
  const title = el("h3", "name", model.name);
  if (model.name === deployed) title.append(el("span", "badge", "deployed"));
  if (model.name === best) title.append(el("span", "badge", "best student"));
  head.append(title, el("span", "form", model.form));
  const label = el("div", "label", "–");
  label.setAttribute("data-role", "label");
  const bars = el("div", "bars");
  const latency = el("div", "latency", "latency: –");
  latency.setAttribute("data-role", "latency");
  const facts = el("dl", "facts");
  const figures = [
    ["accuracy", fmt(model.accuracy, 3)],
    ["macro F1", fmt(model.macro_f1, 3)],
    ["size", fmt(model.size_mb, 1, " MB")],
    ["batch-1 (bench)", fmt(model.batch1_ms_median, 2, " ms")],
  ];
  for (const [name, value] of figures) facts.append(el("dt", null, name), el("dd", null, value));
  root.append(head, label, bars, latency, facts);
  cards.set(model.name, { root, label, bars, latency });
  return root;
}

function showPrediction(card, response, roundTripMs) {
  const prediction = response.predictions[0];
  card.label.textContent = prediction.label + (prediction.truncated ? " (text truncated)" : "");
  card.bars.replaceChildren();
  for (const [name, prob] of Object.entries(prediction.probabilities)) {
    const row = el("div", "bar-row");
    const track = el("div", "track");
    const fill = el("div", name === prediction.label ? "fill top" : "fill");
    fill.style.width = (100 * prob).toFixed(1) + "%"; // CSSOM, allowed by the page's CSP
    track.append(fill);
    row.append(el("span", "bar-name", name), track, el("span", "bar-value", (100 * prob).toFixed(1) + "%"));
    card.bars.append(row);
  }
  card.latency.textContent =
    "latency: " + response.inference_ms.toFixed(2) + " ms model · " + roundTripMs.toFixed(1) + " ms round trip";
  card.root.classList.remove("failed");
}

async function postPredict(text, model) {
  const started = performance.now();
  const reply = await fetch("/predict", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ texts: [text], model: model }),
  });
  const body = await reply.json();
  if (!reply.ok) throw new Error(body.error || "HTTP " + reply.status);
  return [body, performance.now() - started];
}

async function classify(event) {
  event.preventDefault();
  const text = document.getElementById("text").value;
  if (!text.trim()) return setStatus("Type a text first.", true);
  const button = document.getElementById("submit");
  button.disabled = true;
  setStatus("Classifying…");
  let failures = 0;
  // One model after another: the server serializes inference anyway, so round trips stay comparable.
  for (const [name, card] of cards) {
    try {
      const [response, roundTrip] = await postPredict(text, name);
      showPrediction(card, response, roundTrip);
    } catch (err) {
      failures += 1;
      card.root.classList.add("failed");
      card.label.textContent = "error";
      card.latency.textContent = String(err.message || err);
    }
  }
  button.disabled = false;
  setStatus(failures ? failures + " model(s) failed" : "Done.", failures > 0);
}

function loadPlots() {
  for (const img of document.querySelectorAll("img[data-src]")) {
    img.addEventListener("error", () => {
      const note = el("p", "missing", "Not produced yet: run `make repro`.");
      img.replaceWith(note);
    });
    img.src = img.dataset.src; // set after the handler so a fast 404 is never missed
  }
}

async function init() {
  loadPlots();
  document.getElementById("form").addEventListener("submit", classify);
  document.getElementById("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) document.getElementById("form").requestSubmit();
  });
  try {
    const reply = await fetch("/models");
    const info = await reply.json();
    const container = document.getElementById("models");
    for (const model of info.models) container.append(buildCard(model, info.best_student, info.deployed));
    setStatus(info.models.length + " models loaded.");
  } catch (err) {
    setStatus("Cannot list models: " + err, true);
  }
}

init();
