// The fans' shop: the event page (ticket types, a hold with its countdown,
// checkout) and the order page (followed until it settles). Plain ES2017,
// no framework, no build step, like room.js. Everything the API sends is
// put in the page as text, never as HTML.
(function () {
  'use strict';

  var B = document.body;
  // The server's clock minus ours, so a hold's countdown is right on a
  // phone whose clock is off.
  var skew = B.dataset.now ? Date.parse(B.dataset.now) - Date.now() : 0;
  var ROOM_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

  // The page's words come with it, in its language (data-i18n), and so do
  // the numbers: the language's digits and plural rules. A language the
  // fan chose (?lang=) goes on with them to the next page (withLang).
  var T = {};
  try { T = JSON.parse(B.dataset.i18n || '{}'); } catch (e) { /* the template's words stay */ }
  var lang = document.documentElement.lang;
  var nf = new Intl.NumberFormat(lang);
  var nf2 = new Intl.NumberFormat(lang, { minimumIntegerDigits: 2, useGrouping: false });
  var pr = Intl.PluralRules ? new Intl.PluralRules(lang) : { select: function (n) { return n === 1 ? 'one' : 'other'; } };
  var chosen = (new URLSearchParams(location.search).get('lang') || '').split('-')[0].toLowerCase() === lang ? lang : '';

  function tr(key, vars) {
    vars = vars || {};
    return (T[key] || '').replace(/\{(\w+)\}/g, function (_, k) { return vars[k]; });
  }

  // plural words a count n with key's form for n's plural category
  // ("available.one", ".few"...), or key itself (the "other" form).
  function plural(key, n, vars) {
    var form = key + '.' + pr.select(n), v = { n: nf.format(n) };
    for (var k in vars) v[k] = vars[k];
    return tr(T[form] ? form : key, v);
  }

  // withLang adds the chosen language to a link on this site (a path
  // stays a path); other sites' links are left as they are.
  function withLang(href) {
    var u;
    try { u = new URL(href, location.href); } catch (e) { return href; }
    if (!chosen || u.origin !== location.origin) return href;
    u.searchParams.set('lang', chosen);
    return /^\/(?![\/\\])/.test(href) ? u.pathname + u.search + u.hash : u.href;
  }

  function $(id) { return document.getElementById('cg-' + id); }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text != null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  // say puts a message in the live region; a link may follow it.
  function say(text, href, linkText) {
    var s = $('status');
    s.textContent = text;
    if (href) {
      var a = el('a', linkText);
      a.href = href;
      s.appendChild(document.createTextNode(' '));
      s.appendChild(a);
    }
  }

  // money formats minor units with the currency's own number of decimals
  // (JPY none, INR two, KWD three), in the reader's locale.
  function money(minor, cur) {
    try {
      var f = new Intl.NumberFormat(lang, { style: 'currency', currency: cur });
      return f.format(minor / Math.pow(10, f.resolvedOptions().maximumFractionDigits));
    } catch (e) { // not a currency code: ISO 4217's usual two decimals
      return nf.format(minor / 100) + ' ' + cur;
    }
  }

  // api calls the JSON API on this site; the admission cookie goes along.
  // It resolves to {status, data, retry}, and rejects only when the network
  // failed.
  function api(method, path, body, headers) {
    var opt = { method: method, headers: headers || {}, credentials: 'same-origin', cache: 'no-store' };
    if (body) {
      opt.body = JSON.stringify(body);
      opt.headers['Content-Type'] = 'application/json';
    }
    return fetch(path, opt).then(function (r) {
      var out = { status: r.status, data: {}, retry: parseInt(r.headers.get('Retry-After'), 10) || 0 };
      if (r.status === 204) return out;
      return r.json().then(function (d) { out.data = d || {}; return out; }, function () { return out; });
    });
  }

  function code(res) { return (res.data.error && res.data.error.code) || ''; }

  // trouble explains an answer the page has no special words for.
  function trouble(res) {
    if (code(res) === 'rate_limited') return plural('rate_limited', res.retry || 5);
    var msg = res.data.error && res.data.error.message;
    if (res.status < 500 && msg) return tr('refused', { message: msg }); // the API's words: English
    return tr('server_error');
  }

  var OFFLINE = tr('offline');

  function randomKey() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
  }

  // showItems lists an order's or a hold's items.
  function showItems(d, names) {
    var ul = $('items');
    ul.textContent = '';
    (d.items || []).forEach(function (it) {
      var name = (names && names[it.ticket_type]) || it.ticket_type, price = money(it.price_minor, d.currency);
      ul.appendChild(el('li', tr('order_item', { n: nf.format(it.quantity), name: name, price: price })));
    });
    $('total-line').hidden = !d.currency;
    if (d.currency) $('total').textContent = money(d.amount_minor, d.currency);
  }

  // --- The event page ---

  function eventPage() {
    var event = B.dataset.event;
    var base = '/api/v1/events/' + event; // a validated id: nothing to escape
    var saved = 'cg-hold:' + event;       // this tab's hold, to survive a reload
    var room = '', names = {}, hold = null, busy = false, timer = 0, warned = false;
    var payBtn = $('pay').querySelector('button[type=submit]');
    // The event's per-admission limit (tickets in live holds and paid
    // orders together, every type), and what is left of it to this
    // visitor: null until an answer says (the event's "limit" when the
    // request carried an admission, or a 409 limit_reached).
    var perAdmission = 0, left = null;

    function allowance() {
      if (left !== null) return left;
      return perAdmission > 0 ? perAdmission : Infinity;
    }

    // ruleText is the limit as the page states it under the title.
    function ruleText() {
      return perAdmission ? plural('limit_rule', perAdmission) : '';
    }

    // leftText says, on its own, what the limit leaves this visitor.
    function leftText() {
      if (left === null || left >= perAdmission) return ruleText();
      return ruleText() + ' ' + (left === 0 ? tr('limit_none') : plural('limit_left', left, { had: nf.format(perAdmission - left) }));
    }

    // learn takes what an answer says of the limit ({per_admission, left}).
    function learn(lim) {
      if (!lim) return;
      if (typeof lim.per_admission === 'number') perAdmission = lim.per_admission;
      if (typeof lim.left === 'number') left = Math.max(0, lim.left);
    }

    function admitFirst() {
      if (!ROOM_ID.test(room)) {
        say(tr('admit_first'));
        return;
      }
      say(tr('admit_first'), withLang('/rooms/' + room + '?return_to=' + encodeURIComponent(withLang('/events/' + event))), tr('to_room'));
    }

    function load() {
      return api('GET', base).then(function (res) {
        if (res.status === 200) return render(res.data);
        say(res.status === 404 ? tr('no_event') : trouble(res));
      }, function () { say(OFFLINE); });
    }

    function render(d) {
      room = d.room || '';
      document.title = $('title').textContent = tr('event_heading', { event: d.name || d.event });
      perAdmission = d.per_admission_limit || 0;
      learn(d.limit);
      $('limit').textContent = ruleText();
      $('limit').hidden = !perAdmission;
      var list = $('types');
      list.textContent = '';
      (d.ticket_types || []).forEach(function (t) {
        names[t.id] = t.name;
        var f = el('form', null, 'type');
        var h = el('h2', t.name);
        h.id = 'cg-type-' + t.id;
        f.setAttribute('aria-labelledby', h.id);
        f.appendChild(h);
        f.appendChild(el('p', money(t.price_minor, t.currency), 'price'));
        f.appendChild(el('p', t.available > 0 ? plural('available', t.available) : tr('sold_out'), 'left'));
        // Never more than one hold may take: the type's per-order limit,
        // what is available, and what the per-admission limit leaves.
        var most = Math.min(t.per_order_limit, t.available, allowance());
        if (most > 0) {
          var row = el('div', null, 'row');
          var lab = el('label', tr('quantity'));
          var sel = el('select');
          sel.id = lab.htmlFor = 'cg-qty-' + t.id;
          for (var i = 1; i <= most; i++) {
            var o = el('option', nf.format(i));
            o.value = i;
            sel.appendChild(o);
          }
          var btn = el('button', tr('hold_button'), 'button');
          btn.type = 'submit';
          btn.disabled = !!hold;
          row.appendChild(lab);
          row.appendChild(sel);
          row.appendChild(btn);
          f.appendChild(row);
          f.addEventListener('submit', function (ev) {
            ev.preventDefault();
            placeHold(t.id, +sel.value, btn);
          });
        }
        list.appendChild(f);
      });
      if (!d.ticket_types || !d.ticket_types.length) say(tr('no_types'));
      else if (!hold && left === 0) say(leftText());
      else if (!hold) say(tr('choose'));
    }

    function lockTypes(on) {
      Array.prototype.forEach.call($('types').querySelectorAll('button'), function (b) { b.disabled = on; });
    }

    function placeHold(type, quantity, btn) {
      if (busy) return;
      busy = true;
      btn.disabled = true;
      say(tr('holding'));
      api('POST', base + '/holds', { ticket_type: type, quantity: quantity }, { 'Idempotency-Key': randomKey() }).then(function (res) {
        busy = false;
        btn.disabled = false;
        var c = code(res);
        if (res.status === 201) {
          if (left !== null) left = Math.max(0, left - quantity);
          showHold(res.data);
          say(tr('held'));
          // What is left has changed, by this hold at least: show it, and
          // keep the Pay button in sight once the list is drawn again.
          load().then(reveal);
        } else if (c === 'hold_exists' && res.data.hold_id) {
          resume(res.data.hold_id, tr('hold_exists'));
        } else if (c === 'limit_reached') {
          // Tickets bought or held with this admission before (another
          // tab, an earlier order) count: the answer says what is left.
          learn(res.data.limit);
          load().then(function () { say(leftText()); });
        } else if (c === 'sold_out') {
          load().then(function () { say(tr('not_enough')); });
        } else if (c === 'unauthorized' || c === 'forbidden') {
          admitFirst();
        } else {
          say(trouble(res));
        }
      }, function () { busy = false; btn.disabled = false; say(OFFLINE); });
    }

    // resume shows a hold this visitor already has, if it is still live.
    function resume(id, text) {
      return api('GET', '/api/v1/holds/' + encodeURIComponent(id)).then(function (res) {
        if (res.status === 200 && res.data.status === 'active') {
          showHold(res.data);
          if (text) say(text);
        } else {
          forget();
          if (text) say(text);
        }
      }, function () { say(OFFLINE); });
    }

    function showHold(h) {
      hold = h;
      try { sessionStorage.setItem(saved, h.hold_id); } catch (e) { /* private mode */ }
      showItems(h, names);
      $('hold').hidden = false;
      lockTypes(true);
      warned = false;
      clearInterval(timer);
      tick();
      timer = setInterval(tick, 1000);
      $('hold-title').focus({ preventScroll: true });
      reveal();
    }

    // reveal scrolls the hold into view, its Pay button included: on a
    // phone the hold sits below the ticket types, out of sight.
    function reveal() {
      if (!hold) return;
      $('hold').scrollIntoView({ block: 'start' });
      if (payBtn.getBoundingClientRect().bottom > window.innerHeight) payBtn.scrollIntoView({ block: 'end' });
    }

    // forget drops the hold from the page; gone says its tickets went back
    // (released or expired), and so back into what the limit leaves.
    function forget(gone) {
      if (gone && hold && left !== null) {
        var n = (hold.items || []).reduce(function (a, it) { return a + it.quantity; }, 0);
        left = Math.min(perAdmission || Infinity, left + n);
      }
      hold = null;
      clearInterval(timer);
      try { sessionStorage.removeItem(saved); } catch (e) { /* private mode */ }
      $('hold').hidden = true;
      lockTypes(false);
    }

    function tick() {
      var secs = Math.round((Date.parse(hold.expires_at) - Date.now() - skew) / 1000);
      if (!(secs > 0)) {
        forget(true);
        load().then(function () { say(tr('hold_expired')); });
        return;
      }
      var m = Math.floor(secs / 60), s = secs % 60;
      $('countdown').textContent = tr('time_left', { t: nf.format(m) + ':' + nf2.format(s) });
      if (secs <= 60 && !warned) {
        warned = true;
        say(tr('last_minute'));
      }
    }

    $('pay').addEventListener('submit', function (ev) {
      ev.preventDefault();
      if (busy || !hold) return;
      var body = { provider: 'sandbox' };
      var email = $('email').value.trim();
      if (email) body.email = email;
      busy = payBtn.disabled = true;
      say(tr('paying'));
      api('POST', '/api/v1/holds/' + encodeURIComponent(hold.hold_id) + '/checkout', body).then(function (res) {
        busy = payBtn.disabled = false;
        var c = code(res), url = res.status === 201 && res.data.payment && res.data.payment.redirect_url;
        if (url && /^(https?:\/\/|\/(?![\/\\]))/i.test(url)) {
          say(tr('to_payment'));
          location.assign(withLang(url));
        } else if (c === 'not_found' || c === 'hold_expired') {
          forget(true);
          load().then(function () { say(tr('hold_invalid')); });
        } else if (c === 'unauthorized' || c === 'forbidden') {
          admitFirst();
        } else {
          say(trouble(res));
        }
      }, function () { busy = payBtn.disabled = false; say(OFFLINE); });
    });

    $('release').addEventListener('click', function () {
      if (busy || !hold) return;
      busy = true;
      api('DELETE', '/api/v1/holds/' + encodeURIComponent(hold.hold_id)).then(function (res) {
        busy = false;
        if (res.status === 204 || res.status === 404) {
          forget(true);
          load().then(function () { say(tr('released')); });
        } else {
          say(trouble(res));
        }
      }, function () { busy = false; say(OFFLINE); });
    });

    load().then(function () {
      var id = null;
      try { id = sessionStorage.getItem(saved); } catch (e) { /* private mode */ }
      if (id && ROOM_ID.test(id)) resume(id, tr('still_held'));
    });
  }

  // --- The order page ---

  // Back from the pay page, the provider's decision rides in
  // redirect_status: until its webhook lands, the order is still pending,
  // and the fan is told the payment is being confirmed rather than left
  // looking at "waiting for your payment" as if nothing had happened.
  var SLOW_MS = 20000; // after this, pending says it is taking longer than usual

  function orderPage() {
    var order = B.dataset.order, shown = '', delay = 1000, since = Date.now();
    // The event's words: its name and its ticket types' names, read once
    // from the event (the order has only their ids).
    var names = null, asking = false, last = null;
    var back = new URLSearchParams(location.search).get('redirect_status');

    function words(status) {
      if (status === 'pending_payment') {
        var slow = Date.now() - since > SLOW_MS;
        var key = back === 'succeeded' ? 'order_confirming' : back === 'failed' ? 'order_checking' : 'order_pending';
        return [key + (slow && key !== 'order_pending' ? ':slow' : ''), tr(key), slow && key !== 'order_pending' ? tr('order_slow_help') : tr(key + '_help')];
      }
      if (T['order_' + status]) return [status, tr('order_' + status), tr('order_' + status + '_help')];
      return [status, tr('order_other', { status: status }), ''];
    }

    function poll() {
      api('GET', '/api/v1/orders/' + order).then(function (res) {
        if (res.status === 200) {
          show(res.data);
          if (res.data.status !== 'pending_payment' && T['order_' + res.data.status]) return; // settled
          // Keep asking every second; slower once it is clearly not quick.
          delay = Date.now() - since > 120000 ? 5000 : 1000;
        } else if (res.status === 404) {
          say(tr('order_not_found'));
          return;
        } else {
          delay = Math.max(res.retry * 1000, Math.min(delay * 2, 15000));
        }
        setTimeout(poll, delay);
      }, function () {
        delay = Math.min(delay * 2, 15000);
        setTimeout(poll, delay);
      });
    }

    function learnEvent(ev) {
      if (names || asking || !ROOM_ID.test(ev || '')) return;
      asking = true;
      api('GET', '/api/v1/events/' + ev).then(function (res) {
        asking = false;
        if (res.status !== 200) return;
        names = {};
        (res.data.ticket_types || []).forEach(function (t) { names[t.id] = t.name; });
        $('event').textContent = res.data.name || res.data.event;
        $('event').hidden = false;
        if (last) showItems(last, names);
      }, function () { asking = false; });
    }

    function show(d) {
      last = d;
      learnEvent(d.event);
      showItems(d, names);
      var onward = B.dataset.paidLink || '';
      if (d.status === 'paid' && /^\/(?![\/\\])/.test(onward)) {
        $('onward').href = onward;
        $('onward-line').hidden = false;
      }
      var w = words(d.status);
      if (w[0] === shown) return; // say it once, not every second
      shown = w[0];
      say(w[1]);
      $('detail').textContent = w[2];
      if ((d.status === 'failed' || d.status === 'expired') && ROOM_ID.test(d.event || '')) {
        $('back').href = withLang('/events/' + d.event);
        $('next').hidden = false;
      }
    }

    poll();
  }

  // --- The pay page ---

  // The server wrote the amount as "INR 3,000.00" for a page without a
  // script; the fan reads it as the other pages write money.
  function payPage() {
    var h = $('pay-title'), minor = h && parseInt(h.dataset.minor, 10);
    if (!h || !h.dataset.currency || !isFinite(minor) || !T.pay_title) return;
    h.textContent = tr('pay_title', { amount: money(minor, h.dataset.currency) });
  }

  if (B.dataset.page === 'event') eventPage();
  else if (B.dataset.page === 'order') orderPage();
  else if (B.dataset.page === 'pay') payPage();
})();
