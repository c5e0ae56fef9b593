#!/usr/bin/env node
// A hub of kind "other" in Node.js, with no dependency: one JSON file shared by every
// driver process, changed under a lock directory, written by rename.  It is written from
// SPEC.md and DRIVER.md (conformance/agentcomm_conformance/protocol/) alone, as a third party would, to show
// that the suite judges any language's hub through the driver protocol (tests/test_node_driver.py).
//
//   agentcomm conformance --impl "driver:node tests/drivers/jsonfile_hub.js"
//
// Locators are jsonfile:///abs/path/hub.json[?option=value...] (DRIVER.md, "The locator").
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const readline = require("readline");

const PROTOCOL = 1;
const SCHEME = "jsonfile";
const CAPABILITIES = ["batch", "manual_clock"];
const DAYS_30 = 30 * 86400;
const MAX_BATCH = 10000;
const LEVELS = ["low", "normal", "high"];
const STATUSES = ["pending", "processing", "completed", "dead", "expired"];
const COUNTERS = ["sent", "completed", "failed", "retried", "dead", "expired", "published"];
const OPTIONS = {  // name: [default, integer?, lowest]
  max_payload_bytes: [1048576, true, 1], default_timeout: [300, false, 0.001],
  default_max_retries: [3, true, 0], backoff_base: [1, false, 0], backoff_max: [300, false, 0],
  heartbeat_ttl: [60, false, 0.001], retain_finished: [86400, false, 0],
  retain_events: [604800, false, 0], poll_interval: [0.001, false, 0], busy_timeout: [10, false, 0],
};
const SEGMENTS = "[A-Za-z0-9][A-Za-z0-9_-]*(?:\\.[A-Za-z0-9][A-Za-z0-9_-]*)*";
const AGENT_ID = new RegExp(`^@${SEGMENTS}$`);
const QUEUE = new RegExp(`^${SEGMENTS}$`);
const TYPE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const CORRELATION = /^[A-Za-z0-9_.@/+=-]+$/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

// -- errors: SPEC ERR-001, DRIVER.md "Errors" ----------------------------------------------
class HubError extends Error {
  constructor(code, message, definite = true) {
    super(message);
    this.code = code;
    this.definite = definite;
  }
}
const invalid = (message) => new HubError("invalid_input", message);
const notFound = (message) => new HubError("not_found", message);
const stale = (message) => new HubError("stale_lease", message);
const protocol = (message) => new HubError("protocol", message);

function shown(value) {
  if (typeof value === "string") {
    return value.length > 100 ? `'${value.slice(0, 40)}'... (${value.length} characters)`
      : `'${value}'`;
  }
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  try { return JSON.stringify(value); } catch (e) { return String(value); }
}

// -- checking arguments: SPEC LIMIT-001..005 ------------------------------------------------
function text(name, value, pattern, limit) {
  if (typeof value !== "string") throw invalid(`${name} must be a string, not ${shown(value)}`);
  if (value.length > limit) throw invalid(`${name} ${shown(value)} is longer than ${limit}`);
  if (!pattern.test(value)) throw invalid(`${name} ${shown(value)} is not valid`);
  return value;
}
const agentId = (value) => text("agent id", value, AGENT_ID, 100);
const messageType = (value) => text("message type", value, TYPE, 50);
const eventType = (value) => text("event type", value, TYPE, 100);
function target(value, name = "target") {
  if (typeof value === "string" && value.startsWith("@")) return text(name, value, AGENT_ID, 100);
  return text(name, value, QUEUE, 100);
}
function seconds(name, value, { zero = false, nullable = false } = {}) {
  if (value === null && nullable) return null;
  const ok = typeof value === "number" && Number.isFinite(value) && value <= DAYS_30 &&
    (zero ? value >= 0 : value > 0);
  if (!ok) throw invalid(`${name} ${shown(value)} must be a number ${zero ? ">= 0" : "> 0"} of at most ${DAYS_30} seconds`);
  return value;
}
function integer(name, value, low, high, { nullable = false } = {}) {
  if (value === null && nullable) return null;
  if (!Number.isInteger(value) || value < low || value > high) {
    throw invalid(`${name} ${shown(value)} must be an integer from ${low} to ${high}`);
  }
  return value;
}
const limit = (value, name = "limit") => integer(name, value, 1, MAX_BATCH);
function flag(name, value) {
  if (typeof value !== "boolean") throw invalid(`${name} must be true or false, not ${shown(value)}`);
  return value;
}
function id(name, value) {
  if (typeof value !== "string" || value.length < 1 || value.length > 100) {
    throw invalid(`${name} ${shown(value)} is not a string of 1 to 100 characters`);
  }
  return value;
}
function priority(value) {
  if (Number.isInteger(value) && value >= 0 && value <= 2) return value;
  if (typeof value === "string") {
    const word = value.trim();
    if (LEVELS.includes(word.toLowerCase())) return LEVELS.indexOf(word.toLowerCase());
    if (/^[0-2]$/.test(word)) return Number(word);
  }
  throw invalid(`priority ${shown(value)} is not one of low/0, normal/1, high/2`);
}
function jsonValue(value, at = "payload") {
  if (value === null || typeof value === "boolean") return;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw invalid(`${at} holds ${value}, which is not JSON`);
    return;
  }
  if (typeof value === "string") {
    if (LONE_SURROGATE.test(value)) throw invalid(`${at} holds text that is not valid Unicode`);
    return;
  }
  if (Array.isArray(value)) { value.forEach((v) => jsonValue(v, at)); return; }
  if (value instanceof NonStringKeys) throw invalid(`${at} has an object key that is not a string`);
  if (typeof value === "object") {
    for (const [k, v] of Object.entries(value)) { jsonValue(k, at); jsonValue(v, at); }
    return;
  }
  throw invalid(`${at} is not a JSON value`);
}
function payload(value, options) {
  jsonValue(value);
  const size = Buffer.byteLength(JSON.stringify(value), "utf8");
  if (size > options.max_payload_bytes) {
    throw invalid(`payload is ${size} bytes, limit ${options.max_payload_bytes}`);
  }
  return value;
}
function reason(value) {
  if (typeof value !== "string") throw invalid(`reason must be a string, not ${shown(value)}`);
  if (value.length > 4096) throw invalid(`reason is ${value.length} characters, limit 4096`);
  if (LONE_SURROGATE.test(value)) throw invalid("reason is not valid Unicode text");
  return value;
}

// -- values JSON cannot carry: DRIVER.md's tagged form ---------------------------------------
class NonStringKeys { }  // an object whose keys JSON would have turned into text

function untag(node) {
  if (!Array.isArray(node) || typeof node[0] !== "string") throw protocol("a tagged value is a list starting with its tag");
  const [tag, value] = node;
  switch (tag) {
    case "null": return null;
    case "bool": return value;
    case "number": return { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity }[value] ?? value;
    case "string": return String.fromCharCode(...value);
    case "array": return value.map(untag);
    case "object": {
      const keys = value.map(([k]) => untag(k));
      if (keys.some((k) => typeof k !== "string")) return new NonStringKeys();
      return Object.fromEntries(value.map(([k, v]) => [untag(k), untag(v)]));
    }
    default: throw protocol(`unknown tag ${shown(tag)}`);
  }
}

// -- the locator and its options: DRIVER.md "The locator" -----------------------------------
function parseLocator(locator) {
  if (typeof locator !== "string") throw protocol("hub must be a string");
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?]*)([^?]*)(?:\?(.*))?$/.exec(locator);
  if (!match) throw new HubError("configuration", "a hub locator is jsonfile:///abs/path/hub.json");
  const [, scheme, , file, query] = match;
  if (scheme !== SCHEME) throw new HubError("configuration", `unsupported hub URL scheme '${scheme}'`);
  const options = Object.fromEntries(Object.entries(OPTIONS).map(([k, [d]]) => [k, d]));
  const seen = new Set();
  for (const part of (query || "").split("&").filter(Boolean)) {
    const [name, raw = ""] = part.split("=").map(decodeURIComponent);
    if (!(name in OPTIONS)) throw new HubError("configuration", `unknown hub option '${name}'`);
    if (seen.has(name)) throw new HubError("configuration", `hub option '${name}' is given twice`);
    seen.add(name);
    const [, whole, lowest] = OPTIONS[name];
    const value = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw) ? Number(raw) : NaN;
    if (!Number.isFinite(value) || value < lowest || (whole && !Number.isInteger(value))) {
      throw new HubError("configuration", `hub option ${name}=${shown(raw)} is not a valid value`);
    }
    options[name] = value;
  }
  if (options.backoff_max < options.backoff_base) {
    throw new HubError("configuration", "hub option backoff_max is below backoff_base");
  }
  return { file: decodeURIComponent(file), options };
}

// -- the store: one JSON file, changed under a lock directory -------------------------------
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms) => Atomics.wait(sleeper, 0, 0, ms);

function emptyStore() {
  return { seq: { message: 0, reply: 0, event: 0, dead: 0 }, messages: {}, replies: {},
    events: [], subscriptions: {}, agents: {}, counters: Object.fromEntries(COUNTERS.map((c) => [c, 0])) };
}

class Store {
  constructor(file, options) {
    this.file = file;
    this.lock = `${file}.lock`;
    this.options = options;
  }

  create() {
    fs.writeFileSync(this.file, JSON.stringify(emptyStore()), { mode: 0o600 });
  }

  // Run change(data) with the lock held; write the data back when it returns true-ish `dirty`.
  transact(change) {
    this.acquire();
    try {
      let raw;
      try { raw = fs.readFileSync(this.file, "utf8"); } catch (e) {
        throw notFound(`no hub at ${this.file}`);
      }
      const data = JSON.parse(raw);
      const before = raw.length;
      const result = change(data);
      const after = JSON.stringify(data);
      if (after !== raw || after.length !== before) {
        const temp = `${this.file}.${process.pid}.tmp`;
        fs.writeFileSync(temp, after, { mode: 0o600 });
        fs.renameSync(temp, this.file);
      }
      return result;
    } finally {
      fs.rmSync(this.lock, { recursive: true, force: true });
    }
  }

  acquire() {
    const deadline = Date.now() + this.options.busy_timeout * 1000;
    for (;;) {
      try {
        fs.mkdirSync(this.lock);
        fs.writeFileSync(path.join(this.lock, "pid"), String(process.pid));
        return;
      } catch (e) {
        if (e.code !== "EEXIST") throw e;
      }
      this.breakIfAbandoned();
      if (Date.now() > deadline) {
        throw new HubError("backend_unavailable", `the hub file ${this.file} stayed locked`, true);
      }
      sleep(1);
    }
  }

  breakIfAbandoned() {  // a process killed holding the lock must not lock the hub for ever
    try {
      const holder = Number(fs.readFileSync(path.join(this.lock, "pid"), "utf8"));
      if (holder) process.kill(holder, 0);
    } catch (e) {
      if (e.code === "ESRCH") fs.rmSync(this.lock, { recursive: true, force: true });
    }
  }

  changed() {  // a cheap look: has anyone written since?
    try { const s = fs.statSync(this.file); return `${s.ino}:${s.mtimeMs}:${s.size}`; } catch (e) { return ""; }
  }
}

// -- the hub ops: SPEC "Operations" ---------------------------------------------------------
const wire = (m) => ({
  id: m.id, from_agent: m.from_agent, to_agent: m.to_agent, type: m.type, payload: m.payload,
  status: m.status, priority: LEVELS[m.priority], created_at: m.created_at,
  timeout_seconds: m.timeout_seconds, retry_count: m.retry_count, max_retries: m.max_retries,
  correlation_id: m.correlation_id, expires_at: m.expires_at, available_at: m.available_at,
  claimed_by: m.claimed_by, last_error: m.last_error, reply_id: m.reply_id,
});
const wireClaim = (m) => ({ message: wire(m), token: m.token, lease_expires_at: m.lease_expires_at, id: m.id });
const byId = (a, b) => Number(a.id) - Number(b.id);

class Hub {
  constructor(store, agent, clock) {
    this.store = store;
    this.options = store.options;
    this.agent = agent;
    this.clock = clock;  // null: the system's
  }

  now() { return this.clock ? this.clock.now : Date.now() / 1000; }

  me() {
    if (this.agent === null) throw new HubError("configuration", "this op needs a handle opened as an agent");
    return this.agent;
  }

  // Wait up to `wait` seconds for attempt() to find something (SPEC CLAIM-006, CAP-003).
  waitFor(attempt, wait) {
    const deadline = this.now() + wait;
    for (;;) {
      const seen = this.store.changed();
      const found = attempt();
      const left = deadline - this.now();
      if (found !== null || left <= 0) return found;
      if (this.clock) { this.clock.now += Math.min(left, 0.25); continue; }  // at once
      const recheck = Date.now() + Math.min(left, 0.25) * 1000;  // leases end without writes
      while (Date.now() < recheck && this.store.changed() === seen) sleep(2);
    }
  }

  // -- messages
  prepare(m, now) {
    const to = target(m.to, "to");
    const item = {
      to_agent: to, type: messageType(m.type), payload: payload(m.payload, this.options),
      priority: priority(m.priority === undefined ? 1 : m.priority),
      timeout_seconds: m.timeout_seconds === undefined || m.timeout_seconds === null
        ? this.options.default_timeout : seconds("timeout_seconds", m.timeout_seconds),
      max_retries: m.max_retries === undefined || m.max_retries === null
        ? this.options.default_max_retries : integer("max_retries", m.max_retries, 0, 100),
      correlation_id: m.correlation_id === undefined || m.correlation_id === null ? null
        : text("correlation id", m.correlation_id, CORRELATION, 100),
      expires_at: m.expires_in === undefined || m.expires_in === null ? null
        : now + seconds("expires_in", m.expires_in),
    };
    return item;
  }

  send(args) {
    const now = this.now();
    return this.insert([this.prepare(args, now)], now)[0];
  }

  send_many({ messages }) {
    this.me();
    if (!Array.isArray(messages)) throw invalid("messages must be a list");
    limit(messages.length, "batch size");
    const now = this.now();
    const items = messages.map((m, i) => {
      if (m === null || typeof m !== "object" || Array.isArray(m)) {
        throw invalid(`messages[${i}] must be a message (an object), not ${shown(m)}`);
      }
      try {
        return this.prepare(m, now);
      } catch (e) {
        if (e instanceof HubError) e.message = `messages[${i}]: ${e.message}`;
        throw e;
      }
    });
    return this.insert(items, now);
  }

  insert(items, now) {
    const sender = this.me();
    return this.store.transact((data) => items.map((item) => {
      const m = { ...item, id: String(++data.seq.message), from_agent: sender, status: "pending",
        created_at: now, available_at: now, retry_count: 0, claimed_by: null, last_error: null,
        reply_id: null, token: null, lease_expires_at: null, finished_at: null,
        finish_token: null, dead_order: null };
      data.messages[m.id] = m;
      data.counters.sent += 1;
      return wire(m);
    }));
  }

  get({ message_id }) {
    id("message id", message_id);
    return this.store.transact((data) => wire(this.found(data, message_id)));
  }

  found(data, messageId) {
    const m = data.messages[messageId];
    if (!m) throw notFound(`unknown message id ${shown(messageId)}`);
    return m;
  }

  request({ to, type, payload: body, timeout = 30, priority: level = "normal", correlation_id = null }) {
    seconds("timeout", timeout);
    const cid = correlation_id ?? `req_${crypto.randomBytes(16).toString("hex")}`;
    const sent = this.send({ to, type, payload: body, priority: level, correlation_id: cid, expires_in: timeout });
    return this.wait_reply({ request_id: sent.id, timeout });
  }

  get_reply({ request_id }) {
    id("request id", request_id);
    return this.store.transact((data) => {
      this.found(data, request_id);
      return data.replies[request_id] ?? null;
    });
  }

  wait_reply({ request_id, timeout = 30 }) {
    seconds("timeout", timeout, { zero: true });
    const reply = this.waitFor(() => this.get_reply({ request_id }), timeout);
    if (reply === null) {
      throw new HubError("deadline_exceeded", `no reply to request '${request_id}' within ${timeout} s`, false);
    }
    return reply;
  }

  // -- claims and leases
  claim({ source = null, wait = 0 }) {
    const found = this.claim_many({ source, limit: 1, wait });
    return found.length ? found[0] : null;
  }

  claim_many({ source = null, limit: size = 10, wait = 0 }) {
    const agent = this.me();
    const from = source === null ? agent : target(source, "source");
    if (from.startsWith("@") && from !== agent) throw invalid(`agent ${agent} may not claim from the inbox of ${from}`);
    limit(size);
    seconds("wait", wait, { zero: true });
    return this.waitFor(() => {
      const claims = this.store.transact((data) => this.take(data, agent, from, size));
      return claims.length ? claims : null;
    }, wait) ?? [];
  }

  take(data, agent, from, size) {
    const now = this.now();
    this.settle(data, now, (m) => m.to_agent === from);  // SPEC CLAIM-005
    const claimable = Object.values(data.messages).filter((m) => m.to_agent === from &&
      m.status === "pending" && m.available_at <= now && (m.expires_at === null || m.expires_at > now));
    claimable.sort((a, b) => b.priority - a.priority || byId(a, b));
    const token = crypto.randomBytes(16).toString("hex");
    return claimable.slice(0, size).map((m) => {
      Object.assign(m, { status: "processing", claimed_by: agent, token, finish_token: null,
        lease_expires_at: now + m.timeout_seconds });
      return wireClaim(m);
    });
  }

  // SPEC LEASE-003: not found, then a foreign token, then finished, then a passed lease.
  leased(data, messageId, token, now) {
    const m = this.found(data, messageId);
    if (token !== m.token && token !== m.finish_token) throw stale(`token does not hold the lease on message '${m.id}'`);
    if (["completed", "dead", "expired"].includes(m.status)) {
      throw new HubError("already_finished", `message '${m.id}' is already ${m.status}`);
    }
    if (m.status !== "processing" || now >= m.lease_expires_at) throw stale(`the lease on message '${m.id}' has run out`);
    return m;
  }

  fenced(message_id, token) {
    id("message id", message_id);
    id("token", token);
  }

  extend({ message_id, token, seconds: length = null }) {
    this.fenced(message_id, token);
    seconds("seconds", length, { nullable: true });
    return this.store.transact((data) => {
      const now = this.now();
      const m = this.leased(data, message_id, token, now);
      m.lease_expires_at = now + (length ?? m.timeout_seconds);
      return wireClaim(m);
    });
  }

  complete({ message_id, token }) { this.complete_many({ items: [[message_id, token]] }); return null; }

  complete_many({ items }) {
    if (!Array.isArray(items)) throw invalid("items must be a list of [message_id, token]");
    items.forEach((pair, i) => {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw invalid(`items[${i}] must be a [message_id, token] pair, not ${shown(pair)}`);
      }
      this.fenced(...pair);
    });
    limit(items.length, "batch size");
    this.store.transact((data) => {
      const now = this.now();
      const held = items.map(([m, t]) => this.leased(data, m, t, now));
      held.forEach((m) => this.finish(data, m, "completed", now));
    });
    return null;
  }

  finish(data, m, status, now) {
    Object.assign(m, { status, finished_at: now, finish_token: m.token, lease_expires_at: null });
    data.counters[status] += 1;
  }

  reply({ message_id, token, payload: body, status = "success" }) {
    const sender = this.me();
    payload(body, this.options);
    if (status !== "success" && status !== "error") throw invalid(`reply status ${shown(status)} is not success or error`);
    this.fenced(message_id, token);
    return this.store.transact((data) => {
      const now = this.now();
      const m = this.leased(data, message_id, token, now);
      const reply = { id: String(++data.seq.reply), request_id: m.id, from_agent: sender,
        to_agent: m.from_agent, payload: body, status, created_at: now, correlation_id: m.correlation_id };
      data.replies[m.id] = reply;
      m.reply_id = reply.id;
      this.finish(data, m, "completed", now);
      return reply;
    });
  }

  fail({ message_id, token, reason: why, retry = true }) {
    reason(why);
    flag("retry", retry);
    this.fenced(message_id, token);
    return this.store.transact((data) => {
      const now = this.now();
      const m = this.leased(data, message_id, token, now);
      this.retryOrBury(data, m, why, retry, now, true);
      return wire(m);
    });
  }

  // SPEC RETRY-001..003.
  retryOrBury(data, m, why, retry, now, byHolder) {
    data.counters.failed += 1;
    if (retry && m.retry_count < m.max_retries) {
      const delay = Math.min(this.options.backoff_base * 2 ** m.retry_count, this.options.backoff_max);
      Object.assign(m, { status: "pending", retry_count: m.retry_count + 1, available_at: now + delay,
        claimed_by: null, last_error: why, token: null, lease_expires_at: null });
      data.counters.retried += 1;
      return;
    }
    Object.assign(m, { status: "dead", last_error: why, finished_at: now, lease_expires_at: null,
      dead_order: ++data.seq.dead, finish_token: byHolder ? m.token : null, token: null });
    data.counters.dead += 1;
    if (m.correlation_id !== null && m.expires_at !== null) this.answerDead(data, m, now);
  }

  // SPEC REQ-007: a request that dies is answered, in the same step, by its last holder.
  answerDead(data, m, now) {
    const reply = { id: String(++data.seq.reply), request_id: m.id, from_agent: m.claimed_by,
      to_agent: m.from_agent, payload: { error: "dead_letter", reason: m.last_error },
      status: "error", created_at: now, correlation_id: m.correlation_id };
    data.replies[m.id] = reply;
    m.reply_id = reply.id;
  }

  release({ message_id, token }) {
    this.fenced(message_id, token);
    return this.store.transact((data) => {
      const now = this.now();
      const m = this.leased(data, message_id, token, now);
      Object.assign(m, { status: "pending", available_at: now, claimed_by: null, token: null,
        lease_expires_at: null });
      return wire(m);
    });
  }

  // -- dead letters
  dead_letters({ limit: size = 100 }) {
    limit(size);
    return this.store.transact((data) => Object.values(data.messages)
      .filter((m) => m.status === "dead").sort((a, b) => a.dead_order - b.dead_order)
      .slice(0, size).map(wire));
  }

  replay({ message_id }) {
    id("message id", message_id);
    return this.store.transact((data) => {
      const m = this.found(data, message_id);
      if (m.status !== "dead") throw new HubError("conflict", `message '${m.id}' is ${m.status}, not dead`);
      if (m.reply_id !== null) {
        throw new HubError("conflict", `message '${m.id}' is a request already answered: send a new request`);
      }
      Object.assign(m, { status: "pending", retry_count: 0, available_at: this.now(), expires_at: null,
        claimed_by: null, token: null, finish_token: null, dead_order: null, finished_at: null });
      return wire(m);
    });
  }

  purge_dead({ message_ids = null }) {
    if (message_ids !== null && !Array.isArray(message_ids)) throw invalid("message_ids must be a list of ids");
    (message_ids ?? []).forEach((m, i) => id(`message_ids[${i}]`, m));
    return this.store.transact((data) => {
      const ids = message_ids ?? Object.keys(data.messages);
      let purged = 0;
      for (const m of new Set(ids)) {
        if (data.messages[m]?.status === "dead") {
          delete data.messages[m];
          delete data.replies[m];
          purged += 1;
        }
      }
      return purged;
    });
  }

  // -- events
  publish({ event_type, payload: body, ttl = null }) {
    const publisher = this.me();
    const kind = eventType(event_type);
    payload(body, this.options);
    seconds("ttl", ttl, { nullable: true });
    return this.store.transact((data) => {
      const now = this.now();
      const event = { id: String(++data.seq.event), event_type: kind, publisher, payload: body,
        published_at: now, expires_at: ttl === null ? null : now + ttl };
      data.events.push(event);
      data.counters.published += 1;
      return event;
    });
  }

  subscribe({ event_type }) {
    const agent = this.me();
    const kind = eventType(event_type);
    this.store.transact((data) => {
      const mine = (data.subscriptions[agent] ??= {});
      if (!(kind in mine)) mine[kind] = data.seq.event;
    });
    return null;
  }

  unsubscribe({ event_type }) {
    const agent = this.me();
    const kind = eventType(event_type);
    this.store.transact((data) => { delete (data.subscriptions[agent] ?? {})[kind]; });
    return null;
  }

  subscriptions() {
    const agent = this.me();
    return this.store.transact((data) => Object.keys(data.subscriptions[agent] ?? {}).sort());
  }

  events({ limit: size = 100, wait = 0 }) {
    const agent = this.me();
    limit(size);
    seconds("wait", wait, { zero: true });
    return this.waitFor(() => {
      const found = this.store.transact((data) => this.read(data, agent, size));
      return found.length ? found : null;
    }, wait) ?? [];
  }

  read(data, agent, size) {
    const now = this.now();
    const cursors = data.subscriptions[agent] ?? {};
    const unread = data.events.filter((e) => e.event_type in cursors &&
      Number(e.id) > cursors[e.event_type] && (e.expires_at === null || e.expires_at > now));
    const delivered = unread.sort(byId).slice(0, size);
    for (const e of delivered) cursors[e.event_type] = Math.max(cursors[e.event_type], Number(e.id));
    return delivered;
  }

  tail_events({ after = null, limit: size = 100 }) {
    if (after !== null) id("after", after);
    limit(size);
    return this.store.transact((data) => {
      const all = [...data.events].sort(byId);
      if (after === null) return all.slice(-size);
      return all.filter((e) => Number(e.id) > Number(after)).slice(0, size);
    });
  }

  // -- registry
  register({ capabilities = [], process_id = null, max_concurrent = 5, ttl = null }) {
    const agent = this.me();
    if (!Array.isArray(capabilities)) throw invalid(`capabilities must be a list, not ${shown(capabilities)}`);
    capabilities.forEach((c, i) => text(`capabilities[${i}]`, c, TYPE, 50));
    integer("process_id", process_id, 0, 2 ** 31, { nullable: true });
    integer("max_concurrent", max_concurrent, 0, 2 ** 31);
    const lifetime = ttl === null ? this.options.heartbeat_ttl : seconds("ttl", ttl);
    return this.store.transact((data) => {
      const now = this.now();
      data.agents[agent] = { agent_id: agent, status: "active", last_heartbeat: now,
        heartbeat_ttl: lifetime, process_id, capabilities: [...capabilities], current_load: 0,
        max_concurrent };
      return this.info(data.agents[agent], now);
    });
  }

  info(entry, now) {
    const age = now - entry.last_heartbeat;
    return { ...entry, alive: entry.status === "active" && age < entry.heartbeat_ttl, seconds_since_heartbeat: age };
  }

  heartbeat({ load = null }) {
    const agent = this.me();
    integer("load", load, 0, 2 ** 31, { nullable: true });
    return this.store.transact((data) => {
      const entry = data.agents[agent];
      if (!entry) throw notFound(`agent ${agent} is not registered`);
      const now = this.now();
      Object.assign(entry, { last_heartbeat: now, status: "active", current_load: load ?? entry.current_load });
      return this.info(entry, now);
    });
  }

  deregister() {
    const agent = this.me();
    this.store.transact((data) => {
      if (data.agents[agent]) Object.assign(data.agents[agent], { status: "inactive", current_load: 0 });
    });
    return null;
  }

  agents({ alive_only = false }) {
    flag("alive_only", alive_only);
    return this.store.transact((data) => {
      const now = this.now();
      const all = Object.keys(data.agents).sort().map((a) => this.info(data.agents[a], now));
      return alive_only ? all.filter((a) => a.alive) : all;
    });
  }

  // -- maintenance
  settle(data, now, where = () => true) {
    const changed = new Set();
    for (const m of Object.values(data.messages)) {
      if (m.status === "processing" && m.lease_expires_at <= now && where(m)) {
        this.retryOrBury(data, m, "lease expired", true, now, false);
        changed.add(m.id);
      }
    }
    return changed;
  }

  sweep() {
    return this.store.transact((data) => {
      const now = this.now();
      const changed = this.settle(data, now);
      for (const m of Object.values(data.messages)) {
        if (m.status === "pending" && m.expires_at !== null && m.expires_at <= now) {
          Object.assign(m, { status: "expired", finished_at: now });
          data.counters.expired += 1;
          changed.add(m.id);
        }
      }
      return changed.size;
    });
  }

  prune() {
    return this.store.transact((data) => {
      const now = this.now();
      const cutoff = now - this.options.retain_finished;
      const counts = { messages: 0, replies: 0, events: 0, agents: 0 };
      for (const m of Object.values(data.messages)) {
        if (["completed", "expired"].includes(m.status) && m.finished_at < cutoff) {
          delete data.messages[m.id];
          counts.messages += 1;
          if (data.replies[m.id]) { delete data.replies[m.id]; counts.replies += 1; }
        }
      }
      const kept = data.events.filter((e) => !(e.published_at < now - this.options.retain_events ||
        (e.expires_at !== null && e.expires_at <= now)));
      counts.events = data.events.length - kept.length;
      data.events = kept;
      for (const [agent, entry] of Object.entries(data.agents)) {
        if (entry.status === "inactive" && entry.last_heartbeat < cutoff) {
          delete data.agents[agent];
          counts.agents += 1;
        }
      }
      return counts;
    });
  }

  stats() {
    return this.store.transact((data) => {
      const now = this.now();
      const depths = {};
      for (const m of Object.values(data.messages)) {
        const counts = (depths[m.to_agent] ??= {});
        counts[m.status] = (counts[m.status] ?? 0) + 1;
        if (m.status === "pending") {
          const key = `pending_${LEVELS[m.priority]}`;
          counts[key] = (counts[key] ?? 0) + 1;
        }
      }
      const known = Object.values(data.agents).map((a) => this.info(a, now));
      return { depths, counters: { ...data.counters }, agents_alive: known.filter((a) => a.alive).length,
        agents_known: known.length };
    });
  }
}

const HUB_OPS = new Set(["send", "send_many", "request", "wait_reply", "get_reply", "get", "claim",
  "claim_many", "extend", "complete", "complete_many", "reply", "fail", "release", "dead_letters",
  "replay", "purge_dead", "publish", "subscribe", "unsubscribe", "subscriptions", "events",
  "tail_events", "register", "heartbeat", "deregister", "agents", "sweep", "prune", "stats"]);
const REQUIRED = { send: ["to", "type", "payload"], request: ["to", "type", "payload"],
  wait_reply: ["request_id"], get_reply: ["request_id"], get: ["message_id"],
  extend: ["message_id", "token"], complete: ["message_id", "token"],
  reply: ["message_id", "token", "payload"], fail: ["message_id", "token", "reason"],
  release: ["message_id", "token"], replay: ["message_id"], publish: ["event_type", "payload"],
  subscribe: ["event_type"], unsubscribe: ["event_type"], send_many: ["messages"],
  complete_many: ["items"] };

// -- the protocol: DRIVER.md "Lifecycle" ----------------------------------------------------
class Driver {
  constructor() {
    this.greeted = false;
    this.hub = null;
  }

  run(op, args) {
    if (op !== "hello" && !this.greeted) throw protocol("the first request must be hello");
    switch (op) {
      case "hello":
        if (args.protocol !== PROTOCOL) throw protocol(`this driver speaks protocol ${PROTOCOL} only`);
        this.greeted = true;
        return { protocol: PROTOCOL, implementation: { name: "jsonfile-node", version: "1.0" },
          kind: "other", capabilities: CAPABILITIES };
      case "new_hub": {
        const file = path.join(args.workdir, "hub.json");
        fs.mkdirSync(args.workdir, { recursive: true });
        new Store(file, parseLocator(`${SCHEME}://${file}`).options).create();
        return { hub: `${SCHEME}://${file}` };
      }
      case "open": {
        if (this.hub) throw protocol("a hub is open already: one driver per handle");
        const { file, options } = parseLocator(args.hub);
        const agent = args.agent === undefined || args.agent === null ? null : agentId(args.agent);
        if (!fs.existsSync(file)) throw notFound(`no hub at ${file}`);
        this.hub = new Hub(new Store(file, options), agent, args.now === undefined ? null : { now: args.now });
        return null;
      }
      case "advance_clock":
        this.hub.clock.now += args.seconds;
        return null;
      case "read_clock":
        return this.hub.clock.now;
      case "close":
        this.closing = true;
        return null;
      default:
        if (!HUB_OPS.has(op)) throw new HubError("unsupported", `unknown op '${op}'`);
        if (!this.hub) throw protocol(`open a hub before '${op}'`);
        for (const name of REQUIRED[op] ?? []) {
          if (!(name in args)) throw protocol(`'${op}' needs '${name}'`);
        }
        return this.hub[op](args);
    }
  }

  respond(line) {
    let request;
    try { request = JSON.parse(line); } catch (e) {
      return { id: null, ok: false, error: { code: "protocol", message: `not JSON: ${e.message}`, definite: true } };
    }
    try {
      const args = { ...(request.args ?? {}) };
      for (const [name, node] of Object.entries(request.nonjson ?? {})) args[name] = untag(node);
      return { id: request.id, ok: true, result: this.run(request.op, args) ?? null };
    } catch (e) {
      if (e instanceof HubError) return { id: request.id, ok: false, error: { code: e.code, message: e.message, definite: e.definite } };
      process.stderr.write(`${e.stack}\n`);
      return { id: request.id, ok: false, error: { code: "internal", message: String(e), definite: false } };
    }
  }
}

function main() {
  const driver = new Driver();
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on("line", (line) => {
    if (!line.trim()) return;
    const response = driver.respond(line);
    fs.writeSync(1, `${JSON.stringify(response)}\n`);
    if (response.ok && driver.closing) process.exit(0);
  });
  lines.on("close", () => process.exit(0));
}

main();
