// The organizers' dashboard: reads /admin/v1/dashboard every second (the
// history and audit log every ten), draws a card per room, and applies
// changes with PATCH /admin/v1/rooms/{room}, carrying the session's CSRF
// token. The API decides; its refusals are shown next to the control.
(function () {
  'use strict';
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var roomsEl = document.getElementById('cg-rooms');
  var tpl = document.getElementById('cg-room');
  var statusEl = document.getElementById('cg-status');
  var ageEl = document.getElementById('cg-age');
  var auditEl = document.getElementById('cg-audit');
  var problemsEl = document.getElementById('cg-problems');
  var NS = 'http://www.w3.org/2000/svg', SPAN = 30 * 60000;
  var cards = {}, timer = 0, busy = false, gen = 0, lastFull = 0, wantFull = true;
  var gotAt = 0, serverAge = 0, lastNow = 0;
  var nf = new Intl.NumberFormat(), cf = new Intl.NumberFormat(undefined, { notation: 'compact' });
  // A chart is drawn again, in the next frame, when its width changes (a
  // turned phone, a wider window), so that it stays one unit to a pixel.
  var sized = window.ResizeObserver && new ResizeObserver(function (es) {
    es.forEach(function (e) {
      var c = cards[e.target.closest('.room').dataset.room];
      if (c && c.room && Math.round(e.contentRect.width) !== c.w) requestAnimationFrame(function () { chart(c); });
    });
  });

  function num(n) { return nf.format(n); }
  function set(el, text) { if (el.textContent !== text) el.textContent = text; }
  function field(c, f) { return c.el.querySelector('[data-f="' + f + '"]'); }
  function dur(s) {
    if (s < 60) return Math.max(0, Math.round(s)) + ' s';
    if (s < 3600) return Math.round(s / 60) + ' min';
    var m = Math.round(s / 60);
    return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
  }
  function el(name, text, cls) {
    var e = document.createElement(name);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  // api calls the admin API; a 401 means the session ended: back to the login.
  function api(method, path, body) {
    var opts = { method: method, credentials: 'same-origin', cache: 'no-store',
      headers: { 'Accept': 'application/json', 'X-CSRF-Token': csrf } };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (r) {
      if (r.status === 401) {
        location.assign('/admin');
        throw new Error('Your session ended; log in again.');
      }
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) throw new Error((j.error && j.error.message) || 'HTTP ' + r.status);
        return j;
      });
    });
  }

  // tick reads the figures; a response to a read begun before a change of
  // ours (gen) is dropped, and read again at once.
  function tick() {
    clearTimeout(timer);
    if (busy) return;
    busy = true;
    var g = gen, full = wantFull || Date.now() - lastFull > 10000;
    wantFull = false;
    api('GET', '/admin/v1/dashboard' + (full ? '' : '?brief=1')).then(function (d) {
      if (g !== gen) return;
      if (full) lastFull = Date.now();
      render(d, full);
    }, function (e) {
      set(statusEl, 'Cannot read the figures: ' + e.message);
    }).then(function () {
      busy = false;
      if (g !== gen) tick();
      else timer = setTimeout(tick, 1000);
    });
  }
  function refreshSoon() { gen++; wantFull = true; if (!busy) tick(); }

  function render(d, full) {
    var seen = {}, oldest = Infinity;
    lastNow = Date.parse(d.now);
    d.rooms.forEach(function (r) {
      seen[r.room] = true;
      var c = cards[r.room] || addCard(r.room);
      c.room = r;
      if (full) c.hist = r.history || [];
      if (full) c.pressure = r.pressure;
      oldest = Math.min(oldest, Date.parse(r.stats.as_of));
      fill(c, full);
    });
    Object.keys(cards).forEach(function (n) {
      if (!seen[n]) { roomsEl.removeChild(cards[n].el); delete cards[n]; }
    });
    if (full) renderAudit(d.audit || []);
    renderProblems(d.problems || []);
    gotAt = performance.now();
    serverAge = d.rooms.length ? Math.max(0, lastNow - oldest) : 0;
    set(statusEl, d.rooms.length ? '' : 'No rooms yet: create one with PUT /admin/v1/rooms/{room}.');
    showAge();
  }

  function showAge() {
    if (!gotAt) return;
    var age = serverAge + performance.now() - gotAt, stale = age > 2000;
    ageEl.dataset.ageMs = Math.round(age);
    ageEl.classList.toggle('stale', stale);
    set(ageEl, stale ? 'Figures ' + Math.round(age / 1000) + ' s old: reconnecting…' : 'Live: figures ' + (age / 1000).toFixed(1) + ' s old');
  }

  function addCard(name) {
    var node = tpl.content.firstElementChild.cloneNode(true);
    node.dataset.room = name;
    roomsEl.appendChild(node);
    if (sized) sized.observe(node.querySelector('svg'));
    return (cards[name] = { el: node, room: null, hist: [] });
  }

  // clock is a time of day, with the day when it is not the server's today.
  function clock(t) {
    var d = new Date(t), o = { hour: '2-digit', minute: '2-digit' };
    if (d.toDateString() !== new Date(lastNow).toDateString()) { o.month = 'short'; o.day = 'numeric'; }
    return d.toLocaleString([], o);
  }

  // state is what the room does now, in words, and its badge's class: the
  // first thing an organizer looks for. The words say it all; the colour
  // only helps. Times are judged on the server's clock (lastNow).
  function state(r) {
    var s = r.stats, future = function (t) { return t && Date.parse(t) > lastNow; };
    if (r.closed) return ['closed', r.closed_reason === 'sold_out' ? 'Sold out' : 'Closed'];
    if (r.paused) return ['paused', 'Paused: places kept, nobody admitted'];
    if (future(r.queue_opens_at)) return ['early', 'Queue not open yet (opens ' + clock(r.queue_opens_at) + ')'];
    if (future(r.sale_starts_at)) return ['pre', 'Pre-queue (sale starts ' + clock(r.sale_starts_at) + ')'];
    if (r.passthrough) return ['pass', 'Passthrough: everyone admitted at once'];
    if (s.trigger_state === 'quiet') return ['quiet', 'Quiet (traffic-triggered): everyone passes'];
    if (s.trigger_state === 'queueing') return ['go', 'Queueing: traffic threshold reached'];
    if (!s.target_rate_per_minute) return ['paused', 'Admitting nobody: rate 0'];
    return ['go', 'Admitting'];
  }

  // trigger says since when a traffic-triggered room is quiet or queueing.
  function trigger(r) {
    var s = r.stats;
    if (!s.trigger_state || !s.trigger_state_since) return '';
    return (s.trigger_state === 'queueing' ? 'Queueing' : 'Quiet') + ' since ' + new Date(s.trigger_state_since).toLocaleTimeString();
  }

  function fill(c, full) {
    var r = c.room, s = r.stats;
    set(field(c, 'title'), r.title || r.room);
    set(field(c, 'name'), r.title ? r.room : '');
    var soldOut = r.closed && r.closed_reason === 'sold_out';
    var st = state(r), badge = field(c, 'state');
    badge.className = 'badge b-' + st[0];
    set(badge, st[1]);
    set(field(c, 'tags'), [r.mode === 'random_prequeue' && 'Random pre-queue', trigger(r)].filter(Boolean).join(' · '));
    var why = field(c, 'why');
    set(why, !r.closed ? '' : soldOut
      ? 'Sold out: closed by itself' + (r.closed_at ? ' at ' + new Date(r.closed_at).toLocaleString() : '') +
        ', when nothing was left to sell and nothing held. It reopens by itself when you add tickets (more capacity or another event).'
      : 'Closed by the organizer. It stays closed, even if tickets are added, until you reopen it.');
    why.hidden = !why.textContent;
    set(field(c, 'waiting'), num(s.waiting));
    set(field(c, 'active'), num(s.active) + (r.max_active ? ' / ' + num(r.max_active) : ''));
    set(field(c, 'observed'), num(s.admit_rate_per_minute));
    set(field(c, 'target'), num(s.target_rate_per_minute));
    set(field(c, 'admitted'), num(s.admitted_total));
    set(field(c, 'abandoned'), num(s.abandoned_total));
    set(field(c, 'drain'), s.drain_eta_seconds < 0 ? 'never at this rate' : s.waiting === 0 ? 'empty' : dur(s.drain_eta_seconds));
    var btn = function (a) { return c.el.querySelector('[data-act="' + a + '"]'); };
    set(btn('paused'), r.paused ? 'Resume admission' : 'Pause admission');
    set(btn('passthrough'), r.passthrough ? 'End passthrough' : 'Passthrough: admit everyone');
    set(btn('closed'), r.closed ? 'Reopen the sale' : 'Close the sale');
    btn('keep').hidden = !soldOut;
    Array.prototype.forEach.call(c.el.querySelectorAll('form[data-form]'), function (f) { if (!f.dataset.dirty) fillForm(f, r); });
    renderEvents(field(c, 'events'), r.events);
    adaptive(c, r);
    pressure(c, r);
    bypass(c, r);
    if (full) chart(c);
    preview(c);
  }

  function localInput(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  }
  function fillForm(f, r) {
    Array.prototype.forEach.call(f.elements, function (e) {
      if (!e.name || e === document.activeElement) return;
      var v = r[e.name];
      if (e.type === 'checkbox') e.checked = !!v;
      else e.value = e.type === 'datetime-local' ? localInput(v) : v == null ? '' : String(v);
    });
  }
  function formValue(e) {
    if (e.type === 'checkbox') return e.checked;
    var v = e.value.trim();
    if (e.type === 'number') return v !== '' && isFinite(Number(v)) ? Number(v) : v;
    if (e.type === 'datetime-local') return v ? new Date(v).toISOString() : null;
    return v;
  }

  function preview(c) {
    var input = c.el.querySelector('[name="admit_per_minute"]'), out = field(c, 'preview');
    var v = input.value.trim(), rate = Number(v), w = c.room.stats.waiting;
    if (v === '' || !isFinite(rate) || rate < 0) return set(out, '');
    set(out, rate === 0 ? 'At 0/min nobody is admitted; ' + num(w) + ' keep waiting.'
      : w === 0 ? 'At ' + num(rate) + '/min: nobody is waiting now.'
        : 'At ' + num(rate) + '/min the line of ' + num(w) + ' drains in ' + dur(Math.ceil(w * 60 / rate)) + '.');
  }

  function send(c, form, body) {
    var msg = form.querySelector('.msg');
    msg.classList.remove('err');
    set(msg, 'Applying…');
    form.setAttribute('aria-busy', 'true');
    return api('PATCH', '/admin/v1/rooms/' + encodeURIComponent(c.room.room), body).then(function (r) {
      delete form.dataset.dirty;
      Object.keys(r).forEach(function (k) { if (k !== 'stats') c.room[k] = r[k]; });
      set(msg, ['Applied.'].concat((r.warnings || []).map(function (w) { return w.message; })).join(' '));
      fill(c, false);
      refreshSoon();
    }, function (e) {
      msg.classList.add('err');
      set(msg, e.message);
    }).then(function () { form.removeAttribute('aria-busy'); });
  }

  function cardOf(node) { return cards[node.closest('.room').dataset.room]; }

  roomsEl.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var form = ev.target, body = {};
    Array.prototype.forEach.call(form.elements, function (e) { if (e.name) body[e.name] = formValue(e); });
    send(cardOf(form), form, body);
  });
  roomsEl.addEventListener('input', function (ev) {
    var form = ev.target.form;
    if (form) form.dataset.dirty = '1';
    if (ev.target.name === 'admit_per_minute') preview(cardOf(form));
  });
  roomsEl.addEventListener('click', function (ev) {
    var b = ev.target.closest('button[data-act]');
    if (!b) return;
    var c = cardOf(b), r = c.room, a = b.dataset.act, body = {};
    var left = (r.events || []).reduce(function (n, e) { return n + e.available + e.held; }, 0);
    if (a === 'closed' && !r.closed && !confirm('Close the sale in ' + r.room + '? Everyone waiting is told it is over.')) return;
    if (a === 'closed' && r.closed && r.closed_reason === 'sold_out' && left === 0 &&
      !confirm('Nothing is left to sell in ' + r.room + '. Reopen it anyway? People wait for tickets you add; it does not close by itself again until it sells out again.')) return;
    if (a === 'passthrough' && !r.passthrough && !confirm('Admit everyone arriving at ' + r.room + ' at once, with no waiting?')) return;
    if (a === 'keep') {
      if (!confirm('Keep the sale in ' + r.room + ' closed, even if tickets are added? It then opens only when you reopen it.')) return;
      body.closed = true; // the organizer's close: no sell-out check reopens it
    } else {
      body[a] = !r[a];
    }
    send(c, b.form, body);
  });

  // adaptive shows an adaptive room's rate against the organizer's, what
  // the controller last read, and its latest changes.
  function adaptive(c, r) {
    var a = r.adaptive && r.adaptive_state, box = field(c, 'adaptive'), ol = field(c, 'adecisions');
    box.hidden = !a;
    if (!a) return;
    var rate = function (x) { return num(x < 10 ? Math.round(x * 10) / 10 : Math.round(x)); };
    set(field(c, 'arate'), rate(a.rate_per_minute) + '/min, capped at the organizer\'s ' + num(r.admit_per_minute) + '/min');
    set(field(c, 'areason'), a.reason ? 'Last reading: ' + a.reason : '');
    var rows = a.decisions.map(function (d) {
      return new Date(d.at).toLocaleTimeString() + ' ' + rate(d.from) + ' → ' + rate(d.to) + '/min: ' + d.reason;
    }), key = rows.join('\n');
    if (ol.dataset.key === key) return;
    ol.dataset.key = key;
    ol.textContent = '';
    rows.forEach(function (t) { ol.appendChild(el('li', t)); });
  }

  // bypass: the room's bypass rules (never the secret) and what they let through.
  function bypass(c, r) {
    var b = r.bypass, n = r.stats.bypassed, e = field(c, 'bypass');
    e.hidden = !n;
    if (n) set(e, 'Bypass ' + b.cidrs.concat(b.paths, b.header.name || []).join(' ') +
      ': passed ' + num(n.cidr) + ' by network, ' + num(n.header) + ' by header, ' + num(n.path) + ' by path');
  }

  // pressure shows the joins the room's gate refused, by reason, and the
  // networks taking the most new places.
  var REASONS = { challenge_required: 'challenge asked', challenge_failed: 'challenge failed', rate_limited: 'rate-limited',
    place_cap: 'place cap', captcha_failed: 'CAPTCHA failed', bad_code: 'bad code', bad_enqueue_token: 'bad enqueue token' };
  function pressure(c, r) {
    var p = c.pressure, box = field(c, 'pressure');
    box.hidden = !p;
    if (!p) return;
    set(field(c, 'refused'), Object.keys(REASONS).filter(function (k) { return p.joins_refused[k]; })
      .map(function (k) { return REASONS[k] + ' ' + num(p.joins_refused[k]); }).join(', ') || 'none');
    field(c, 'busiest-p').hidden = !p.busiest_prefixes.length;
    set(field(c, 'busiest'), p.busiest_prefixes.map(function (b) { return b.prefix + ' ' + num(b.per_minute) + '/min'; }).join(', '));
    var ac = p.access_codes;
    field(c, 'codes-p').hidden = !ac;
    if (ac) set(field(c, 'codes'), num(ac.used) + ' used, ' + num(ac.uses_left) + ' left (' + num(ac.codes) + ' codes)');
  }

  function renderEvents(box, evs) {
    var rows = (evs || []).map(function (e) {
      return [e.event, num(e.available), num(e.held), num(e.sold) + ' / ' + num(e.capacity),
        e.conversion == null ? '–' : (e.conversion * 100).toFixed(1) + '% (' + num(e.paid) + '/' + num(e.checkouts) + ')',
        num(e.payment_failures), num(e.sold_out_refusals)];
    });
    var key = JSON.stringify(rows);
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    box.hidden = !rows.length;
    box.textContent = '';
    if (!rows.length) return;
    var t = el('table'), head = el('tr');
    t.appendChild(el('caption', 'Tickets'));
    ['Event', 'Available', 'Held', 'Sold', 'Paid / checkouts', 'Payment failures', 'Sold-out refusals'].forEach(function (h) {
      var th = el('th', h);
      th.scope = 'col';
      head.appendChild(th);
    });
    t.appendChild(el('thead')).appendChild(head);
    var body = t.appendChild(el('tbody'));
    rows.forEach(function (row) {
      var tr = body.appendChild(el('tr'));
      row.forEach(function (v) { tr.appendChild(el('td', v)); });
    });
    box.appendChild(t);
  }

  // chart draws the last 30 minutes at the size it is shown, one SVG unit to
  // a CSS pixel, so its text is the stylesheet's size on any screen: waiting
  // on the left scale, observed and target admissions per minute on the
  // right one, and clock times below.
  function chart(c) {
    var svg = field(c, 'chart'), hist = c.hist, t0 = lastNow - SPAN, mW = 0, mR = 0;
    var W = Math.round(svg.getBoundingClientRect().width) || 600, H = W < 480 ? 180 : 200, L = 44, R = W - 44, T = 10, B = H - 26;
    c.w = W;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.textContent = '';
    function add(name, attrs, text) {
      var e = svg.appendChild(document.createElementNS(NS, name));
      Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
      if (text !== undefined) e.textContent = text;
      return e;
    }
    if (!hist.length) {
      add('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'No samples yet: one every 10 s');
      svg.setAttribute('aria-label', 'No history yet');
      return;
    }
    hist.forEach(function (h) {
      mW = Math.max(mW, h.waiting);
      mR = Math.max(mR, h.admit_rate_per_minute, h.target_rate);
    });
    mW = nice(mW);
    mR = nice(mR);
    var x = function (t) { return (L + (t - t0) / SPAN * (R - L)).toFixed(1); };
    var y = function (v, max) { return (B - v / max * (B - T)).toFixed(1); };
    [0, 0.5, 1].forEach(function (f) {
      var at = y(f, 1);
      add('line', { class: 'g', x1: L, x2: R, y1: at, y2: at });
      add('text', { class: 'lw', x: L - 6, y: +at + 4, 'text-anchor': 'end' }, cf.format(f * mW));
      add('text', { class: 'lr', x: R + 6, y: +at + 4 }, cf.format(f * mR));
    });
    var every = (W < 480 ? 10 : 5) * 60000, d = new Date(t0 + every - 1);
    d.setMinutes(Math.floor(d.getMinutes() / (every / 60000)) * (every / 60000), 0, 0);
    for (var t = d.getTime(); t <= lastNow; t += every) {
      add('line', { class: 'g', x1: x(t), x2: x(t), y1: B, y2: B + 4 });
      add('text', { x: x(t), y: H - 6, 'text-anchor': 'middle' }, new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
    }
    function line(cls, value, max) {
      add('polyline', { class: cls, points: hist.map(function (h) { return x(Date.parse(h.at)) + ',' + y(value(h), max); }).join(' ') });
    }
    line('t', function (h) { return h.target_rate; }, mR);
    line('r', function (h) { return h.admit_rate_per_minute; }, mR);
    line('w', function (h) { return h.waiting; }, mW);
    var a = hist[0], b = hist[hist.length - 1];
    svg.setAttribute('aria-label', 'Last 30 minutes: waiting went from ' + num(a.waiting) + ' to ' + num(b.waiting) +
      '; admitted per minute went from ' + num(a.admit_rate_per_minute) + ' to ' + num(b.admit_rate_per_minute) + ' (target ' + num(b.target_rate) + ').');
  }

  // nice is the top of a scale for values up to v: 2, 4, 6, 8 or 10 times a
  // power of ten, so that its half, the middle gridline, is a round number.
  function nice(v) {
    v = Math.max(v, 2);
    var p = Math.pow(10, Math.floor(Math.log10(v))), m = 1;
    while (m * p < v) m += m < 2 ? 1 : 2;
    return m * p;
  }

  // renderProblems lists routes and events that name a room that does not
  // exist, and rooms created after their schedule.
  function renderProblems(list) {
    var ul = problemsEl.querySelector('ul'), key = list.map(function (p) { return p.message; }).join('\n');
    problemsEl.hidden = !list.length;
    if (ul.dataset.key === key) return;
    ul.dataset.key = key;
    ul.textContent = '';
    list.forEach(function (p) { ul.appendChild(el('li', p.message)); });
  }

  function renderAudit(list) {
    var key = list.length ? list[0].id + list.length : '';
    if (auditEl.dataset.key === key && key) return;
    auditEl.dataset.key = key;
    auditEl.textContent = '';
    if (!list.length) auditEl.appendChild(el('li', 'No changes yet.'));
    list.forEach(function (e) {
      var li = auditEl.appendChild(el('li'));
      var t = li.appendChild(el('time', new Date(e.at).toLocaleString()));
      t.dateTime = e.at;
      if (e.actor === 'crowdgate') { // a change Crowdgate made by itself (a sell-out, a restock)
        li.appendChild(document.createTextNode(' Room ' + e.path.replace(/^.*\//, '') + ' ' + e.summary + ' (Crowdgate)'));
        return;
      }
      li.appendChild(document.createTextNode(' ' + e.method + ' ' + e.path + ' → ' + e.status + ' (' + e.actor + ', ' + e.ip + ')'));
      if (e.summary) li.appendChild(el('code', e.summary));
    });
  }

  setInterval(showAge, 250);
  tick();
})();
