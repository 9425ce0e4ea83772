// app.js — hearth's chat page (docs/WEBUI.md). Plain JavaScript, no framework, no build step.
//
// Talks only to the server that served it (relative URLs; the page's CSP allows nothing else):
// GET /v1/models for the picker, POST /v1/chat/completions with stream: true (read as SSE from
// fetch's body; Stop aborts the fetch, and the server cancels the job when the connection
// closes), GET /metrics for the status view. Requests send Content-Type: application/json (the
// server answers 415 to anything else) and the browser adds a same-origin Origin, which the
// server accepts. Model output reaches the page only through markdown.js and textContent.
//
// Conversations live in localStorage ("hearth.conversations"); the API key, when the server
// asks for one (401), in "hearth.apiKey".
'use strict';

(function () {
  const LS_CONVS = 'hearth.conversations';
  const LS_CURRENT = 'hearth.current';
  const LS_KEY = 'hearth.apiKey';
  const SETTINGS = ['temperature', 'top_p', 'top_k', 'max_tokens', 'seed'];
  const INTEGER_SETTINGS = new Set(['top_k', 'max_tokens', 'seed']);

  const $ = (id) => document.getElementById(id);
  const ui = {
    model: $('model'), newChat: $('new-chat'), navToggle: $('nav-toggle'), side: $('side'),
    convList: $('conv-list'), rename: $('rename-chat'), exportBtn: $('export-chat'), del: $('delete-chat'),
    renameForm: $('rename-form'), renameInput: $('rename-input'), renameCancel: $('rename-cancel'),
    settings: $('settings'), openSettings: $('open-settings'), system: $('system'), tools: $('tools'), settingsError: $('settings-error'),
    status: $('status'), statLast: $('stat-last'), statTtft: $('stat-ttft'), statTps: $('stat-tps'),
    metricsBody: $('metrics-body'), metricsRefresh: $('metrics-refresh'), forgetKey: $('forget-key'),
    keyForm: $('key-form'), keyWhy: $('key-why'), apiKey: $('api-key'),
    messages: $('messages'), empty: $('empty'), error: $('error'),
    composer: $('composer'), input: $('input'), send: $('send'), stop: $('stop'), liveStat: $('live-stat'),
  };

  // ---- storage ----

  let convs = [];
  let currentId = null;
  let models = [];
  let streaming = null; // {ac, conv, msg}

  function loadStore() {
    try {
      const v = JSON.parse(localStorage.getItem(LS_CONVS) || 'null');
      if (v && Array.isArray(v.conversations)) convs = v.conversations.filter((c) => c && Array.isArray(c.messages));
    } catch {
      convs = [];
    }
    currentId = localStorage.getItem(LS_CURRENT);
    if (!convs.some((c) => c.id === currentId)) currentId = convs.length ? convs[0].id : null;
  }

  function saveStore() {
    try {
      localStorage.setItem(LS_CONVS, JSON.stringify({ version: 1, conversations: convs }));
      if (currentId) localStorage.setItem(LS_CURRENT, currentId);
      else localStorage.removeItem(LS_CURRENT);
    } catch (e) {
      showError(`Could not save the conversations in this browser: ${e.message}`);
    }
  }

  function newId() {
    const b = new Uint8Array(8);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  function current() {
    return convs.find((c) => c.id === currentId) || null;
  }

  function createConv() {
    const c = { id: newId(), title: 'New chat', model: ui.model.value || null, settings: {}, messages: [],
                created: Date.now(), updated: Date.now() };
    convs.unshift(c);
    currentId = c.id;
    saveStore();
    return c;
  }

  // ---- requests ----

  const apiKey = () => localStorage.getItem(LS_KEY) || '';

  function headers(json) {
    const h = {};
    if (json) h['Content-Type'] = 'application/json';
    const k = apiKey();
    if (k) h.Authorization = `Bearer ${k}`;
    return h;
  }

  class AuthError extends Error {}

  async function api(path, opts = {}) {
    const r = await fetch(path, { ...opts, headers: headers(opts.body !== undefined), cache: 'no-store' });
    if (r.status === 401) {
      askKey(apiKey() ? 'The server refused this API key. Enter another one.' : 'This server needs an API key.');
      throw new AuthError('API key needed');
    }
    return r;
  }

  async function errorText(r) {
    try {
      const j = await r.json();
      if (j && j.error) return typeof j.error === 'string' ? j.error : j.error.message || JSON.stringify(j.error);
    } catch {}
    return `HTTP ${r.status}`;
  }

  // ---- the model picker ----

  async function loadModels() {
    let r;
    try {
      r = await api('/v1/models');
    } catch (e) {
      if (!(e instanceof AuthError)) showError(`Cannot reach the server: ${e.message}`);
      return;
    }
    if (!r.ok) {
      showError(`Could not list the models: ${await errorText(r)}`);
      return;
    }
    const j = await r.json();
    models = (j.data || []).map((m) => String(m.id));
    const keep = (current() && current().model) || ui.model.value;
    ui.model.replaceChildren(...models.map((id) => {
      const o = document.createElement('option');
      o.value = id;
      o.textContent = id;
      return o;
    }));
    if (models.includes(keep)) ui.model.value = keep;
    ui.model.disabled = models.length === 0;
    hideError();
  }

  // ---- the API key ----

  function askKey(why) {
    ui.keyWhy.textContent = why;
    ui.keyForm.hidden = false;
    ui.apiKey.value = '';
    ui.apiKey.focus();
  }

  ui.keyForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const k = ui.apiKey.value.trim();
    if (!k) return;
    localStorage.setItem(LS_KEY, k);
    ui.keyForm.hidden = true;
    ui.forgetKey.hidden = false;
    await loadModels();
    if (ui.keyForm.hidden) {
      refreshMetrics();
      ui.input.focus();
    }
  });

  ui.forgetKey.addEventListener('click', () => {
    localStorage.removeItem(LS_KEY);
    ui.forgetKey.hidden = true;
    loadModels();
  });

  // ---- rendering ----

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function fmtMs(ms) {
    return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
  }

  function statsLine(s) {
    const parts = [];
    if (s.tokens !== undefined) parts.push(`${s.tokens} tokens`);
    if (s.ttft_ms !== undefined) parts.push(`first token ${fmtMs(s.ttft_ms)}`);
    if (s.tps) parts.push(`${s.tps.toFixed(1)} tokens/s`);
    return parts.join(' · ');
  }

  function toolCard(tc) {
    const card = el('div', 'tool-card');
    const name = (tc.function && tc.function.name) || '(unnamed)';
    card.setAttribute('role', 'group');
    card.setAttribute('aria-label', `Tool call ${name}`);
    const head = el('div', 'tool-head');
    head.appendChild(el('span', 'tool-kind', 'Tool call'));
    head.appendChild(el('code', 'tool-name', name));
    if (tc.id) head.appendChild(el('span', 'tool-id', tc.id));
    card.appendChild(head);
    let args = (tc.function && tc.function.arguments) || '';
    try {
      const parsed = JSON.parse(args);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        const dl = el('dl', 'tool-args');
        for (const [k, v] of Object.entries(parsed)) {
          dl.appendChild(el('dt', null, k));
          const dd = el('dd');
          dd.appendChild(el('code', null, typeof v === 'string' ? v : JSON.stringify(v)));
          dl.appendChild(dd);
        }
        if (!dl.childNodes.length) dl.appendChild(el('dd', 'muted', '(no arguments)'));
        card.appendChild(dl);
        return card;
      }
      args = JSON.stringify(parsed, null, 2);
    } catch {}
    card.appendChild(el('pre', 'tool-raw', args));
    return card;
  }

  function renderMessage(m, node) {
    const art = node || el('article');
    art.className = `msg ${m.role}`;
    art.dataset.role = m.role;
    const open = art.querySelector('details.reasoning')?.open;
    art.replaceChildren();
    const head = el('div', 'msg-head');
    head.appendChild(el('span', 'who', m.role === 'user' ? 'You' : m.model || 'assistant'));
    art.appendChild(head);
    if (m.reasoning) {
      const d = el('details', 'reasoning');
      if (open) d.open = true;
      const sum = el('summary', null, m.done ? 'Reasoning' : 'Reasoning…');
      d.appendChild(sum);
      const body = el('div', 'reasoning-body');
      body.textContent = m.reasoning;
      d.appendChild(body);
      art.appendChild(d);
    }
    const body = el('div', 'msg-body');
    if (m.role === 'assistant') window.hearthMarkdown.render(m.content || '', body);
    else body.textContent = m.content;
    art.appendChild(body);
    for (const tc of m.tool_calls || []) art.appendChild(toolCard(tc));
    const foot = [];
    if (m.role === 'assistant') {
      if (!m.done && !m.content && !m.reasoning && !(m.tool_calls || []).length) body.appendChild(el('span', 'typing', '…'));
      if (m.stopped) foot.push('stopped');
      if (m.finish === 'length') foot.push('cut at the token limit');
      if (m.stats) foot.push(statsLine(m.stats));
    }
    if (foot.length) art.appendChild(el('div', 'msg-foot', foot.join(' · ')));
    if (m.error) art.appendChild(el('div', 'msg-error', m.error));
    return art;
  }

  function renderMessages() {
    const c = current();
    const list = (c && c.messages) || [];
    ui.messages.replaceChildren();
    if (!list.length) ui.messages.appendChild(ui.empty);
    for (const m of list) ui.messages.appendChild(renderMessage(m));
    scrollDown(true);
  }

  function scrollDown(force) {
    const box = ui.messages;
    const near = box.scrollHeight - box.scrollTop - box.clientHeight < 120;
    if (force || near) box.scrollTop = box.scrollHeight;
  }

  function renderConvList() {
    ui.convList.replaceChildren(...convs.map((c) => {
      const li = el('li');
      const b = el('button', 'conv', c.title || 'Untitled');
      b.type = 'button';
      if (c.id === currentId) b.setAttribute('aria-current', 'true');
      b.addEventListener('click', () => {
        selectConv(c.id);
        closeNav();
      });
      li.appendChild(b);
      return li;
    }));
    const has = !!current();
    ui.rename.disabled = ui.exportBtn.disabled = ui.del.disabled = !has;
  }

  function renderSettings() {
    const s = (current() && current().settings) || {};
    ui.system.value = s.system || '';
    ui.tools.value = s.tools || '';
    $('tool_choice').value = s.tool_choice || '';
    for (const k of SETTINGS) $(k).value = s[k] === undefined ? '' : String(s[k]);
    ui.settingsError.hidden = true;
  }

  function renderAll() {
    renderConvList();
    renderSettings();
    renderMessages();
    const c = current();
    if (c && c.model && models.includes(c.model)) ui.model.value = c.model;
  }

  function selectConv(id) {
    currentId = id;
    saveStore();
    renderAll();
  }

  // ---- settings ----

  function readSettings(c) {
    const s = {};
    if (ui.system.value.trim()) s.system = ui.system.value;
    if (ui.tools.value.trim()) s.tools = ui.tools.value;
    if ($('tool_choice').value) s.tool_choice = $('tool_choice').value;
    for (const k of SETTINGS) {
      const v = $(k).value.trim();
      if (v === '') continue;
      const n = Number(v);
      if (Number.isFinite(n)) s[k] = INTEGER_SETTINGS.has(k) ? Math.trunc(n) : n;
    }
    c.settings = s;
  }

  for (const id of ['system', 'tools', 'tool_choice', ...SETTINGS]) {
    $(id).addEventListener('change', () => {
      const c = current() || createConv();
      readSettings(c);
      saveStore();
      renderConvList();
    });
  }

  ui.openSettings.addEventListener('click', () => {
    renderSettings();
    ui.settings.showModal();
  });
  ui.settings.addEventListener('close', () => {
    const c = current() || createConv();
    readSettings(c);
    saveStore();
    renderConvList();
    ui.input.focus();
  });

  function toolsOf(s) {
    if (!s.tools) return undefined;
    const t = JSON.parse(s.tools);
    if (!Array.isArray(t)) throw new Error('Tools must be a JSON array');
    return t;
  }

  // ---- sending ----

  function requestMessages(c) {
    const out = [];
    if (c.settings.system) out.push({ role: 'system', content: c.settings.system });
    for (const m of c.messages) {
      if (m.role === 'user') out.push({ role: 'user', content: m.content });
      // Tool calls are shown, not run: the page sends the answer's text only, so the history
      // never holds a call without its result.
      else if (m.role === 'assistant' && m.content) out.push({ role: 'assistant', content: m.content });
    }
    return out;
  }

  function setStreaming(on) {
    ui.stop.hidden = !on;
    ui.send.disabled = on;
    ui.model.disabled = on || models.length === 0;
  }

  async function send() {
    const text = ui.input.value;
    if (!text.trim() || streaming) return;
    if (!ui.keyForm.hidden) {
      ui.apiKey.focus();
      return;
    }
    const model = ui.model.value;
    if (!model) {
      showError('No model to talk to: the server lists none (or needs an API key).');
      return;
    }
    const c = current() || createConv();
    readSettings(c);
    let tools;
    try {
      tools = toolsOf(c.settings);
      ui.settingsError.hidden = true;
    } catch (e) {
      ui.settingsError.textContent = `Tools: ${e.message}`;
      ui.settingsError.hidden = false;
      if (!ui.settings.open) ui.settings.showModal();
      return;
    }
    hideError();
    c.model = model;
    c.messages.push({ role: 'user', content: text });
    if (c.title === 'New chat') c.title = text.trim().replace(/\s+/g, ' ').slice(0, 48);
    const msg = { role: 'assistant', model, content: '', reasoning: '', tool_calls: [], done: false };
    c.messages.push(msg);
    c.updated = Date.now();
    ui.input.value = '';
    saveStore();
    renderConvList();
    renderMessages();
    const body = { model, messages: requestMessages(c), stream: true,
                   stream_options: { include_usage: true } };
    for (const k of SETTINGS) if (c.settings[k] !== undefined) body[k] = c.settings[k];
    if (tools) {
      body.tools = tools;
      if (c.settings.tool_choice) body.tool_choice = c.settings.tool_choice;
    }
    const ac = new AbortController();
    streaming = { ac, conv: c, msg };
    setStreaming(true);
    const t0 = performance.now();
    let tFirst = 0, tLast = 0, chunks = 0;
    let node = ui.messages.lastElementChild;
    let pending = false;
    const paint = () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        if (current() === c && node && node.isConnected) {
          renderMessage(msg, node);
          scrollDown(false);
        }
        if (tFirst && streaming && streaming.msg === msg) ui.liveStat.textContent = `${chunks} tokens · first after ${fmtMs(tFirst - t0)}`;
      });
    };
    try {
      const r = await api('/v1/chat/completions', { method: 'POST', body: JSON.stringify(body), signal: ac.signal });
      if (!r.ok) throw new Error(await errorText(r));
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      let finished = false;
      while (!finished) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
          const event = buf.slice(0, cut);
          buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
          const data = event.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
          if (!data) continue;
          if (data === '[DONE]') {
            finished = true;
            break;
          }
          let j;
          try {
            j = JSON.parse(data);
          } catch {
            continue;
          }
          if (j.error) throw new Error(typeof j.error === 'string' ? j.error : j.error.message || 'error');
          if (j.usage) msg.usage = j.usage;
          const ch = j.choices && j.choices[0];
          if (!ch) continue;
          const d = ch.delta || {};
          let got = false;
          if (typeof d.content === 'string' && d.content) msg.content += d.content, (got = true);
          if (typeof d.reasoning_content === 'string' && d.reasoning_content) msg.reasoning += d.reasoning_content, (got = true);
          if (Array.isArray(d.tool_calls)) {
            for (const t of d.tool_calls) {
              const i = Number.isInteger(t.index) ? t.index : msg.tool_calls.length;
              const tc = msg.tool_calls[i] || (msg.tool_calls[i] = { id: '', type: 'function', function: { name: '', arguments: '' } });
              if (t.id) tc.id = t.id;
              if (t.function) {
                if (t.function.name) tc.function.name += t.function.name;
                if (t.function.arguments) tc.function.arguments += t.function.arguments;
              }
            }
            got = true;
          }
          if (got) {
            const now = performance.now();
            if (!tFirst) tFirst = now;
            tLast = now;
            chunks++;
            paint();
          }
          if (ch.finish_reason) msg.finish = ch.finish_reason;
        }
      }
    } catch (e) {
      if (e.name === 'AbortError') {
        msg.stopped = true;
      } else if (e instanceof AuthError) {
        // not sent: take the turn back so it can be sent again once the key is in
        c.messages.splice(c.messages.indexOf(msg) - 1, 2);
        ui.input.value = text;
      } else {
        msg.error = `Error: ${e.message}`;
      }
    } finally {
      msg.done = true;
      msg.tool_calls = msg.tool_calls.filter(Boolean);
      if (tFirst) {
        const tokens = (msg.usage && msg.usage.completion_tokens) || chunks;
        msg.stats = { tokens, ttft_ms: tFirst - t0 };
        // Decode speed: the tokens after the first over the time they took to arrive. A fast
        // model's tokens can reach the page in one or two reads; when they spanned under
        // 100 ms that gap measures the network, not the model, so the whole answer's time
        // from the request (first token included) is used instead: a lower bound.
        if (tokens > 1 && tLast - tFirst >= 100) msg.stats.tps = (tokens - 1) / ((tLast - tFirst) / 1000);
        else if (tokens > 0 && tLast > t0) msg.stats.tps = tokens / ((tLast - t0) / 1000);
        showStats(msg.stats);
      }
      streaming = null;
      setStreaming(false);
      ui.liveStat.textContent = '';
      c.updated = Date.now();
      saveStore();
      renderAll();
      refreshMetrics();
      const f = document.activeElement;
      if (!f || f === document.body || f === ui.stop || f === ui.send) ui.input.focus();
    }
  }

  function showStats(s) {
    ui.statLast.textContent = `${s.tokens} tokens`;
    ui.statTtft.textContent = fmtMs(s.ttft_ms);
    ui.statTps.textContent = s.tps ? `${s.tps.toFixed(1)}` : '—';
  }

  ui.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  ui.input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  ui.stop.addEventListener('click', () => {
    if (streaming) streaming.ac.abort();
    ui.input.focus();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && streaming) streaming.ac.abort();
  });

  // ---- conversations ----

  ui.newChat.addEventListener('click', () => {
    if (streaming) return;
    const c = current();
    if (!(c && c.messages.length === 0)) createConv();
    renderAll();
    closeNav();
    ui.input.focus();
  });

  ui.model.addEventListener('change', () => {
    const c = current();
    if (c) {
      c.model = ui.model.value;
      saveStore();
    }
  });

  ui.rename.addEventListener('click', () => {
    const c = current();
    if (!c) return;
    ui.renameForm.hidden = false;
    ui.renameInput.value = c.title;
    ui.renameInput.focus();
    ui.renameInput.select();
  });
  ui.renameCancel.addEventListener('click', () => {
    ui.renameForm.hidden = true;
    ui.rename.focus();
  });
  ui.renameForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const c = current();
    const t = ui.renameInput.value.trim();
    if (c && t) {
      c.title = t;
      saveStore();
      renderConvList();
    }
    ui.renameForm.hidden = true;
    ui.rename.focus();
  });

  let deleteArmed = null;
  ui.del.addEventListener('click', () => {
    const c = current();
    if (!c || (streaming && streaming.conv === c)) return;
    if (!deleteArmed) {
      ui.del.textContent = 'Confirm delete';
      deleteArmed = setTimeout(() => {
        ui.del.textContent = 'Delete';
        deleteArmed = null;
      }, 4000);
      return;
    }
    clearTimeout(deleteArmed);
    deleteArmed = null;
    ui.del.textContent = 'Delete';
    convs = convs.filter((x) => x !== c);
    currentId = convs.length ? convs[0].id : null;
    saveStore();
    renderAll();
  });

  ui.exportBtn.addEventListener('click', () => {
    const c = current();
    if (!c) return;
    const data = JSON.stringify({ format: 'hearth-chat', version: 1, ...c }, null, 2);
    const url = URL.createObjectURL(new Blob([data], { type: 'application/json' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = `hearth-chat-${(c.title || 'chat').replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 40)}.json`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });

  // ---- narrow screens: the conversation list is a drawer ----

  function closeNav() {
    document.body.classList.remove('nav-open');
    ui.navToggle.setAttribute('aria-expanded', 'false');
  }
  ui.navToggle.addEventListener('click', () => {
    const open = document.body.classList.toggle('nav-open');
    ui.navToggle.setAttribute('aria-expanded', String(open));
  });

  // ---- status: /metrics ----

  function parseMetrics(text) {
    const per = new Map();
    const get = (m) => per.get(m) || per.set(m, {}).get(m);
    for (const line of text.split('\n')) {
      const m = /^(hearth_[a-z_]+)\{model="((?:[^"\\]|\\.)*)"(?:,le="[^"]*")?\} (\S+)$/.exec(line);
      if (!m || line.includes(',le=')) continue;
      get(m[2])[m[1]] = Number(m[3]);
    }
    return per;
  }

  async function refreshMetrics() {
    let r;
    try {
      r = await api('/metrics');
    } catch {
      return;
    }
    if (!r.ok) return;
    const per = parseMetrics(await r.text());
    ui.metricsBody.replaceChildren(...[...per.entries()].map(([name, v]) => {
      const li = el('li', 'metric-model');
      li.dataset.model = name;
      li.appendChild(el('div', 'metric-name', name));
      const ttft = v.hearth_time_to_first_token_seconds_count
        ? fmtMs((1000 * v.hearth_time_to_first_token_seconds_sum) / v.hearth_time_to_first_token_seconds_count) : '—';
      const dl = el('dl', 'metric-vals');
      for (const [k, val, cls] of [['Slots busy', `${v.hearth_slots_busy ?? 0} / ${v.hearth_slots_total ?? '?'}`, 'slots'],
                                   ['Queued', String(v.hearth_queue_depth ?? 0)],
                                   ['Answers', String(v.hearth_generations_total ?? 0)],
                                   ['Tokens out', String(v.hearth_generated_tokens_total ?? 0)],
                                   ['Mean first token', ttft]]) {
        dl.appendChild(el('dt', null, k));
        dl.appendChild(el('dd', cls, val));
      }
      li.appendChild(dl);
      return li;
    }));
  }

  ui.metricsRefresh.addEventListener('click', refreshMetrics);
  ui.status.addEventListener('toggle', () => {
    if (ui.status.open) refreshMetrics();
  });
  setInterval(() => {
    if (ui.status.open && !document.hidden) refreshMetrics();
  }, 5000);

  // ---- errors ----

  function showError(t) {
    ui.error.textContent = t;
    ui.error.hidden = false;
  }
  function hideError() {
    ui.error.hidden = true;
  }

  // ---- start ----

  loadStore();
  ui.forgetKey.hidden = !apiKey();
  renderAll();
  ui.input.focus();
  loadModels().then(() => {
    const c = current();
    if (c && c.model && models.includes(c.model)) ui.model.value = c.model;
    refreshMetrics();
  });
})();
