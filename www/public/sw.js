// The demo's service worker: keeps the app shell (the page, its scripts, styles and the wasm)
// so that a reload while offline, or while the relay is down, still starts the app. The app then
// opens its documents from the IndexedDB cache and reconnects on its own.
//
// Network first (a new build is picked up as soon as the relay is reachable), the cache when the
// network fails. Navigations fall back to the cached page whatever their query (`?doc=...`).
const CACHE = 'tandem-demo-v1';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

// The page sends what it loaded before this worker controlled it.
self.addEventListener('message', (event) => {
  const urls = event.data?.cache;
  if (!Array.isArray(urls)) return;
  event.waitUntil(
    caches.open(CACHE).then((cache) =>
      Promise.all(urls.filter(sameOrigin).map((url) => fetch(url).then((r) => r.ok && cache.put(url, r)).catch(() => {}))),
    ),
  );
});

function sameOrigin(url) {
  const u = new URL(url, self.location.href);
  return u.origin === self.location.origin && !u.pathname.startsWith('/ws') && !u.pathname.startsWith('/admin');
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || !sameOrigin(request.url)) return;
  const navigation = request.mode === 'navigate';
  const key = navigation ? new URL('/', self.location.href).href : request.url;
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          event.waitUntil(caches.open(CACHE).then((cache) => cache.put(key, copy)));
        }
        return response;
      })
      .catch(async () => (await caches.match(key)) ?? Response.error()),
  );
});
