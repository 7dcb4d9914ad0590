// The live cluster page: renders /api/cluster, kept current by its event stream.
// Plain DOM code, no build step and no external library.
"use strict";

const ROLE_LETTER = { leader: "L", follower: "F", candidate: "C", inactive: "–" };
let lastUpdate = 0;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, String(value));
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function rate(value) {
  if (value === null || value === undefined) return "–";
  return value >= 100 ? value.toFixed(0) + "/s" : value.toFixed(1) + "/s";
}

function num(value) {
  return value === null || value === undefined ? "–" : String(value);
}

function roleBadge(replica) {
  const role = replica.role in ROLE_LETTER ? replica.role : "inactive";
  return el("span", { class: "role " + role, title: role + ", term " + replica.term },
    ROLE_LETTER[role]);
}

function renderBrokers(doc) {
  const box = document.getElementById("brokers");
  box.replaceChildren(...doc.brokers.map((b) => {
    const leads = b.partitions.filter((p) => p.role === "leader").map((p) => p.partition_id);
    const health = b.healthy === null ? "unknown" : b.healthy ? "healthy" : "unhealthy";
    return el("div", {
      class: "broker" + (b.reachable ? "" : " unreachable"),
      "data-broker": b.node_id, "data-state": b.state,
    },
      el("h3", {}, "Broker " + b.node_id, el("span", { class: "state " + b.state }, b.state)),
      el("dl", {},
        el("dt", {}, "internal"), el("dd", {}, b.address || "–"),
        el("dt", {}, "gateway"), el("dd", {}, b.gateway || "–"),
        el("dt", {}, "health"), el("dd", { class: "health-" + health }, health),
        el("dt", {}, "leads"), el("dd", {}, leads.length ? leads.join(", ") : "none"),
        el("dt", {}, "replicas"), el("dd", {}, String(b.partitions.length)),
      ));
  }));
}

function renderPartitions(doc) {
  const nodes = doc.brokers.map((b) => b.node_id);
  const head = document.getElementById("partitions-head");
  head.replaceChildren(
    el("th", {}, "Partition"), el("th", {}, "Leader"), el("th", {}, "Term"),
    el("th", {}, "Health"),
    ...nodes.map((n) => el("th", {}, "Broker " + n)),
    el("th", {}, "Commit index"), el("th", {}, "Commit rate"), el("th", {}, "Processing rate"),
  );
  const replicaOf = {};
  for (const b of doc.brokers) {
    for (const p of b.partitions) replicaOf[b.node_id + ":" + p.partition_id] = p;
  }
  const body = document.getElementById("partitions-body");
  body.replaceChildren(...doc.partitions.map((p) => el("tr", {
    "data-partition": p.partition_id, "data-leader": p.leader === null ? "" : p.leader,
  },
    el("td", {}, String(p.partition_id)),
    el("td", { class: "leader" }, p.leader === null ? "none" : "broker " + p.leader),
    el("td", { class: "num" }, num(p.term)),
    el("td", { class: "health-" + p.health.replace(" ", "-") }, p.health),
    ...nodes.map((n) => {
      const replica = replicaOf[n + ":" + p.partition_id];
      return el("td", { "data-node": n },
        replica ? roleBadge(replica) : "",
        replica ? el("span", { class: "term" }, "t" + replica.term) : "");
    }),
    el("td", { class: "num" }, num(p.commit_index)),
    el("td", { class: "num commit-rate" }, rate(p.commit_rate)),
    el("td", { class: "num processing-rate" }, rate(p.processing_rate)),
  )));
}

function render(doc) {
  document.getElementById("cluster-name").textContent = doc.cluster.name;
  document.getElementById("served-by").textContent = doc.served_by;
  document.getElementById("version").textContent = doc.version;
  const alive = doc.brokers.filter((b) => b.state === "alive").length;
  const led = doc.partitions.filter((p) => p.leader !== null).length;
  document.getElementById("summary").textContent =
    alive + " of " + doc.cluster.size + " brokers alive · " + led + " of " +
    doc.cluster.partitions_count + " partitions have a leader · replication factor " +
    doc.cluster.replication_factor;
  renderBrokers(doc);
  renderPartitions(doc);
  lastUpdate = Date.now();
  document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
  setLive("live", "live");
}

function setLive(state, label) {
  const live = document.getElementById("live");
  live.dataset.state = state;
  document.getElementById("live-text").textContent = label;
}

function connect() {
  if (!window.EventSource) {
    poll();
    return;
  }
  const source = new EventSource("/api/cluster/events");
  source.onmessage = (event) => render(JSON.parse(event.data));
  // The browser reconnects by itself; say so meanwhile.
  source.onerror = () => setLive("lost", "reconnecting…");
}

async function poll() {
  try {
    const answer = await fetch("/api/cluster", { cache: "no-store" });
    if (answer.ok) render(await answer.json());
  } catch (error) {
    setLive("lost", "reconnecting…");
  }
  setTimeout(poll, 1000);
}

setInterval(() => {
  if (lastUpdate && Date.now() - lastUpdate > 5000) setLive("lost", "no update for 5 s");
}, 1000);

connect();
