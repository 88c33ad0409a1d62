// Console pages requested in process (app.request) with a signed-in session, and the links a
// rendered page carries: for the console's page and filter tests.
import type { TestAdminApp } from './admin-app.js';
import { ADMIN_TOKEN } from './broker.js';

export interface ConsoleClient {
  get(path: string): Promise<{ status: number; body: string }>;
}

/** Signs in to `t`'s console with the bootstrap token; `get` then sends the session cookie. */
export async function signedInConsole(
  t: Pick<TestAdminApp, 'app'>,
  origin = 'http://render',
): Promise<ConsoleClient> {
  const login = await t.app.request(`${origin}/console/login`, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
    body: `token=${ADMIN_TOKEN}`,
  });
  if (login.status !== 303) throw new Error(`console sign-in answered ${login.status}`);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  return {
    async get(path) {
      const response = await t.app.request(`${origin}${path}`, { headers: { cookie } });
      return { status: response.status, body: await response.text() };
    },
  };
}

/** The address of the page's link with `data-testid="<testid>"` (HTML-unescaped), if there is one. */
export function linkOf(body: string, testid: string): string | undefined {
  return new RegExp(`<a href="([^"]+)" data-testid="${testid}"`)
    .exec(body)?.[1]
    ?.replaceAll('&amp;', '&');
}
