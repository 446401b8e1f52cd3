/**
 * Browser origins. Without authentication (dev) every caller acts as a service, so only pages
 * served from this machine may reach the API from a browser: CORS keeps other sites from reading
 * answers, and the server refuses their requests and WebSocket upgrades outright (a form POST or
 * a socket needs no CORS to have its effect).
 */

/** Whether a browser origin is a page served from this machine (http(s)://localhost, 127.x, [::1]). */
export function isLoopbackOrigin(origin: string): boolean {
  try {
    const host = new URL(origin).hostname.replace(/^\[(.*)\]$/, '$1');
    return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
  } catch {
    return false;
  }
}

/** Whether a request with this Origin header may act: always with authentication on; without it, only same-machine pages (or no browser at all). */
export const originAllowed = (authMode: string, origin: string | undefined): boolean =>
  authMode !== 'dev' || origin === undefined || isLoopbackOrigin(origin);
