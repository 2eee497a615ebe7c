// upkafka console: vanilla JS on the public REST API (same origin, the browser's Basic
// credentials). Pages are hash routes: #overview, #groups, #browse, #produce.
'use strict';

const REFRESH_MS = 2000;
const $ = (sel, root = document) => root.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const resp = await fetch(path, init);
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (!resp.ok) {
    const msg = data && data.error ? data.error : `HTTP ${resp.status}`;
    throw new Error(`${method} ${path}: ${msg}`);
  }
  return data;
}

function status(text, isError) {
  const s = $('#status');
  s.textContent = text;
  s.className = isError ? 'error' : 'muted';
}

async function partitionsOf() {
  const topics = await api('GET', '/topics');
  const list = [];
  for (const [topic, n] of Object.entries(topics).sort()) {
    for (let p = 0; p < n; p++) list.push({ topic, partition: p });
  }
  return { topics, list };
}

const key = (t, p) => `${t}/${p}`;

async function offsetsMap(spec, list) {
  const m = new Map();
  if (list.length === 0) return m;
  for (const o of await api('POST', `/offsets/${spec}`, list)) m.set(key(o.topic, o.partition), o.offset);
  return m;
}

// ---------- overview ----------

async function renderOverview() {
  const { list } = await partitionsOf();
  const [earliest, latest, stats] = await Promise.all([
    offsetsMap('earliest', list), offsetsMap('latest', list), api('GET', '/ui/api/stats'),
  ]);
  const tbody = $('#topics-table tbody');
  tbody.replaceChildren(...list.map(({ topic, partition }, i) => {
    const e = earliest.get(key(topic, partition)) ?? 0;
    const l = latest.get(key(topic, partition)) ?? 0;
    const c = stats.topics[topic] || {};
    const first = i === 0 || list[i - 1].topic !== topic;
    return el('tr', { 'data-topic': topic, 'data-partition': String(partition) },
      el('td', { text: first ? topic : '' }),
      el('td', { text: String(partition) }),
      el('td', { class: 'num earliest', text: String(e) }),
      el('td', { class: 'num latest', text: String(l) }),
      el('td', { class: 'num count', text: String(Math.max(0, l - e)) }),
      el('td', { class: 'num', text: first ? String(c.producedMessages ?? 0) : '' }),
      el('td', { class: 'num', text: first ? String(c.consumedMessages ?? 0) : '' }));
  }));
  drawRates(stats);
}

// Rates in 5-second buckets over the last five minutes, as two lines on a canvas.
function drawRates(stats) {
  const canvas = $('#rates');
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 900, h = canvas.clientHeight || 180;
  canvas.width = w * dpr; canvas.height = h * dpr;
  const g = canvas.getContext('2d');
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  const step = 5, n = Math.floor(stats.historySeconds / step);
  const start = stats.now - n * step + 1;
  const prod = new Array(n).fill(0), cons = new Array(n).fill(0);
  for (const s of stats.history) {
    const i = Math.floor((s.t - start) / step);
    if (i >= 0 && i < n) { prod[i] += s.produced / step; cons[i] += s.consumed / step; }
  }
  const max = Math.max(1, ...prod, ...cons);
  const left = 44, bottom = h - 18, top = 8, right = w - 8;
  g.strokeStyle = '#e3e6eb'; g.fillStyle = '#6b7380'; g.font = '11px system-ui, sans-serif';
  for (const f of [0, 0.5, 1]) {
    const y = bottom - f * (bottom - top);
    g.beginPath(); g.moveTo(left, y); g.lineTo(right, y); g.stroke();
    g.fillText((max * f).toFixed(max < 10 ? 1 : 0), 4, y + 4);
  }
  g.fillText('-5 min', left, h - 4);
  g.fillText('now', right - 22, h - 4);
  const line = (data, colour) => {
    g.strokeStyle = colour; g.lineWidth = 2; g.beginPath();
    data.forEach((v, i) => {
      const x = left + (i / (n - 1)) * (right - left);
      const y = bottom - (v / max) * (bottom - top);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke(); g.lineWidth = 1;
  };
  line(prod, '#2f6fde');
  line(cons, '#d9822b');
}

// ---------- consumer groups ----------

async function renderGroups() {
  const groups = await api('GET', '/consumers');
  const rows = [];
  const wanted = [];
  for (const g of groups) {
    for (const inst of g.instances) {
      let committed = new Map();
      try {
        for (const o of await api('POST', `/committed/${encodeURIComponent(g.name)}/${encodeURIComponent(inst.name)}`)) {
          committed.set(key(o.topic, o.partition), o.offset);
        }
      } catch (_) { committed = null; } // the instance expired meanwhile
      for (const t of inst.topics) {
        for (const p of t.partitions) {
          rows.push({ group: g.name, instance: inst.name, topic: t.topic, partition: p, committed: committed ? committed.get(key(t.topic, p)) ?? -1 : -1 });
          wanted.push({ topic: t.topic, partition: p });
        }
      }
      if (inst.topics.every((t) => t.partitions.length === 0)) {
        rows.push({ group: g.name, instance: inst.name, topic: '', partition: null, committed: -1 });
      }
    }
  }
  const [earliest, latest] = await Promise.all([offsetsMap('earliest', wanted), offsetsMap('latest', wanted)]);
  $('#groups-empty').hidden = rows.length > 0;
  $('#groups-table tbody').replaceChildren(...rows.map((r) => {
    const l = r.partition === null ? null : latest.get(key(r.topic, r.partition)) ?? 0;
    const e = r.partition === null ? 0 : earliest.get(key(r.topic, r.partition)) ?? 0;
    const lag = l === null ? null : Math.max(0, l - (r.committed >= 0 ? r.committed : e));
    return el('tr', { 'data-group': r.group, 'data-instance': r.instance, 'data-topic': r.topic, 'data-partition': String(r.partition ?? '') },
      el('td', { text: r.group }), el('td', { class: 'instance', text: r.instance }),
      el('td', { text: r.topic || '(no partitions)' }), el('td', { text: r.partition === null ? '' : String(r.partition) }),
      el('td', { class: 'num committed', text: r.committed >= 0 ? String(r.committed) : '—' }),
      el('td', { class: 'num latest', text: l === null ? '' : String(l) }),
      el('td', { class: 'num lag' + (lag > 100 ? ' lag-high' : ''), text: lag === null ? '' : String(lag) }));
  }));
}

// ---------- message browser ----------

let topicsCache = {};

async function fillTopicSelects() {
  topicsCache = await api('GET', '/topics');
  for (const id of ['#browse-topic', '#produce-topic']) {
    const sel = $(id);
    const prev = sel.value;
    sel.replaceChildren(...Object.keys(topicsCache).sort().map((t) => el('option', { value: t, text: t })));
    if (prev && prev in topicsCache) sel.value = prev;
  }
  fillPartitions();
}

function fillPartitions() {
  const sel = $('#browse-partition');
  const prev = sel.value;
  const n = topicsCache[$('#browse-topic').value] || 0;
  sel.replaceChildren(...Array.from({ length: n }, (_, p) => el('option', { value: String(p), text: String(p) })));
  if (prev !== '' && Number(prev) < n) sel.value = prev;
}

function pretty(value) {
  try {
    const v = JSON.parse(value);
    if (v !== null && typeof v === 'object') return JSON.stringify(v, null, 2);
  } catch (_) { /* not JSON */ }
  return value;
}

// Rows the message view keeps, following or not.
const MAX_ROWS = 500;

function messageRow(m, v) {
  return el('tr', { 'data-offset': String(m.offset) },
    el('td', { class: 'num', text: String(m.offset) }),
    el('td', { text: new Date(m.timestamp).toISOString().replace('T', ' ').replace('Z', '') }),
    el('td', { class: 'key', text: m.key }),
    el('td', {}, el('pre', { text: (m.headers || []).map((h) => `${h.key}: ${h.value}`).join('\n') })),
    el('td', { class: 'value' }, el('pre', { text: pretty(m.value) })),
    el('td', {}, v ? el('span', { class: `badge ${v.status}`, text: v.status }) : ''));
}

async function browse(form) {
  stopFollowing();
  const topic = form.topic.value, partition = Number(form.partition.value);
  const tp = [{ topic, partition }];
  const [e] = await api('POST', '/offsets/earliest', tp);
  const [l] = await api('POST', '/offsets/latest', tp);
  const latestMode = form.mode.value === 'latest';
  const want = latestMode ? Math.min(MAX_ROWS, Math.max(1, Number(form.n.value) || 20)) : MAX_ROWS;
  let from = latestMode ? Math.max(e.offset, l.offset - want) : Math.max(e.offset, Number(form.offset.value) || 0);
  const messages = [];
  while (from < l.offset && messages.length < want) {
    const batch = await api('POST', '/fetch', { topic, partition, offset: from, timeout: 100 });
    const mine = batch.filter((m) => m.topic === topic && m.partition === partition && m.offset >= from);
    if (mine.length === 0) break;
    messages.push(...mine);
    from = mine[mine.length - 1].offset + 1;
  }
  messages.splice(want);
  if (latestMode) messages.reverse();
  const verdicts = messages.length ? await api('POST', '/ui/api/classify', messages.map((m) => m.value)) : [];
  const info = `${topic} / ${partition}: offsets ${e.offset}..${l.offset}, showing ${messages.length}`;
  $('#browse-info').textContent = info;
  $('#messages-table tbody').replaceChildren(...messages.map((m, i) => messageRow(m, verdicts[i])));
  if (form.follow.checked) {
    // From the first offset not shown: the latest end, or past the last row of an offset view.
    const next = messages.length && !latestMode ? messages[messages.length - 1].offset + 1 : l.offset;
    follow(topic, partition, Math.max(next, l.offset), latestMode);
  }
}

// ---------- follow: a fetch as a server-sent event stream ----------
// EventSource can only GET; a fetch names its partition in a POST body, so the stream is read
// with fetch() and its body parsed as text/event-stream. A dropped stream is reopened from the
// offset after the last message shown, so nothing is missed.

let following = null;

function stopFollowing() {
  if (following) following.abort();
  following = null;
}

function follow(topic, partition, from, newestFirst) {
  const ctl = new AbortController();
  following = ctl;
  const info = $('#browse-info');
  const base = info.textContent;
  let next = from;
  const show = async (batch) => {
    const verdicts = await api('POST', '/ui/api/classify', batch.map((m) => m.value));
    const body = $('#messages-table tbody');
    const rows = batch.map((m, i) => messageRow(m, verdicts[i]));
    if (newestFirst) body.prepend(...rows.reverse()); else body.append(...rows);
    while (body.rows.length > MAX_ROWS) body.rows[newestFirst ? body.rows.length - 1 : 0].remove();
    info.textContent = `${base}; following from offset ${from}, ${next - from} new`;
  };
  (async () => {
    while (!ctl.signal.aborted) {
      try {
        const resp = await fetch('/fetch', {
          method: 'POST',
          signal: ctl.signal,
          headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
          body: JSON.stringify({ topic, partition, offset: next }),
        });
        if (!resp.ok) throw new Error(`follow: HTTP ${resp.status}`);
        info.textContent = `${base}; following from offset ${from}`;
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          const batch = [];
          let end;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const event = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const lines = event.split('\n');
            const data = lines.filter((x) => x.startsWith('data: ')).map((x) => x.slice(6)).join('\n');
            if (lines.includes('event: error')) throw new Error(`follow: ${JSON.parse(data).error}`);
            if (!data) continue; // retry hint, heartbeat
            const m = JSON.parse(data);
            if (m.offset < next) continue;
            next = m.offset + 1;
            batch.push(m);
          }
          if (batch.length) await show(batch);
        }
      } catch (err) {
        if (ctl.signal.aborted) return;
        status(String(err.message || err), true);
      }
      // Ended (server restart, network): reopen after the retry delay.
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
}

// ---------- produce ----------

async function produce(form) {
  const record = { topic: form.topic.value, value: form.value.value };
  if (form.partition.value !== '') record.partition = Number(form.partition.value);
  if (form.key.value !== '') record.key = form.key.value;
  const headers = form.headers.value.split('\n').map((s) => s.trim()).filter(Boolean).map((line) => {
    const i = line.indexOf('=');
    if (i <= 0) throw new Error(`header "${line}": expected name=value`);
    return { key: line.slice(0, i), value: line.slice(i + 1) };
  });
  if (headers.length) record.headers = headers;
  const [meta] = await api('POST', '/produce', [record]);
  $('#produce-result').textContent = `produced to ${meta.topic} partition ${meta.partition} at offset ${meta.offset}`;
}

// ---------- shell ----------

const pages = { overview: renderOverview, groups: renderGroups, browse: null, produce: null };
let timer = null;

async function refresh(page) {
  try {
    if (pages[page]) await pages[page]();
    status(`updated ${new Date().toLocaleTimeString()}`, false);
  } catch (err) {
    status(String(err.message || err), true);
  }
}

async function show() {
  stopFollowing();
  const page = (location.hash || '#overview').slice(1) in pages ? (location.hash || '#overview').slice(1) : 'overview';
  for (const name of Object.keys(pages)) $(`#page-${name}`).hidden = name !== page;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.page === page);
  clearInterval(timer);
  if (page === 'browse' || page === 'produce') {
    try { await fillTopicSelects(); } catch (err) { status(String(err.message || err), true); }
  }
  await refresh(page);
  if (pages[page]) timer = setInterval(() => refresh(page), REFRESH_MS);
}

function onSubmit(form, action) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try { await action(form); status('', false); } catch (err) { status(String(err.message || err), true); }
  });
}

document.addEventListener('DOMContentLoaded', () => {
  onSubmit($('#browse-form'), browse);
  onSubmit($('#produce-form'), produce);
  $('#browse-topic').addEventListener('change', fillPartitions);
  $('#browse-follow').addEventListener('change', (ev) => { if (!ev.target.checked) stopFollowing(); });
  window.addEventListener('hashchange', show);
  show();
});
