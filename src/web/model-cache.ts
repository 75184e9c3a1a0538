// The model's files kept in the Cache API between visits (the default model is ~21 MB): each file is
// stored with its ETag / Last-Modified and revalidated on the next load with a conditional request, so an
// unchanged file costs a 304 and a changed one is fetched again. Offline, the stored copy is used. Where
// the Cache API is missing (plain http pages other than localhost), fetches go to the network as before.

const MODEL_CACHE = 'agegender-model-v1';

export type FetchLike = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

export function cachedFetch(enabled: boolean): FetchLike {
  if (!enabled || typeof caches === 'undefined') return (input, init) => fetch(input, init);
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const cache = await caches.open(MODEL_CACHE).catch(() => null);
    if (!cache) return fetch(input, init);
    const stored = await cache.match(url).catch(() => undefined);
    const headers = new Headers(init?.headers);
    const etag = stored?.headers.get('etag');
    const modified = stored?.headers.get('last-modified');
    if (etag) headers.set('if-none-match', etag);
    else if (modified) headers.set('if-modified-since', modified);
    let res: Response;
    try {
      // no-store: the HTTP cache stays out of it, the conditional request decides.
      res = await fetch(url, { ...init, headers, cache: 'no-store' });
    } catch (err) {
      if (stored) return stored;
      throw err;
    }
    if (res.status === 304 && stored) return stored;
    if (res.ok && (res.headers.get('etag') || res.headers.get('last-modified')))
      await cache.put(url, res.clone()).catch(() => undefined);
    return res;
  };
}
