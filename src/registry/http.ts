/**
 * The two parts of undici the registry client uses, `Agent` and `request`, loaded from undici's own modules.
 * undici's index loads all of it (fetch, WebSocket, caches, mocks, proxies: ~110 modules): about 100 ms more
 * compile per process that talks to a registry (measured: require('undici') 144-176 ms of CPU, these two
 * 48-52 ms), paid by every build that pulls, pushes or imports a cache. `request` is undici's, called the way
 * its index calls it: on `opts.dispatcher`, else on undici's global dispatcher.
 */
import type { Dispatcher } from 'undici';
import AgentClass from 'undici/lib/dispatcher/agent.js';
import apiRequest from 'undici/lib/api/api-request.js';
import undiciGlobal from 'undici/lib/global.js';

export const Agent = AgentClass;

export type RequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & { method?: Dispatcher.HttpMethod; dispatcher?: Dispatcher };

/** undici's `request(url, opts)`: `url` absolute (its path and query are the request's). */
export function request(url: string | URL, opts: RequestOptions = {}): Promise<Dispatcher.ResponseData> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const dispatcher = opts.dispatcher ?? undiciGlobal.getGlobalDispatcher();
  return apiRequest.call(dispatcher, { ...opts, origin: u.origin, path: u.search ? `${u.pathname}${u.search}` : u.pathname, method: opts.method ?? (opts.body ? 'PUT' : 'GET') });
}
