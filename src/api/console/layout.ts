// The console's page frame, stylesheet, one small script and security headers: every page is
// server-rendered (interpolations escaped) and works without script; assets served by the broker.
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { Context } from 'hono';
import type { Principal } from '../../access/index.js';

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** Script and style from this origin only (no inline ones, no third party); forms post here only. */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * The console's only script (served at /console/assets/console.js): copy buttons. A button with
 * `data-copy-from="ID"` starts `hidden` (without script the field is selectable by hand); here it
 * is shown, and a click copies the field's value and marks the button `data-copied="1"`.
 */
export const CONSOLE_JS = `'use strict';
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('button[data-copy-from]').forEach(function (button) {
    var field = document.getElementById(button.getAttribute('data-copy-from'));
    if (!field) return;
    button.hidden = false;
    button.addEventListener('click', function (event) {
      event.preventDefault();
      var done = function () {
        button.setAttribute('data-copied', '1');
        button.textContent = 'Copied';
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () {
          field.select();
        });
      } else {
        field.select();
        if (document.execCommand('copy')) done();
      }
    });
  });
});
`;

export const CONSOLE_CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2430;color:#fff;padding:.5rem 1rem;display:flex;gap:1rem;align-items:center}
header a{color:#cfe0ff;text-decoration:none}header .me{margin-left:auto}
main{padding:1rem;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff;margin:.5rem 0 1rem}
th,td{border-bottom:1px solid #e3e6ea;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f4}
.state-active{color:#176b2c}.state-pending{color:#8a5a00}.state-rejected,.state-suspended{color:#a01616}
.box{background:#fff;border:1px solid #e3e6ea;padding:.75rem;margin:.5rem 0}
.error{background:#fde8e8;border:1px solid #e0a0a0;padding:.5rem}
form.inline{display:inline}
code{word-break:break-all}
input[type=text],input[type=password],input:not([type]){width:18rem}
.muted{color:#667}
`;

export function securityHeaders(tls: boolean): Record<string, string> {
  return {
    'content-security-policy': CONSOLE_CSP,
    'x-content-type-options': 'nosniff',
    // Not no-referrer: under it Chromium sends `Origin: null` on form posts, which the Origin check refuses.
    'referrer-policy': 'same-origin',
    'cache-control': 'no-store',
    'x-frame-options': 'DENY',
    ...(tls ? { 'strict-transport-security': 'max-age=31536000' } : {}),
  };
}

const NAV: readonly (readonly [string, string])[] = [
  ['/console/', 'Overview'],
  ['/console/federation', 'Federation'],
  ['/console/agents', 'Agents'],
  ['/console/authorities', 'Authorities'],
  ['/console/audit', 'Audit'],
];

export function page(
  title: string,
  body: Html,
  session?: { readonly principal: Principal; readonly csrf: string },
): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>${title} · fedbroker console</title>
        <link rel="stylesheet" href="/console/assets/console.css" />
        <script src="/console/assets/console.js" defer></script>
      </head>
      <body>
        <header>
          <strong>fedbroker</strong>
          ${session === undefined ? '' : NAV.map(([href, label]) => html`<a href="${href}">${label}</a>`)}
          ${
            session === undefined
              ? ''
              : html`<span class="me" data-testid="whoami"
                    >${session.principal.name} (${session.principal.role})</span
                  >
                  <form class="inline" method="post" action="/console/logout">
                    <input type="hidden" name="csrf" value="${session.csrf}" /><button
                      data-testid="sign-out"
                    >
                      Sign out
                    </button>
                  </form>`
          }
        </header>
        <main>
          <h1>${title}</h1>
          ${body}
        </main>
      </body>
    </html>`;
}

/** Escapes text for an HTML body or a double-quoted attribute (& < > " ' all replaced). */
export function esc(value: string | number | bigint): string {
  const text = String(value);
  return /[&<>"']/.test(text)
    ? text
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')
        .replace(/"/g, '&quot;')
        .replace(/'/g, '&#39;')
    : text;
}

export interface ActionOptions {
  readonly testId: string;
  readonly reason?: boolean;
  readonly reasonRequired?: boolean;
}

/** A form posting one console action, as an escaped string (the rows of long tables use it). */
export function actionFormText(
  action: string,
  csrf: string,
  label: string,
  options: ActionOptions = { testId: '' },
): string {
  const reason =
    options.reason === true
      ? `<input type="text" name="reason" data-testid="reason" placeholder="reason" maxlength="500"${options.reasonRequired === true ? ' required' : ''}>`
      : '';
  return `<form class="inline" method="post" action="${esc(action)}"><input type="hidden" name="csrf" value="${esc(csrf)}">${reason}<button data-testid="${esc(options.testId)}">${esc(label)}</button></form>`;
}

/** A form posting one console action, with the session's CSRF token. */
export function actionForm(
  action: string,
  csrf: string,
  label: string,
  options: ActionOptions = { testId: '' },
): Html {
  return raw(actionFormText(action, csrf, label, options));
}

export const iso = (ms: number | null | undefined): string =>
  ms === null || ms === undefined ? '-' : new Date(ms).toISOString().replace('.000Z', 'Z');

/** An HTML answer (the security headers are added by the console app's middleware). */
export function render(
  c: Context,
  body: Html,
  status: 200 | 400 | 401 | 403 | 404 | 409 | 429 | 500 | 502 | 503 = 200,
): Promise<Response> | Response {
  return c.html(body, status);
}
