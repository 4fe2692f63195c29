// hikyaku console: a page per hash (#/overview, #/dead-letters, ...) over the admin API.
//
// Everything the server sends is data, and some of it (finding titles, error messages, bodies)
// comes from outside: it is put on the page only as text (textContent, createTextNode), never as
// markup, and a link's address is used only when it is http(s).
'use strict';

const KEY_STORAGE = 'hikyaku-admin-key';
const API = '/admin/v1';
const REFRESH_MS = 5000;

const consoleState = {
  keyHeader: null, // the admin key's header name; null: the server asks for no key
  refreshTimer: null,
  deadLetterPages: [], // NextTokens of the pages before the one shown
  deliveryPages: [],
};

// ---- DOM helpers: text only -------------------------------------------------------------------

function el(tag, options, ...children) {
  const node = document.createElement(tag);
  const settings = options || {};
  if (settings.className) node.className = settings.className;
  if (settings.id) node.id = settings.id;
  if (settings.type) node.type = settings.type;
  if (settings.title) node.title = settings.title;
  if (settings.dataset) Object.assign(node.dataset, settings.dataset);
  for (const child of children) append(node, child);
  return node;
}

function append(node, child) {
  if (child === null || child === undefined) return;
  if (child instanceof Node) {
    node.appendChild(child);
  } else {
    node.appendChild(document.createTextNode(String(child)));
  }
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

// An http(s) address as given, or null: no javascript:, data: or relative links from data.
function safeUrl(text) {
  if (typeof text !== 'string') return null;
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch (error) {
    return null;
  }
}

function link(text, href, external) {
  const anchor = el('a', {}, text);
  anchor.href = href;
  if (external) {
    anchor.rel = 'noopener noreferrer';
    anchor.target = '_blank';
  }
  return anchor;
}

function shown(value) {
  return value === null || value === undefined || value === '' ? '–' : String(value);
}

function pretty(value) {
  return JSON.stringify(value, null, 2);
}

// A body is JSON most of the time: shown indented when it parses, as sent otherwise.
function prettyText(text) {
  if (typeof text !== 'string') return pretty(text);
  try {
    return pretty(JSON.parse(text));
  } catch (error) {
    return text;
  }
}

function table(headings, rows, emptyText) {
  if (rows.length === 0) return el('p', { className: 'muted' }, emptyText);
  const head = el('tr', {}, ...headings.map((heading) => el('th', {}, heading)));
  const body = el('tbody');
  for (const cells of rows) {
    const row = el('tr');
    for (const cell of cells) {
      if (cell instanceof HTMLTableCellElement) {
        row.appendChild(cell);
      } else {
        row.appendChild(el('td', {}, cell));
      }
    }
    body.appendChild(row);
  }
  return el('div', { className: 'table-wrap' }, el('table', {}, el('thead', {}, head), body));
}

function numberCell(value) {
  return el('td', { className: 'number' }, shown(value));
}

function wrapCell(value) {
  return el('td', { className: 'wrap' }, shown(value));
}

function card(label, value, bad) {
  return el('div', { className: bad ? 'card bad' : 'card', dataset: { card: label } },
    el('div', { className: 'figure' }, shown(value)), el('div', { className: 'label' }, label));
}

function field(list, name, value) {
  list.appendChild(el('dt', {}, name));
  const description = el('dd');
  append(description, value instanceof Node ? value : shown(value));
  list.appendChild(description);
}

function page() {
  return document.getElementById('page');
}

function showBanner(message) {
  const banner = document.getElementById('banner');
  banner.textContent = message;
  banner.hidden = !message;
}

// ---- the admin API --------------------------------------------------------------------------

class SignInNeeded extends Error {}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const headers = {};
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (consoleState.keyHeader && key) headers[consoleState.keyHeader] = key;
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const response = await fetch(API + path, init);
  let answer = null;
  try {
    answer = await response.json();
  } catch (error) {
    answer = null;
  }
  if (response.ok) return answer;
  const problem = answer && answer.Error ? answer.Error : {};
  const message = `${response.status} ${problem.Code || response.statusText}: ${problem.Message || 'no explanation given'}`;
  if ((response.status === 401 || response.status === 403) && consoleState.keyHeader) {
    signOut(`The server refused the key (${message}).`);
    throw new SignInNeeded(message);
  }
  throw new ApiError(response.status, problem.Code || '', message);
}

// ---- sign-in ----------------------------------------------------------------------------------

function signedIn() {
  return consoleState.keyHeader === null || Boolean(sessionStorage.getItem(KEY_STORAGE));
}

function showSignIn(message) {
  stopRefresh();
  document.getElementById('nav').hidden = true;
  document.getElementById('sign-out').hidden = true;
  page().hidden = true;
  showBanner('');
  document.getElementById('sign-in').hidden = false;
  document.getElementById('sign-in-message').textContent = message || '';
  document.getElementById('key-header').textContent = consoleState.keyHeader ? `(sent as ${consoleState.keyHeader})` : '';
  document.getElementById('admin-key').focus();
}

function signOut(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  showSignIn(message);
}

async function signIn(event) {
  event.preventDefault();
  const input = document.getElementById('admin-key');
  sessionStorage.setItem(KEY_STORAGE, input.value);
  input.value = '';
  try {
    await api('GET', '/rules');
  } catch (error) {
    if (!(error instanceof SignInNeeded)) {
      document.getElementById('sign-in-message').textContent = String(error.message);
    }
    return;
  }
  document.getElementById('sign-in').hidden = true;
  if (!location.hash || location.hash === '#' || location.hash === '#/') {
    location.hash = '#/overview';
  } else {
    route();
  }
}

// ---- routing ----------------------------------------------------------------------------------

function stopRefresh() {
  if (consoleState.refreshTimer !== null) {
    clearInterval(consoleState.refreshTimer);
    consoleState.refreshTimer = null;
  }
}

async function route() {
  stopRefresh();
  if (!signedIn()) {
    showSignIn('');
    return;
  }
  document.getElementById('sign-in').hidden = true;
  document.getElementById('nav').hidden = false;
  document.getElementById('sign-out').hidden = consoleState.keyHeader === null;
  showBanner('');
  const parts = location.hash.replace(/^#\/?/, '').split('?')[0].split('/');
  const name = parts[0] || 'overview';
  for (const anchor of document.querySelectorAll('#nav a')) {
    anchor.classList.toggle('current', anchor.dataset.page === name);
  }
  const container = page();
  container.hidden = false;
  clear(container);
  container.dataset.page = name;
  // Each visit renders into a view of its own: one still loading when the operator moves on
  // fills a view no longer on the page, never the page of the next visit.
  const target = el('div', { className: 'view' });
  container.appendChild(target);
  try {
    if (name === 'overview') {
      await overviewPage(target);
    } else if (name === 'dead-letters' && parts[1]) {
      container.dataset.page = 'dead-letter';
      await deadLetterPage(target, decodeURIComponent(parts[1]));
    } else if (name === 'dead-letters') {
      await deadLettersPage(target);
    } else if (name === 'deliveries') {
      await deliveriesPage(target);
    } else if (name === 'tickets') {
      await ticketsPage(target);
    } else if (name === 'tester') {
      testerPage(target);
    } else {
      target.appendChild(el('p', {}, 'No such page. ', link('Overview', '#/overview')));
    }
  } catch (error) {
    if (!(error instanceof SignInNeeded) && target.isConnected) showBanner(String(error.message));
  }
}

// ---- overview ---------------------------------------------------------------------------------

function sum(values) {
  return values.reduce((total, value) => total + (typeof value === 'number' ? value : 0), 0);
}

function rate(part, whole) {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '–';
}

async function overviewPage(target) {
  const render = async () => {
    const [rules, destinations, counts] = await Promise.all([
      api('GET', '/rules'),
      api('GET', '/destinations'),
      api('GET', '/counts'),
    ]);
    const targets = rules.Rules.flatMap((rule) => rule.Targets.map((t) => ({ rule, target: t })));
    const delivered = sum(targets.map((t) => t.target.Delivered));
    const failed = sum(targets.map((t) => sum([t.target.FailedRetryable, t.target.FailedPermanent])));
    const paused = destinations.Destinations.filter((d) => d.PausedUntil);
    const content = el('div', { id: 'overview' },
      el('h1', {}, 'Overview'),
      el('div', { className: 'cards' },
        card('rules', rules.Rules.length),
        card('targets', targets.length),
        card('delivered', delivered),
        card('failure rate', rate(failed, delivered + failed), failed > 0),
        card('queued jobs', sum(destinations.Destinations.map((d) => d.QueuedJobs))),
        card('dead letters', counts.DeadLetters, counts.DeadLetters > 0),
        card('paused destinations', paused.length, paused.length > 0)),
      el('h2', {}, 'Rules and targets'),
      table(['Rule', 'Bus', 'State', 'Matched', 'Target', 'Kind', 'Delivered', 'Failed (retryable)',
        'Failed (permanent)', 'To DLQ', 'Failure rate'],
      targets.length === 0 && rules.Rules.length > 0
        ? rules.Rules.map((rule) => [rule.Name, rule.EventBusName, rule.State, numberCell(rule.MatchedEvents), '–', '', '', '', '', '', ''])
        : targets.map(({ rule, target: t }) => {
          const failures = sum([t.FailedRetryable, t.FailedPermanent]);
          return [rule.Name, rule.EventBusName, rule.State, numberCell(rule.MatchedEvents), t.Id, t.Kind,
            numberCell(t.Delivered), numberCell(t.FailedRetryable), numberCell(t.FailedPermanent),
            numberCell(t.SentToDlq), numberCell(rate(failures, failures + sum([t.Delivered])))];
        }), 'No rules are configured.'),
      el('h2', {}, 'Destinations'),
      table(['Destination', 'Kind', 'Queued jobs', 'Oldest job (s)', 'Waiting for turn', 'In flight',
        'Rate limit (/s)', 'Paused until'],
      destinations.Destinations.map((d) => [d.Name, d.Kind, numberCell(d.QueuedJobs),
        numberCell(d.OldestJobAgeSeconds), numberCell(d.WaitingForTurn), numberCell(d.InFlight),
        numberCell(d.RateLimitPerSecond),
        el('td', { className: d.PausedUntil ? 'paused' : '' }, shown(d.PausedUntil))]),
      'No destinations.'),
      el('p', { className: 'muted' }, `Refreshed every ${REFRESH_MS / 1000} seconds; last at ${new Date().toLocaleTimeString()}.`));
    clear(target);
    target.appendChild(content);
  };
  await render();
  if (!target.isConnected) return;
  const timer = setInterval(() => {
    if (!target.isConnected) {
      clearInterval(timer);
      return;
    }
    if (document.hidden) return; // a tab in the background asks the server nothing
    render().catch((error) => {
      if (!(error instanceof SignInNeeded)) showBanner(String(error.message));
    });
  }, REFRESH_MS);
  consoleState.refreshTimer = timer;
}

// ---- dead letters -----------------------------------------------------------------------------

function filterInput(id, label, value) {
  const input = el('input', { id });
  input.name = id;
  input.value = value || '';
  const labelNode = el('label', {}, label);
  labelNode.htmlFor = id;
  return el('div', {}, labelNode, input);
}

function hashQuery() {
  const hash = location.hash;
  const question = hash.indexOf('?');
  return new URLSearchParams(question < 0 ? '' : hash.slice(question + 1));
}

function deadLetterFilter() {
  const query = hashQuery();
  return { rule: query.get('rule') || '', target: query.get('target') || '', error_code: query.get('error_code') || '' };
}

async function deadLettersPage(target) {
  const filter = deadLetterFilter();
  const form = el('form', { className: 'inline', id: 'dead-letter-filter' },
    filterInput('filter-rule', 'Rule', filter.rule),
    filterInput('filter-target', 'Target', filter.target),
    filterInput('filter-error-code', 'Error code', filter.error_code),
    el('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [name, id] of [['rule', 'filter-rule'], ['target', 'filter-target'], ['error_code', 'filter-error-code']]) {
      const value = document.getElementById(id).value.trim();
      if (value) query.set(name, value);
    }
    consoleState.deadLetterPages = [];
    const text = query.toString();
    location.hash = text ? `#/dead-letters?${text}` : '#/dead-letters';
  });
  const results = el('div', { id: 'dead-letter-results' });
  const outcome = el('div', { id: 'bulk-outcome', role: 'status' });
  target.append(el('h1', {}, 'Dead letters'), form, outcome, results);

  const selection = { All: true };
  if (filter.rule) selection.Rule = filter.rule;
  if (filter.target) selection.Target = filter.target;
  if (filter.error_code) selection.ErrorCode = filter.error_code;

  const load = async (token) => {
    const query = new URLSearchParams(filter);
    for (const [name, value] of [...query.entries()]) if (!value) query.delete(name);
    query.set('limit', '50');
    if (token) query.set('next_token', token);
    const answer = await api('GET', `/dead-letters?${query}`);
    clear(results);
    results.appendChild(table(['Id', 'Dead-lettered', 'Rule', 'Target', 'Error code', 'HTTP', 'Attempts', 'Error'],
      answer.DeadLetters.map((letter) => [
        el('td', {}, link(String(letter.Id), `#/dead-letters/${encodeURIComponent(letter.Id)}`)),
        letter.DeadLetteredAt, letter.Rule, letter.Target, letter.ErrorCode, numberCell(letter.HttpStatus),
        numberCell(letter.Attempts), wrapCell(letter.ErrorMessage)]),
      'No dead letters match.'));
    const paging = el('div', { className: 'actions' });
    if (consoleState.deadLetterPages.length > 0) {
      const first = el('button', { type: 'button', className: 'secondary' }, 'First page');
      first.addEventListener('click', () => {
        consoleState.deadLetterPages = [];
        load('').catch(reportError);
      });
      paging.appendChild(first);
    }
    if (answer.NextToken) {
      const next = el('button', { type: 'button', className: 'secondary', id: 'next-page' }, 'Next page');
      next.addEventListener('click', () => {
        consoleState.deadLetterPages.push(token);
        load(answer.NextToken).catch(reportError);
      });
      paging.appendChild(next);
    }
    if (answer.DeadLetters.length > 0) {
      paging.appendChild(actionButton('Redrive all matching', 'secondary', 'redrive-all',
        'Redrive every dead letter matching this filter, rendered again with the targets in force?',
        () => api('POST', '/dead-letters/redrive', selection), outcome, () => load('')));
      paging.appendChild(actionButton('Purge all matching', 'danger', 'purge-all',
        'Delete every dead letter matching this filter? This cannot be undone.',
        () => api('POST', '/dead-letters/purge', selection), outcome, () => load('')));
    }
    results.appendChild(paging);
  };
  await load('');
}

function reportError(error) {
  if (!(error instanceof SignInNeeded)) showBanner(String(error.message));
}

// What a redrive or purge answered, in words.
function describeOutcome(answer) {
  const lines = [];
  if (typeof answer.Redriven === 'number') {
    lines.push(`Redriven: ${answer.Redriven}.`);
    if (answer.FailedCount > 0) lines.push(`Not redriven: ${answer.FailedCount}.`);
    for (const failure of answer.Failed || []) lines.push(`Dead letter ${failure.Id}: ${failure.Reason}`);
  }
  if (typeof answer.Purged === 'number') lines.push(`Purged: ${answer.Purged}.`);
  return lines;
}

// A button that asks first, calls the API, then shows what it answered in `outcome`.
function actionButton(label, className, id, question, call, outcome, after) {
  const button = el('button', { type: 'button', className, id }, label);
  button.addEventListener('click', async () => {
    if (!window.confirm(question)) return;
    button.disabled = true;
    try {
      const answer = await call();
      clear(outcome);
      const box = el('div', { className: answer.FailedCount > 0 ? 'notice error' : 'notice' });
      for (const line of describeOutcome(answer)) box.appendChild(el('div', {}, line));
      outcome.appendChild(box);
      if (after) await after(answer);
    } catch (error) {
      reportError(error);
    } finally {
      button.disabled = button.dataset.done === 'true';
    }
  });
  return button;
}

async function deadLetterPage(target, id) {
  const letter = await api('GET', `/dead-letters/${encodeURIComponent(id)}`);
  const outcome = el('div', { id: 'letter-outcome', role: 'status' });
  const fields = el('dl', { className: 'fields' });
  field(fields, 'Rule', letter.Rule);
  field(fields, 'Target', letter.Target);
  field(fields, 'Bus', letter.EventBusName);
  field(fields, 'Event id', letter.EventId);
  field(fields, 'Error code', letter.ErrorCode);
  field(fields, 'HTTP status', letter.HttpStatus);
  field(fields, 'Attempts', letter.Attempts);
  field(fields, 'Retry condition exhausted', letter.ExhaustedRetryCondition);
  field(fields, 'Ingested', letter.IngestedAt);
  field(fields, 'Dead-lettered', letter.DeadLetteredAt);
  let actions = null;
  const finished = (answer) => {
    if (answer.Redriven > 0 || answer.Purged > 0) {
      // The letter has left the queue: nothing more to do with it here.
      for (const button of actions.querySelectorAll('button')) {
        button.dataset.done = 'true';
        button.disabled = true;
      }
    }
    outcome.appendChild(el('p', {}, link('Back to dead letters', '#/dead-letters'), ' · ',
      link('Recent deliveries', '#/deliveries')));
  };
  actions = el('div', { className: 'actions' },
    actionButton('Redrive', '', 'redrive',
      `Redrive dead letter ${letter.Id}, rendered again from its event with the target in force?`,
      () => api('POST', '/dead-letters/redrive', { Ids: [letter.Id] }), outcome, finished),
    actionButton('Redrive as recorded', 'secondary', 'redrive-as-recorded',
      `Resend dead letter ${letter.Id}'s body exactly as recorded?`,
      () => api('POST', '/dead-letters/redrive', { Ids: [letter.Id], AsRecorded: true }), outcome, finished),
    actionButton('Purge', 'danger', 'purge', `Delete dead letter ${letter.Id}? This cannot be undone.`,
      () => api('POST', '/dead-letters/purge', { Ids: [letter.Id] }), outcome, finished));
  target.append(
    el('p', {}, link('← Dead letters', '#/dead-letters')),
    el('h1', {}, `Dead letter ${letter.Id}`),
    actions, outcome, fields,
    el('h2', {}, 'Error'),
    el('pre', { id: 'letter-error' }, shown(letter.ErrorMessage)),
    el('h2', {}, 'Response excerpt'),
    el('pre', { id: 'letter-response' }, shown(letter.ResponseExcerpt)),
    el('h2', {}, 'Event'),
    el('pre', { id: 'letter-event' }, letter.Event === null ? 'The original event was not kept.' : pretty(letter.Event)),
    el('h2', {}, 'Body'),
    el('pre', { id: 'letter-body' }, prettyText(letter.Body)),
    el('h2', {}, 'Headers'),
    el('pre', { id: 'letter-headers' }, pretty(letter.Headers)),
    el('h2', {}, 'Request (secrets masked)'),
    el('pre', { id: 'letter-request' }, letter.Request === null ? 'No request was recorded.' : pretty(letter.Request)));
}

// ---- deliveries -------------------------------------------------------------------------------

async function deliveriesPage(target) {
  const results = el('div', { id: 'delivery-results' });
  const refresh = el('button', { type: 'button', className: 'secondary', id: 'refresh-deliveries' }, 'Refresh');
  target.append(el('h1', {}, 'Recent deliveries'), el('div', { className: 'actions' }, refresh), results);
  const load = async (token) => {
    const query = new URLSearchParams({ limit: '50' });
    if (token) query.set('next_token', token);
    const answer = await api('GET', `/deliveries?${query}`);
    clear(results);
    results.appendChild(table(['Time', 'Rule', 'Target', 'Destination', 'Event id', 'Attempt', 'HTTP',
      'Latency (ms)', 'Outcome', 'Error'],
    answer.Deliveries.map((d) => [d.Time, d.Rule, d.Target, d.Destination, d.EventId, numberCell(d.Attempt),
      numberCell(d.HttpStatus), numberCell(d.LatencyMs),
      el('td', { className: `outcome outcome-${String(d.Outcome).replace(/[^a-z-]/g, '')}` }, d.Outcome),
      wrapCell(d.Error)]),
    'No deliveries yet.'));
    const paging = el('div', { className: 'actions' });
    if (consoleState.deliveryPages.length > 0) {
      const first = el('button', { type: 'button', className: 'secondary' }, 'First page');
      first.addEventListener('click', () => {
        consoleState.deliveryPages = [];
        load('').catch(reportError);
      });
      paging.appendChild(first);
    }
    if (answer.NextToken) {
      const next = el('button', { type: 'button', className: 'secondary' }, 'Older');
      next.addEventListener('click', () => {
        consoleState.deliveryPages.push(token);
        load(answer.NextToken).catch(reportError);
      });
      paging.appendChild(next);
    }
    results.appendChild(paging);
  };
  refresh.addEventListener('click', () => {
    consoleState.deliveryPages = [];
    load('').catch(reportError);
  });
  consoleState.deliveryPages = [];
  await load('');
}

// ---- tickets ----------------------------------------------------------------------------------

async function ticketsPage(target) {
  const answer = await api('GET', '/tickets?limit=500');
  const rows = answer.Tickets.map((ticket) => {
    if (ticket.Unreadable !== undefined) {
      return [wrapCell(ticket.LedgerKey), '', el('td', { className: 'error' }, `unreadable: ${ticket.Unreadable}`), '', '', '', ''];
    }
    const url = safeUrl(ticket.IssueUrl);
    const issue = ticket.IssueKey === null
      ? el('td', { className: 'muted' }, ticket.CreationPending ? 'being created' : 'none')
      : el('td', {}, url ? link(ticket.IssueKey, url, true) : ticket.IssueKey);
    return [wrapCell(ticket.FindingId), issue, ticket.Ticket + (ticket.DryRun ? ' (dry run)' : ''),
      ticket.Severity, ticket.Workflow, ticket.RecordState, ticket.UpdatedAt];
  });
  target.append(el('h1', {}, 'Tickets'),
    el('p', { className: 'muted' }, 'One Backlog issue per Security Hub finding, from the ticket ledger.'),
    table(['Finding', 'Issue', 'State', 'Severity', 'Workflow', 'Record', 'Updated'], rows, 'No tickets yet.'));
  if (answer.NextToken) target.appendChild(el('p', { className: 'muted' }, 'Only the first 500 are shown.'));
}

// ---- rule tester ------------------------------------------------------------------------------

function testerPage(target) {
  const bus = el('input', { id: 'tester-bus' });
  bus.value = 'default';
  const busLabel = el('label', {}, 'Event bus');
  busLabel.htmlFor = 'tester-bus';
  const event = el('textarea', { id: 'tester-event' });
  event.spellcheck = false;
  event.placeholder = '{"source": "aws.securityhub", "detail-type": "...", "detail": {...}, ...}';
  const eventLabel = el('label', {}, 'Event (the whole envelope, as a rule sees it)');
  eventLabel.htmlFor = 'tester-event';
  const results = el('div', { id: 'tester-results' });
  const form = el('form', { id: 'tester-form' }, el('div', {}, busLabel, bus), eventLabel, event,
    el('div', { className: 'actions' }, el('button', { type: 'submit', id: 'tester-run' }, 'Test')));
  form.addEventListener('submit', async (submitted) => {
    submitted.preventDefault();
    clear(results);
    try {
      const answer = await api('POST', `/test-event?bus=${encodeURIComponent(bus.value.trim() || 'default')}`, event.value);
      showTestResults(results, answer);
    } catch (error) {
      if (!(error instanceof SignInNeeded)) results.appendChild(el('p', { className: 'error', id: 'tester-error' }, error.message));
    }
  });
  target.append(el('h1', {}, 'Rule tester'),
    el('p', { className: 'muted' }, 'Which rules an event matches, why the others do not, and the body each matched target would receive. Nothing is sent.'),
    form, results);
}

function showTestResults(results, answer) {
  if (answer.Rules.length === 0) {
    results.appendChild(el('p', { className: 'muted' }, `No rules on bus ${answer.EventBusName}.`));
    return;
  }
  const matched = answer.Rules.filter((rule) => rule.Matched).length;
  results.appendChild(el('h2', {}, `${matched} of ${answer.Rules.length} rules match`));
  for (const rule of answer.Rules) {
    const box = el('div', { className: 'rule-result', dataset: { rule: rule.Name } },
      el('h3', {}, rule.Name, ' ', el('span', { className: rule.Matched ? 'matched' : 'not-matched' },
        rule.Matched ? 'matches' : 'does not match'),
      rule.State === 'DISABLED' ? el('span', { className: 'muted' }, ' (disabled: delivers nothing)') : null));
    if (!rule.Matched) box.appendChild(el('p', { className: 'reason' }, rule.Reason));
    for (const t of rule.Targets) {
      box.appendChild(el('div', { className: 'muted' }, `Target ${t.Id} (${t.Kind})`));
      if (t.Error) box.appendChild(el('p', { className: 'error' }, t.Error));
      for (const body of t.Bodies) box.appendChild(el('pre', { className: 'rendered-body' }, prettyText(body)));
    }
    results.appendChild(box);
  }
}

// ---- start ------------------------------------------------------------------------------------

async function start() {
  document.getElementById('sign-in-form').addEventListener('submit', signIn);
  document.getElementById('sign-out').addEventListener('click', () => signOut('Signed out.'));
  window.addEventListener('hashchange', route);
  try {
    const response = await fetch('/console/config.json', { cache: 'no-store', credentials: 'omit' });
    const config = await response.json();
    consoleState.keyHeader = typeof config.AdminKeyHeader === 'string' ? config.AdminKeyHeader : null;
  } catch (error) {
    showBanner(`The console could not read its settings: ${error.message}`);
    return;
  }
  if (!location.hash || location.hash === '#' || location.hash === '#/') {
    history.replaceState(null, '', '#/overview');
  }
  route();
}

document.addEventListener('DOMContentLoaded', start);
