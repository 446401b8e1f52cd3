/**
 * The live-feed demo page at `/demo`: pick a user, see their feed with its reasons, press like /
 * skip / hide and watch the feed change through the `feedUpdated` subscription. Plain HTML and one
 * inline script; the graphql-ws browser client is served from node_modules, so the page works on
 * networks that cannot reach a CDN.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

let clientScript: Promise<Buffer> | undefined;

/** graphql-ws's own browser build (UMD, global `graphqlWs`), read once. */
export function graphqlWsBrowserClient(): Promise<Buffer> {
  clientScript ??= (async () => {
    // The package's exports map hides its umd/ folder; find the package root from its entry point.
    const entry = createRequire(import.meta.url).resolve('graphql-ws');
    const root = path.resolve(path.dirname(entry), '..');
    return readFile(path.join(root, 'umd', 'graphql-ws.min.js'));
  })();
  return clientScript;
}

const SAMPLE_CATEGORIES = ['pets', 'cars', 'food', 'sports', 'music'];

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>feedrec: live feed</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 52rem; padding: 1rem; color: #222; }
  h1 { font-size: 1.3rem; margin: 0 0 .5rem; }
  form, .bar { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; margin: .5rem 0; }
  input { padding: .3rem .4rem; }
  button { padding: .25rem .6rem; cursor: pointer; }
  #status { font-weight: 600; }
  #status[data-state="live"] { color: #137333; }
  #status[data-state="error"] { color: #b3261e; }
  ol { padding: 0; list-style: none; }
  li { display: grid; grid-template-columns: 2.2rem 1fr auto; gap: .5rem; padding: .5rem; border-bottom: 1px solid #eee; }
  li.entered { background: #eef7ee; transition: background 2s; }
  .rank { font-weight: 700; color: #666; }
  .cat { display: inline-block; font-size: .8rem; padding: 0 .4rem; border-radius: .6rem; background: #e8eaf6; margin-left: .4rem; }
  .reasons { color: #555; font-size: .85rem; }
  .actions button { margin-left: .2rem; }
  #log { font: 12px/1.4 ui-monospace, monospace; color: #555; white-space: pre-wrap; max-height: 10rem; overflow: auto; }
</style>
</head>
<body data-page-id="">
<h1>feedrec: live feed</h1>
<p>Your feed, pushed over a GraphQL subscription (<code>feedUpdated</code>, graphql-ws). Press like, skip or hide:
the interaction is recorded with a mutation, the stream worker updates the features, and the refreshed feed
arrives here by itself.</p>
<form id="connect">
  <label>user <input id="user" name="user" value="demo-user" size="14"></label>
  <label>token <input id="token" name="token" type="password" autocomplete="off" placeholder="JWT (not needed in dev mode)" size="28"></label>
  <button type="submit">Connect</button>
  <button type="button" id="seed" title="Upsert a small catalogue in ${SAMPLE_CATEGORIES.length} categories (needs a service caller, e.g. dev mode)">Load sample catalogue</button>
</form>
<div class="bar"><span id="status" data-state="idle">not connected</span><span id="latency"></span></div>
<ol id="feed"></ol>
<div id="log"></div>
<script src="/demo/graphql-ws.js"></script>
<script>
(() => {
  const $ = (id) => document.getElementById(id);
  document.body.dataset.pageId = String(Math.random()).slice(2);
  const params = new URLSearchParams(location.search);
  if (params.get('user')) $('user').value = params.get('user');
  // A token never travels in the URL (it would land in history, logs and Referer headers): it is
  // typed or pasted into the form and kept in this tab's sessionStorage only.
  $('token').value = sessionStorage.getItem('feedrec.token') || '';
  $('token').addEventListener('change', () => sessionStorage.setItem('feedrec.token', $('token').value.trim()));
  const endpoint = location.origin + '/graphql';
  const FEED = 'subscription Live($userId: ID, $first: Int) { feedUpdated(userId: $userId, first: $first) {' +
    ' trigger triggerDetail entered left feed { modelVersion computedAt items { rank score reasons item { id category } } } } }';
  const RECORD = 'mutation Record($input: InteractionInput!) { recordInteraction(input: $input) { eventId } }';
  let client, stop, lastActionAt = 0, pushes = 0;

  const log = (text) => {
    const line = new Date().toLocaleTimeString() + '  ' + text + '\\n';
    $('log').textContent = line + $('log').textContent.slice(0, 4000);
  };
  const status = (state, text) => { $('status').dataset.state = state; $('status').textContent = text; };
  const auth = () => {
    const token = $('token').value.trim();
    return token ? { authorization: 'Bearer ' + token } : {};
  };
  const userVar = () => $('user').value.trim() || undefined;

  async function post(query, variables) {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth() },
      body: JSON.stringify({ query, variables }),
    });
    const body = await res.json();
    if (body.errors) throw new Error(body.errors.map((e) => (e.extensions && e.extensions.code) + ': ' + e.message).join('; '));
    return body.data;
  }

  async function act(itemId, action) {
    lastActionAt = performance.now();
    try {
      await post(RECORD, { input: { userId: userVar(), itemId, action } });
      log(action + ' ' + itemId);
    } catch (error) {
      log('could not record ' + action + ' ' + itemId + ': ' + error.message);
    }
  }

  function render(update) {
    pushes++;
    document.body.dataset.pushes = String(pushes);
    const entered = new Set(update.entered);
    const list = $('feed');
    list.replaceChildren(...update.feed.items.map((e) => {
      const li = document.createElement('li');
      li.dataset.itemId = e.item.id;
      li.dataset.category = e.item.category || '';
      if (entered.has(e.item.id) && update.trigger !== 'subscribed') li.className = 'entered';
      const rank = document.createElement('span');
      rank.className = 'rank';
      rank.textContent = '#' + e.rank;
      const body = document.createElement('div');
      const title = document.createElement('strong');
      title.textContent = e.item.id;
      const cat = document.createElement('span');
      cat.className = 'cat';
      cat.textContent = e.item.category || 'uncategorised';
      const reasons = document.createElement('div');
      reasons.className = 'reasons';
      reasons.textContent = e.reasons.join(' · ') + '  (score ' + e.score.toFixed(3) + ')';
      body.append(title, cat, reasons);
      const actions = document.createElement('span');
      actions.className = 'actions';
      for (const [action, label] of [['LIKE', 'like'], ['SKIP', 'skip'], ['HIDE', 'hide']]) {
        const b = document.createElement('button');
        b.type = 'button';
        b.dataset.action = action;
        b.textContent = label;
        b.addEventListener('click', () => act(e.item.id, action));
        actions.append(b);
      }
      li.append(rank, body, actions);
      return li;
    }));
    // Only a push caused by behaviour answers the user's own action (not a model swap or a batch).
    if ((update.trigger === 'behaviour' || update.trigger === 'tag') && lastActionAt) {
      $('latency').textContent = 'refreshed ' + Math.round(performance.now() - lastActionAt) + ' ms after your last action';
    }
    log(update.trigger + (update.triggerDetail ? ' (' + update.triggerDetail + ')' : '') + ': ' + update.feed.items.length + ' items, entered [' + update.entered.join(', ') +
      '], left [' + update.left.join(', ') + ']');
  }

  function connect() {
    if (stop) stop();
    if (client) client.dispose();
    $('feed').replaceChildren();
    status('connecting', 'connecting…');
    client = graphqlWs.createClient({
      url: endpoint.replace(/^http/, 'ws'),
      connectionParams: auth,
      keepAlive: 10000,
      retryAttempts: 20,
      on: { connected: () => status('live', 'live'), closed: () => status('idle', 'disconnected') },
    });
    stop = client.subscribe({ query: FEED, variables: { userId: userVar(), first: 10 } }, {
      next: (result) => {
        if (result.errors) {
          status('error', result.errors.map((e) => (e.extensions && e.extensions.code) + ': ' + e.message).join('; '));
          return;
        }
        status('live', 'live');
        render(result.data.feedUpdated);
      },
      error: (error) => status('error', 'error: ' + (error.reason || error.message || String(error))),
      complete: () => status('idle', 'subscription ended'),
    });
  }

  async function seed() {
    const categories = ${JSON.stringify(SAMPLE_CATEGORIES)};
    const inputs = categories.flatMap((c) => Array.from({ length: 10 }, (_, i) => ({ id: c + '-' + i, category: c })));
    try {
      await post('mutation Seed($inputs: [ItemInput!]!) { upsertItems(inputs: $inputs) { items { id } } }', { inputs });
      const clicks = inputs.map((it, i) => ({ userId: 'demo-bg-' + (i % 4), itemId: it.id, action: 'CLICK' }));
      await post('mutation Bg($inputs: [InteractionInput!]!) { recordInteractions(inputs: $inputs) { acceptedCount } }', { inputs: clicks });
      log('sample catalogue loaded: ' + inputs.length + ' items; reconnect in a second to see it');
    } catch (error) {
      log('could not load the sample catalogue: ' + error.message);
    }
  }

  $('connect').addEventListener('submit', (event) => { event.preventDefault(); connect(); });
  $('seed').addEventListener('click', seed);
  connect();
})();
</script>
</body>
</html>
`;

/**
 * The page's HTML (no per-request content: the user is chosen in the page or with `?user=`; a token
 * only in the form, never from the URL).
 */
export function demoPage(): string {
  return page;
}
