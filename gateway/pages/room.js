// The fans' waiting room. It keeps the fan's place (joining is idempotent:
// the HttpOnly queue cookie names the place, so a refresh or a second tab
// gets the same one), shows it live over the WebSocket, polls the status
// when sockets are blocked or failing, and moves on when admitted.
// Plain ES2017 with no framework and no build step: it must load fast on a
// phone in a crowd, and be read by whoever maintains it.
(function () {
  'use strict';

  var B = document.body;
  var room = B.dataset.room;
  var T = JSON.parse(document.getElementById('cg-i18n').textContent);
  var lang = document.documentElement.lang;
  var api = '/api/v1/rooms/' + room; // a validated id: nothing to escape
  // Numbers, times and plurals follow the page's language: its digits
  // (Bengali, Marathi and Arabic have digits of their own) and its plural rules.
  var nf = new Intl.NumberFormat(lang);
  var nf2 = new Intl.NumberFormat(lang, { minimumIntegerDigits: 2, useGrouping: false });
  var pr = Intl.PluralRules ? new Intl.PluralRules(lang) : { select: function (n) { return n === 1 ? 'one' : 'other'; } };
  var title = document.title;
  // The server's clock minus ours, so countdowns to the room's schedule
  // are right on a phone whose clock is off.
  var skew = B.dataset.now ? Date.parse(B.dataset.now) - Date.now() : 0;

  var POLL_MS = 5000;        // status polling period, jittered ±20%
  var WS_BASE_MS = 500;      // reconnect backoff: full jitter over base·2^n
  var WS_CAP_MS = 15000;     // ... capped while sockets are known to work
  var WS_BLOCKED_MS = 60000; // ... and higher while they never have
  var WS_SILENT_MS = 15000;  // the server speaks every 5 s; silence = dead
  var SAY_EVERY_MS = 10000;  // position announcements, at most this often
  // A sale that sold out reopens by itself when the organizer adds tickets:
  // ask this often (jittered ±20%) whether it has. Well inside the server's
  // grace for silent waiters, so the fan's place is kept meanwhile.
  var REOPEN_MS = 30000;

  var status = '', position = 0, queueId = '', first = 0;
  var ws = null, wsFails = 0, wsWorked = false, wsSince = 0, wsTimer = 0;
  var busy = false, done = false, errors = 0, countdownTimer = 0, endTimer = 0, fairFor = '';
  var said = 0, sayTimer = 0, sayText = '', reopenTimer = 0, tickTimer = 0;
  var paused = false; // the organizer has paused the room (the server says "paused")
  var timeOfDay = new Intl.DateTimeFormat(lang, { timeStyle: 'medium' });

  function $(id) { return document.getElementById('cg-' + id); }

  // A page in another site's iframe (the room's embed_origins). Browsers
  // keep a frame's cookies apart from the site's, or drop them, so the
  // page keeps its queue token itself (sent as a bearer), tells the
  // framing page of the fan's progress (postMessage, to the listed
  // origins only), and, admitted, enters through the top window (enter).
  var framed = false;
  try { framed = window.top !== window.self; } catch (e) { framed = true; }
  var embedders = (B.dataset.embed || '').split(' ').filter(Boolean);
  var keyName = 'cg_q_' + room;
  var kept = null;
  try { kept = framed ? localStorage.getItem(keyName) : null; } catch (e) { kept = null; }

  function keep(tok) {
    kept = tok;
    try {
      if (tok) localStorage.setItem(keyName, tok);
      else localStorage.removeItem(keyName);
    } catch (e) { /* storage blocked: the place lasts as long as the page */ }
  }

  function tell(st, d) {
    if (!framed) return;
    var m = { type: 'crowdgate', room: room, status: st, position: d && d.position || 0, eta_seconds: d && d.eta_seconds != null ? d.eta_seconds : -1 };
    embedders.forEach(function (o) { try { window.parent.postMessage(m, o); } catch (e) { /* not framed by o */ } });
  }

  // A link from a "notify me" message carries the queue token in the
  // fragment (#resume=), which browsers never send to a server, so it stays
  // out of access logs and Referer headers; older links had it in the query.
  // It is sent once, as a bearer, and the answer sets the cookie, unless
  // this browser holds another place: then the fan chooses (choose). It
  // leaves the address bar at once, so it is not shared or bookmarked by
  // accident.
  // A confirmation's link carries, beside it, the code that confirms the
  // fan's contact (&confirm=): sent once the place is back (confirmContact).
  var params = new URLSearchParams(location.search);
  var fragment = new URLSearchParams(location.hash.slice(1));
  var resume = fragment.get('resume') || params.get('resume');
  var confirmCode = fragment.get('confirm');
  if (resume) {
    params.delete('resume');
    history.replaceState(null, '', location.pathname + (params.toString() ? '?' + params : ''));
  }
  // The organizer's site's link (#/?enqueue_token=): sent until a join
  // gets a place, and out of the address bar at once.
  var enqueueToken = fragment.get('enqueue_token') || params.get('enqueue_token');
  if (enqueueToken) {
    params.delete('enqueue_token');
    ['enqueue_token', 'resume', 'confirm'].forEach(function (k) { fragment.delete(k); });
    history.replaceState(null, '', location.pathname + (params.toString() ? '?' + params : '') + (fragment.toString() ? '#' + fragment : ''));
  }

  // An invitation's link (?code=): the access code is sent with the join
  // until it gets a place, and out of the address bar at once.
  var accessCode = params.get('code') || fragment.get('code');
  if (accessCode) {
    params.delete('code');
    fragment.delete('code');
    history.replaceState(null, '', location.pathname + (params.toString() ? '?' + params : '') + (fragment.toString() ? '#' + fragment : ''));
  }

  function t(key, vars) {
    return (T[key] || '').replace(/\{(\w+)\}/g, function (_, k) { return vars[k]; });
  }

  // plural words a count n with key's form for n's plural category
  // ("tickets_left.one", ".few"...), or key itself (the "other" form).
  function plural(key, n) {
    var form = key + '.' + pr.select(n);
    return t(T[form] ? form : key, { n: nf.format(n) });
  }

  // sentence ends a heading-like text with the language's full stop, for
  // announcements that join it to the next sentence.
  function sentence(s) {
    return /[.!?\u061f\u0964\u2026]$/.test(s) ? s : t('sentence', { s: s });
  }

  function jitter(ms) { return ms * (0.8 + Math.random() * 0.4); }

  // safeReturnTo repeats the server's check (safeReturnTo in page.go) before
  // navigating: only a path on this site, also once percent-decoded, and
  // never back into a waiting room.
  function safeReturnTo(p) {
    var s = p || '';
    for (var i = 0; i < 4; i++) {
      if (!/^\/(?![\/\\])/.test(s) || /[\\\u0000-\u001f\u007f]/.test(s) || /^\/rooms\//.test(s)) return '/';
      var d;
      try { d = decodeURIComponent(s); } catch (e) { break; }
      if (d === s) break;
      s = d;
    }
    try {
      var u = new URL(p, location.href);
      if (u.origin !== location.origin || /^\/rooms\//.test(u.pathname)) return '/';
    } catch (e) { return '/'; }
    return p;
  }

  // --- Formatting ---

  function duration(sec) {
    if (sec < 60) return T.eta_soon;
    var m = Math.round(sec / 60);
    if (m < 60) return t('minutes', { n: nf.format(m) });
    return t('hours', { h: nf.format(Math.floor(m / 60)), m: nf.format(m % 60) });
  }

  function etaText(d) {
    var e = d.eta_seconds, lo = d.eta_low_seconds, hi = d.eta_high_seconds;
    if (lo >= 0 && hi >= lo) {
      if (hi < 60) return T.eta_soon;
      var a = Math.max(1, Math.round(lo / 60)), b = Math.round(hi / 60);
      if (a === b) return t('eta_about', { t: duration(hi) });
      if (b < 60) return t('minutes_range', { low: nf.format(a), high: nf.format(b) });
      return t('eta_range', { low: duration(lo), high: duration(hi) });
    }
    if (e == null || e < 0) return T.eta_unknown;
    return e < 60 ? T.eta_soon : t('eta_about', { t: duration(e) });
  }

  function clock(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
    s %= 60;
    return (h ? nf.format(h) + ':' : '') + nf2.format(m) + ':' + nf2.format(s);
  }

  // when is a moment in the fan's own time zone: the time alone when it is
  // today, else with the day; "" when unknown.
  function when(ms) {
    if (isNaN(ms)) return '';
    var d = new Date(ms);
    var today = d.toDateString() === new Date().toDateString();
    return new Intl.DateTimeFormat(lang, today ? { timeStyle: 'short' } :
      { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' }).format(d);
  }

  // --- Showing ---

  // announce speaks through the polite live region: status changes at once,
  // position changes at most every SAY_EVERY_MS (the latest one wins), so a
  // screen reader is kept informed without being flooded.
  function announce(text, now) {
    sayText = text;
    if (now) {
      clearTimeout(sayTimer);
      sayTimer = 0;
    }
    if (sayTimer) return; // a position announcement is due; it will say the latest
    sayTimer = setTimeout(function () {
      sayTimer = 0;
      said = Date.now();
      $('live').textContent = sayText;
    }, now ? 0 : Math.max(0, said + SAY_EVERY_MS - Date.now()));
  }

  // show names the state; a waiter in a paused room reads that it is
  // paused and that places are kept (data-status stays the place's).
  function show(st, help) {
    B.dataset.status = st;
    var k = paused && (st === 'waiting' || st === 'prequeue') ? 'paused' : st;
    $('state').textContent = T['state_' + k];
    $('help').textContent = help || framed && T['help_' + k + '_framed'] || T['help_' + k] || '';
  }

  // heard notes that the server has just answered or spoken, as the time
  // of day the fan reads under the place ("Last update: 10:42:05").
  function heard() {
    $('updated').textContent = t('last_update', { time: timeOfDay.format(new Date()) });
  }

  function note(text) {
    $('note').textContent = text || '';
    $('note').hidden = !text;
  }

  // transport says how updates arrive, as they really do: "ws" while the
  // socket is open, "reconnecting" between a socket that closed and the
  // next, "poll" once the page polls instead, "ended" when nothing more
  // will come (the marker's green dot shows only for "ws").
  function transport(how) {
    if (B.dataset.transport === 'ended') return;
    B.dataset.transport = how;
    $('transport').textContent = T['via_' + how];
  }

  // countdown shows "<key> mm:ss" (and "(at <time>)" when asked) until the
  // client time end, then calls then. Only the state change is announced,
  // not every second. The end has its own one-shot timer: a browser may slow
  // a hidden tab's repeating timers to one a minute, and the fan would join
  // late. (A day at most: longer delays overflow setTimeout.)
  function countdown(key, end, at, then) {
    stopCountdown();
    var el = $('countdown'), suffix = at ? ' ' + t('at_time', { time: when(end) }) : '';
    var draw = function () { el.textContent = t(key, { t: clock(end - Date.now()) }) + suffix; };
    var wait = function () {
      var left = end - Date.now();
      if (left > 0) endTimer = setTimeout(wait, Math.min(left, 864e5));
      else { stopCountdown(); then(); }
    };
    el.hidden = false;
    draw();
    countdownTimer = setInterval(draw, 1000);
    wait();
  }

  function stopCountdown() {
    clearInterval(countdownTimer);
    clearTimeout(endTimer);
    $('countdown').hidden = true;
  }

  // tickets shows what is left to buy, when an event sells behind the room
  // (the answers and frames carry tickets_available and tickets_held).
  // The count is not announced as it changes; that all are held, is.
  function tickets(d) {
    var a = d.tickets_available, el = $('tickets'), was = el.textContent;
    el.textContent = a == null ? '' : a > 0 ? plural('tickets_left', a) : d.tickets_held > 0 ? T.tickets_held : '';
    el.hidden = !el.textContent;
    if (a === 0 && el.textContent && el.textContent !== was) announce(el.textContent, true);
  }

  // fairness shows, in a random_prequeue room, the draw's commitment while
  // in the pre-queue and when it was drawn once waiting, with a link to the
  // proof. Asked once per status; after the draw, which every fan learns of
  // at the same moment, spread over 3 s.
  function fairness(st) {
    if (B.dataset.mode !== 'random_prequeue' || fairFor === st) return;
    fairFor = st;
    setTimeout(async function () {
      var d = (await request('GET', '/fairness')).data;
      if (fairFor !== st) return;
      $('drawn').textContent = d.drawn_at ? t('fair_drawn', { time: when(Date.parse(d.drawn_at)) }) :
        d.commitment ? t('fair_commit', { hash: d.commitment.slice(0, 12) }) : '';
      $('fair').hidden = !$('drawn').textContent;
    }, st === 'waiting' ? Math.random() * 3000 : 0);
  }

  // progress is 1 - position / the first position this tab saw for this
  // place, remembered per tab so a refresh does not reset the bar.
  function progress(pos) {
    var key = 'cg:first:' + room;
    if (!first) {
      try {
        var v = JSON.parse(sessionStorage.getItem(key));
        if (v && v.id === queueId) first = v.pos;
      } catch (e) { /* storage blocked: start from here */ }
    }
    if (!first || pos > first) { // a new place, or the pre-queue was shuffled
      first = pos;
      try { sessionStorage.setItem(key, JSON.stringify({ id: queueId, pos: pos })); } catch (e) { /* ignore */ }
    }
    var f = Math.min(1, Math.max(0, 1 - pos / first));
    $('fill').style.transform = 'scaleX(' + f + ')';
    $('bar').setAttribute('aria-valuenow', Math.round(f * 100));
  }

  // update shows a waiting or pre-queue place, from the API or the socket.
  function update(st, d) {
    if (done || !(d.position > 0)) return;
    var changed = st !== status, moved = d.position !== position;
    // Before a random pre-queue is drawn, the position is only the order of
    // joining, which the draw discards: it is not shown anywhere.
    var random = st === 'prequeue' && B.dataset.mode === 'random_prequeue';
    var sale = Date.parse(B.dataset.saleAt) - skew;
    if (!!d.paused !== paused) {
      paused = !!d.paused;
      B.dataset.paused = paused ? '1' : '';
      changed = true;
    }
    status = st;
    position = d.position;
    tell(st, d);
    if (changed) {
      show(st, random && sale ? t('help_prequeue_random', { time: when(sale) }) : '');
      stopCountdown();
      if (st === 'prequeue' && sale > Date.now()) {
        countdown('sale_in', sale, !random, function () { setTimeout(poll, Math.random() * 2000); });
      }
      $('place').hidden = random;
      fairness(st);
    }
    if (random) {
      document.title = title;
      if (changed) announce(sentence($('state').textContent) + ' ' + $('help').textContent, true);
      return;
    }
    var ahead = d.ahead >= 0 ? d.ahead : d.position - 1;
    var eta = paused ? T.eta_paused : etaText(d);
    $('position').textContent = nf.format(d.position);
    $('ahead').textContent = nf.format(ahead);
    $('eta').textContent = eta;
    // The time of day of the fan's turn, from the expected wait: none
    // while it is unknown or paused.
    $('turn').textContent = paused || !(d.eta_seconds >= 0) ? '' : t('turn_at', { time: when(Date.now() + d.eta_seconds * 1000) });
    $('turn').hidden = !$('turn').textContent;
    stay();
    document.title = '#' + nf.format(d.position) + ' · ' + title;
    progress(d.position);
    if (changed || moved) {
      announce((changed ? sentence($('state').textContent) + ' ' : '') + t('say_position', { n: nf.format(d.position), eta: eta }), changed);
    }
  }

  // stay says how long the fan will have once admitted: the room's
  // session, and how long the event holds picked tickets when one sells
  // behind the room.
  function stay() {
    var s = +B.dataset.session, h = +B.dataset.hold;
    var text = s > 0 ? t('session_length', { t: duration(s) }) : '';
    if (h > 0) text += (text ? ' ' : '') + t('hold_length', { t: duration(h) });
    $('session').textContent = text;
    $('session').hidden = !text;
  }

  function finish(st, help) {
    done = true;
    status = st;
    tell(st);
    transport('ended');
    paused = false;
    // A closed sale offers nothing to be told of, and a note about being
    // told ("we will write to you...") would be untrue under it.
    if (st !== 'admitted') {
      $('notify').dataset.sent = '';
      note('');
    }
    clearTimeout(wsTimer);
    wsTimer = 0;
    stopCountdown();
    if (ws) { ws.onclose = null; ws.close(); ws = null; }
    $('place').hidden = $('tickets').hidden = $('notify').hidden = true;
    if (st === 'sold_out' && !help) help = T.help_sold_out + ' ' + T.sold_out_watch;
    show(st, help);
    announce(sentence(T['state_' + st]) + ' ' + $('help').textContent, true);
    document.title = title;
    clearTimeout(reopenTimer);
    if (st === 'sold_out') reopenTimer = setTimeout(reopened, jitter(REOPEN_MS));
  }

  // reopened asks whether a sold-out sale has reopened. Joining again with
  // the cookie is a sign of life that keeps the fan's place, answers
  // "closed" while the sale is, and the same place once it is open again;
  // a fan who had none gets one then. Nothing is announced until it opens.
  async function reopened() {
    reopenTimer = 0;
    if (status !== 'sold_out') return;
    if (busy) { reopenTimer = setTimeout(reopened, 1000); return; }
    busy = true;
    var r = await request('POST', '/join');
    busy = false;
    if (status !== 'sold_out') return;
    if (r.status === 200 && r.data.status !== 'closed') {
      done = false;
      errors = 0;
      delete B.dataset.transport; // updates come again
      onTicket(r.data);
      clearTimeout(tickTimer);
      tickTimer = setTimeout(tick, jitter(POLL_MS));
    } else if (r.status === 200 && r.data.closed_reason !== 'sold_out') {
      finish('closed'); // the organizer has closed it for good
    } else if (r.status === 404) {
      finish('deleted');
    } else {
      reopenTimer = setTimeout(reopened, r.retryAfter ? r.retryAfter * 1000 + Math.random() * 1000 : jitter(REOPEN_MS));
    }
  }

  // --- Talking to the server ---

  async function request(method, path, body) {
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, 10000);
    var headers = { Accept: 'application/json' };
    if (resume || kept) headers.Authorization = 'Bearer ' + (resume || kept);
    if (body) headers['Content-Type'] = 'application/json';
    try {
      var res = await fetch(api + path, {
        method: method, credentials: 'same-origin', cache: 'no-store',
        headers: headers, body: body && JSON.stringify(body), signal: ctl.signal
      });
      if (res.ok) resume = null; // the cookie carries the place from now on
      var data = await res.json().catch(function () { return {}; });
      return { status: res.status, data: data, retryAfter: +res.headers.get('Retry-After') || 0 };
    } catch (e) {
      return { status: 0, data: {}, retryAfter: 0 };
    } finally {
      clearTimeout(timer);
    }
  }

  // trouble keeps the last known place on screen and retries fn with
  // jittered backoff (or the server's Retry-After), so a blip in a crowd of
  // thousands does not come back as one synchronized wave.
  function trouble(fn, retryAfter) {
    errors++;
    // No place yet (none known here, and the page was not loaded with a
    // queue token): none is kept, and the note must not say it is.
    note(queueId || B.dataset.place ? T.trouble : T.trouble_joining);
    var ms = retryAfter ? retryAfter * 1000 + Math.random() * 1000 : Math.random() * Math.min(30000, 1000 * Math.pow(2, errors));
    setTimeout(fn, ms);
  }

  function onTicket(d) {
    errors = 0;
    heard();
    if (framed && d.queue_token) keep(d.queue_token);
    if (d.queue_id && d.queue_id !== queueId) {
      queueId = d.queue_id;
      B.dataset.queueId = queueId;
      $('qid').textContent = t('queue_id', { id: queueId });
      $('qid').hidden = false;
    }
    if ($('note').textContent === T.trouble || $('note').textContent === T.trouble_joining) note('');
    switch (d.status) {
      case 'admitted': return go(d);
      case 'closed': return finish(d.closed_reason === 'sold_out' ? 'sold_out' : 'closed');
      case 'waiting': case 'prequeue':
        if (B.dataset.notify && !$('notify').dataset.sent) $('notify').hidden = false;
        if (confirmCode) confirmContact();
        tickets(d);
        update(d.status, d);
        connect();
    }
  }

  // join gets the fan's place: the same one on every call while the queue
  // cookie lives. A 401 means the cookie was bad and has been cleared, so
  // one more join starts afresh.
  async function join(again, keep, solved) {
    if (done || busy) return;
    busy = true;
    var body = keep || solved ? {} : null;
    if (keep) body.keep = keep;
    if (solved && solved.challenge) { body.challenge = solved.challenge; body.solution = solved.solution; }
    if (solved && solved.captcha) body.captcha = solved.captcha;
    if (enqueueToken) { body = body || {}; body.enqueue_token = enqueueToken; }
    if (accessCode) { body = body || {}; body.code = accessCode; }
    var r = await request('POST', '/join', body);
    busy = false;
    var code = r.data.error && r.data.error.code;
    if (r.status === 200) enqueueToken = accessCode = null;
    if (r.status === 401 && /^enqueue_token/.test(code)) return finish('signin');
    if (r.status === 403 && (code === 'code_required' || code === 'bad_code')) return askCode(code === 'bad_code');
    if (r.status === 200) {
      limited(false);
      onTicket(r.data);
    } else if (r.status === 428 && r.data.challenge) {
      check(r.data.challenge, function (s) { join(again, keep, s); });
    } else if (r.data.captcha && r.status < 500 && code !== 'challenge_failed') {
      human(r.data.captcha, function (tok) { join(again, keep, { captcha: tok }); });
    } else if (r.status === 400 && code === 'challenge_failed' && !(solved && solved.retried)) {
      join(again, keep, { retried: true }); // expired or used meanwhile: a fresh one
    } else if (r.status === 429 && code === 'rate_limited') {
      trouble(join, r.retryAfter);
      limited(true);
    } else if (r.status === 409 && r.data.places) {
      choose(r.data.places);
    } else if (r.status === 409 && r.data.error && r.data.error.code === 'conflict') {
      notOpen(r.retryAfter);
    } else if (r.status === 404) {
      finish('deleted');
    } else if (r.status === 401 && !again) {
      keep(null);
      join(true);
    } else {
      trouble(join, r.retryAfter);
    }
  }

  // check solves the join's proof-of-work challenge (pow.js) in a Web
  // Worker, or on this thread in slices where workers are unavailable,
  // showing "Checking your browser…" meanwhile; then done({challenge,
  // solution}).
  function check(ch, done) {
    show('checking', T.help_checking);
    var finish = function (nonce) { done({ challenge: ch.token, solution: nonce }); };
    var w = null;
    try { w = new Worker(B.dataset.pow); } catch (e) { w = null; }
    if (w) {
      var fallback = function () { w.terminate(); w = null; self.cgPow.solve(ch.token, ch.bits, finish); };
      w.onmessage = function (m) { w.terminate(); finish(m.data.nonce); };
      w.onerror = fallback;
      w.postMessage({ token: ch.token, bits: ch.bits });
    } else {
      self.cgPow.solve(ch.token, ch.bits, finish);
    }
  }

  // human draws the room's CAPTCHA widget as a step of its own, loading
  // the provider's script once (the CSP allows it in such rooms only).
  function human(ask, done) {
    var g = { turnstile: 'turnstile', hcaptcha: 'hcaptcha', recaptcha: 'grecaptcha' }[ask.provider];
    var box = $('captcha');
    show('captcha');
    box.hidden = false;
    self.cgCaptchaReady = function () {
      var el = document.createElement('div');
      box.replaceChildren(el);
      self[g].render(el, { sitekey: ask.site_key, action: ask.action, callback: function (tok) { box.hidden = true; done(tok); } });
    };
    if (self[g]) return self.cgCaptchaReady();
    var s = document.createElement('script');
    s.src = B.dataset.captchaScript;
    s.onerror = function () { s.remove(); trouble(join); };
    document.head.appendChild(s);
  }

  // limited says (or stops saying) that too many places were taken from
  // the fan's network, so the wait before the next try is explained.
  function limited(on) {
    if (on) note(T.rate_limited);
    else if ($('note').textContent === T.rate_limited) note('');
  }

  // choose asks the fan which place to keep when a resume link names
  // another place than the one this browser holds; the server gives up the
  // other. Nothing changes until the fan answers.
  // askCode shows the access-code form (a room with access_code_required)
  // and joins again with what the fan types; bad says the last one failed.
  function askCode(bad) {
    accessCode = null;
    show('code');
    note(bad ? T.code_bad : '');
    $('code').hidden = false;
    $('code-input').focus();
    announce(T.state_code + '. ' + (bad ? T.code_bad : T.help_code), true);
  }
  $('code').addEventListener('submit', function (e) {
    e.preventDefault();
    var v = $('code-input').value.trim();
    if (!v) return;
    accessCode = v;
    $('code').hidden = true;
    note('');
    show('joining', '');
    join(false);
  });

  function choose(places) {
    var name = function (p) { return p.status === 'admitted' ? T.choose_turn : t('choose_place', { n: nf.format(p.position) }); };
    var box = $('choose');
    $('choose-text').textContent = t('choose_text', { mine: name(places.cookie), link: name(places.bearer) });
    box.hidden = false;
    show('joining', '');
    announce(T.choose_title + '. ' + $('choose-text').textContent, true);
    var pick = function (keep) {
      return function () {
        box.hidden = true;
        join(false, keep);
      };
    };
    $('keep-cookie').onclick = pick('cookie');
    $('keep-bearer').onclick = pick('bearer');
    $('keep-cookie').focus();
  }

  // poll asks for the status; a lost place (404) or a cleared cookie (401)
  // means joining again, which the API says is the way back in.
  async function poll() {
    if (done || busy) return;
    busy = true;
    var r = await request('GET', '/status');
    busy = false;
    if (r.status === 200) {
      onTicket(r.data);
    } else if (r.status === 404 || r.status === 401) {
      lost();
    } else if (r.status >= 500 || r.status === 429 || r.status === 0) {
      errors++;
      note(queueId || B.dataset.place ? T.trouble : T.trouble_joining); // the poll loop retries on its own
    }
  }

  function lost() {
    if (position) {
      note(T.place_lost);
      announce(T.place_lost, true);
    }
    position = 0;
    first = 0;
    join();
  }

  function notOpen(retryAfter) {
    status = 'notopen';
    show('notopen');
    var opens = Date.parse(B.dataset.opensAt) - skew;
    // Retry-After is whole seconds on the server's clock, so the queue opens
    // within its last second; the room's opening time (on our clock, skew
    // corrected) is more precise, when it agrees. When it does not, the
    // organizer moved the opening after this page was rendered.
    var at = Date.now() + Math.max(1, retryAfter || 5) * 1000;
    if (Math.abs(at - 500 - opens) < 1500) at = opens;
    announce(sentence(T.state_notopen) + ' ' + T.help_notopen, true);
    // Spread the opening moment's joins over two seconds, so every open
    // tab does not join in the same millisecond.
    countdown('opens_in', at, at === opens, function () { setTimeout(join, Math.random() * 2000); });
  }

  // go makes sure the admission cookie is stored (the join or status answer
  // that said "admitted" set it), then leaves for the protected page. A
  // framed page cannot: it offers the enter button instead.
  function go(d) {
    if (framed && d && d.admission_token) return enter(d);
    var to = safeReturnTo(B.dataset.returnTo);
    finish('admitted');
    $('continue').href = to;
    $('continue').hidden = false;
    location.replace(to);
  }

  // enter shows the framed page's way on: a button that posts the admission
  // token to this site in the top window (POST /rooms/{room}/enter), which
  // sets the site's cookie and goes on to return_to. Browsers let a frame
  // navigate the top window only on the fan's click, so it is a button.
  function enter(d) {
    var f = $('enter');
    f.elements.admission_token.value = d.admission_token;
    f.elements.queue_token.value = kept || '';
    finish('admitted');
    f.hidden = false;
    f.querySelector('button').focus();
  }

  // admittedBySocket: the socket carries the token but cannot set the
  // HttpOnly cookie, so ask for the status once, which sets it.
  async function admittedBySocket() {
    if (done) return;
    var r = await request('GET', '/status');
    if (r.status === 200 && r.data.status === 'admitted') go(r.data);
    else if (r.status === 200) onTicket(r.data);
    else join();
  }

  // --- Live updates ---

  function wsLive() {
    return ws !== null && ws.readyState === 1 && Date.now() - wsSince < WS_SILENT_MS;
  }

  function connect() {
    if (done || ws || wsTimer || !window.WebSocket) return;
    var got = false;
    try {
      ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/v1/rooms/' + room +
        (framed && kept ? '?queue_token=' + encodeURIComponent(kept) : ''));
    } catch (e) {
      ws = null;
      return;
    }
    wsSince = Date.now();
    ws.onmessage = function (e) {
      var m;
      try { m = JSON.parse(e.data); } catch (err) { return; }
      wsSince = Date.now();
      heard();
      if (!got) { got = true; wsFails = 0; wsWorked = true; transport('ws'); }
      if (m.type === 'position') {
        tickets(m);
        update(m.status || 'waiting', m);
      } else if (m.type === 'admitted') {
        // The server ends this socket; we are leaving, not reconnecting.
        ws.onclose = ws.onmessage = null;
        ws = null;
        admittedBySocket();
      } else if (m.type === 'closed') {
        // The server ends this socket too, with a close frame right
        // behind this one: closing it from both ends at once is a
        // protocol error the browser reports.
        ws.onclose = ws.onmessage = null;
        ws = null;
        if (m.reason === 'place_lost') lost();
        else finish(m.reason === 'sold_out' || m.reason === 'deleted' ? m.reason : 'closed');
      }
    };
    ws.onclose = reconnect;
  }

  // reconnect after a close (1012: the server is restarting) or silence,
  // with full jitter so a restart does not bring every fan back at once.
  function reconnect() {
    if (ws) { ws.onclose = ws.onmessage = null; ws.close(); ws = null; }
    if (done) return;
    wsFails++;
    if (wsFails >= 2) transport('poll');
    else if (B.dataset.transport === 'ws') transport('reconnecting');
    var cap = wsWorked ? WS_CAP_MS : WS_BLOCKED_MS;
    wsTimer = setTimeout(function () { wsTimer = 0; connect(); },
      Math.random() * Math.min(cap, WS_BASE_MS * Math.pow(2, wsFails)));
  }

  // The heartbeat of the page: every ~5 s, drop a silent socket, and poll
  // unless the socket is live. Polling starts only after the socket failed
  // twice, so a quick reconnect does not add a wave of polls.
  function tick() {
    if (done) return;
    if (ws && Date.now() - wsSince > WS_SILENT_MS) reconnect();
    if ((status === 'waiting' || status === 'prequeue') && !wsLive() && (wsFails >= 2 || !window.WebSocket)) {
      if (!window.WebSocket) transport('poll');
      poll();
    }
    tickTimer = setTimeout(tick, jitter(POLL_MS));
  }

  // Back from the background or from offline: catch up at once.
  function wake() {
    if (!done && !document.hidden && (status === 'waiting' || status === 'prequeue') && !wsLive()) poll();
    if (status === 'sold_out' && !document.hidden) { clearTimeout(reopenTimer); reopened(); }
  }
  document.addEventListener('visibilitychange', wake);
  window.addEventListener('online', wake);

  // notify me: an email (anything with an @) or a phone number; the
  // server checks it, and its message is shown as is when it refuses.
  $('notify').addEventListener('submit', async function (e) {
    e.preventDefault();
    var v = $('contact').value.trim();
    var r = await request('POST', '/notify', /@/.test(v) ? { email: v } : { phone: v.replace(/[\s()-]/g, '') });
    if (r.status === 202) {
      $('notify').hidden = true;
      $('notify').dataset.sent = '1';
      note(t('notify_check', { contact: v }));
    } else if (r.data.error && r.data.error.code === 'room_closed') {
      $('notify').hidden = true; // closed meanwhile: the status says how
      poll();
    } else {
      note(r.data.error ? r.data.error.message : T.trouble);
    }
  });

  // confirmContact sends the code of a confirmation's link, once: until it
  // comes back, nothing but the confirmation is sent and the place is kept
  // only while the page is open.
  async function confirmContact() {
    var code = confirmCode;
    confirmCode = '';
    var r = await request('POST', '/notify/confirm', { code: code });
    if (r.status === 200) {
      $('notify').hidden = true;
      $('notify').dataset.sent = '1';
      note(t('notify_ok', { time: when(Date.parse(r.data.place_kept_until)) }));
    } else {
      note(r.data.error ? r.data.error.message : T.trouble);
    }
  }

  join();
  tickTimer = setTimeout(tick, jitter(POLL_MS));
})();
