// The process view: every deployed process definition drawn with bpmn-js (the vendored viewer
// bundle, global BpmnJS), with the active element instances and open incidents of each element
// as overlays. Polls /api/processes; a diagram is imported once, its overlays on every update.
"use strict";

const PROCESS_POLL_MS = 2000;
const MAX_DIAGRAMS = 12;
const cards = new Map(); // definition key -> { card, viewer, ready, elements }

function processCard(p) {
  const title = el("h3", {},
    p.bpmn_process_id,
    el("span", { class: "meta" }, "version " + p.version + " · key " + p.key + " · " +
      p.resource_name),
    el("span", { class: "meta totals" }, ""));
  const canvas = el("div", { class: "canvas" });
  const card = el("div", {
    class: "process", "data-process": p.bpmn_process_id, "data-version": p.version,
    "data-key": p.key, "data-diagram": "loading",
  }, title, canvas);
  return { card, canvas, totals: title.querySelector(".totals") };
}

function findDiagram(viewer, processId) {
  const definitions = viewer.getDefinitions();
  for (const diagram of definitions.diagrams || []) {
    const shown = diagram.plane && diagram.plane.bpmnElement;
    if (!shown) continue;
    if (shown.id === processId) return diagram;
    for (const participant of shown.participants || []) {
      if (participant.processRef && participant.processRef.id === processId) return diagram;
    }
  }
  return null;
}

async function drawDiagram(entry, p) {
  const answer = await fetch("/api/processes/xml?key=" + encodeURIComponent(p.key),
    { cache: "no-store" });
  if (!answer.ok) throw new Error("no XML for " + p.key + ": " + answer.status);
  const xml = await answer.text();
  const viewer = new BpmnJS({ container: entry.canvas });
  await viewer.importXML(xml);
  const diagram = findDiagram(viewer, p.bpmn_process_id);
  if (diagram === null) {
    viewer.destroy();
    entry.canvas.replaceWith(el("p", { class: "no-diagram" },
      "no diagram for this process in " + p.resource_name));
    entry.card.dataset.diagram = "none";
    return;
  }
  if (viewer.getDefinitions().diagrams[0] !== diagram) await viewer.open(diagram);
  viewer.get("canvas").zoom("fit-viewport");
  entry.viewer = viewer;
  entry.card.dataset.diagram = "shown";
}

function showCounts(entry, p) {
  entry.totals.textContent = p.instances + " running instance" + (p.instances === 1 ? "" : "s") +
    (p.incidents ? " · " + p.incidents + " incident" + (p.incidents === 1 ? "" : "s") : "");
  entry.card.dataset.instances = String(p.instances);
  entry.card.dataset.incidents = String(p.incidents);
  const viewer = entry.viewer;
  if (!viewer) return;
  const overlays = viewer.get("overlays");
  const registry = viewer.get("elementRegistry");
  overlays.remove({ type: "count" });
  for (const [elementId, counts] of Object.entries(p.elements)) {
    if (!registry.get(elementId)) continue;
    if (counts.active) {
      overlays.add(elementId, "count", {
        position: { bottom: 10, left: -10 },
        html: el("span", { class: "count active", "data-element": elementId,
          title: counts.active + " active" }, String(counts.active)),
      });
    }
    if (counts.incidents) {
      overlays.add(elementId, "count", {
        position: { bottom: 10, right: 10 },
        html: el("span", { class: "count incidents", "data-element": elementId,
          title: counts.incidents + " open incidents" }, String(counts.incidents)),
      });
    }
  }
}

function describeCoverage(doc) {
  const counted = doc.counted_partitions.map((p) => p.partition_id);
  let text = doc.processes.length + " deployed process definition" +
    (doc.processes.length === 1 ? "" : "s") + " · counted on broker " + doc.served_by +
    " from partition" + (counted.length === 1 ? " " : "s ") + (counted.join(", ") || "none");
  if (doc.missing_partitions.length) {
    text += " · partitions " + doc.missing_partitions.join(", ") +
      " have no replica here: their instances are not counted";
  }
  return text;
}

async function renderProcesses(doc) {
  document.getElementById("processes-summary").textContent = describeCoverage(doc);
  const list = document.getElementById("process-list");
  const shown = doc.processes.slice(0, MAX_DIAGRAMS);
  const keep = new Set(shown.map((p) => p.key));
  for (const [key, entry] of cards) {
    if (!keep.has(key)) {
      if (entry.viewer) entry.viewer.destroy();
      entry.card.remove();
      cards.delete(key);
    }
  }
  for (const p of shown) {
    let entry = cards.get(p.key);
    if (entry === undefined) {
      entry = processCard(p);
      list.append(entry.card);
      cards.set(p.key, entry);
      entry.ready = drawDiagram(entry, p).catch((error) => {
        entry.card.dataset.diagram = "failed";
        entry.canvas.replaceWith(el("p", { class: "no-diagram" },
          "cannot draw the diagram: " + error.message));
      });
    }
    await entry.ready;
    showCounts(entry, p);
  }
  const section = document.getElementById("processes");
  section.dataset.updates = String(Number(section.dataset.updates) + 1);
}

async function pollProcesses() {
  try {
    const answer = await fetch("/api/processes", { cache: "no-store" });
    if (answer.ok) await renderProcesses(await answer.json());
  } catch (error) {
    document.getElementById("processes-summary").textContent =
      "cannot load the processes: " + error.message;
  }
  setTimeout(pollProcesses, PROCESS_POLL_MS);
}

pollProcesses();
