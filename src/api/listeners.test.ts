// Listener helpers without sockets: an OS refusal to bind becomes ERR_CONFIG_LISTEN naming the
// listener, its config key and the init flag to change; listen addresses and the local URL.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { bindListener, LISTENERS, localUrl, splitListen } from './listeners.js';

function refusal(code: string | undefined, message = 'refused'): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

describe('bindListener', () => {
  it.each([
    ['EADDRINUSE', 'address in use', 'init --agent-port'],
    ['EADDRNOTAVAIL', 'no such address on this host', 'init --listen-host'],
    ['EACCES', 'permission denied (ports below 1024 need privileges)', 'init --agent-port'],
    [
      'ENOTFOUND',
      'host name does not resolve (listen takes a local address; put public names in the url key)',
      'init --listen-host',
    ],
    [
      'EAI_AGAIN',
      'host name does not resolve (listen takes a local address; put public names in the url key)',
      'init --agent-port',
    ],
    ['EMFILE', 'EMFILE', 'init --agent-port'],
    [undefined, 'refused', 'init --agent-port'],
  ])('%s becomes ERR_CONFIG_LISTEN: %s (%s)', async (code, what, flag) => {
    const error: unknown = await bindListener(LISTENERS.agent, '127.0.0.1:8444', () =>
      Promise.reject(refusal(code)),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('ERR_CONFIG_LISTEN');
    expect((error as ConfigError).message).toBe(
      `agent API cannot listen on 127.0.0.1:8444: ${what} (agentApi.listen, ${flag})`,
    );
    expect((error as ConfigError).context).toEqual({
      listener: 'agent API',
      key: 'agentApi.listen',
      listen: '127.0.0.1:8444',
    });
  });

  it('resolves with what bind() resolves', async () => {
    await expect(bindListener(LISTENERS.admin, '127.0.0.1:0', async () => 7)).resolves.toBe(7);
  });
});

describe('splitListen and localUrl', () => {
  it.each([
    ['127.0.0.1:8443', '127.0.0.1', 8443, 'https://127.0.0.1:8443'],
    ['0.0.0.0:0', '0.0.0.0', 0, 'https://127.0.0.1:0'],
    ['[::]:8444', '::', 8444, 'https://[::1]:8444'],
    ['[::1]:8445', '::1', 8445, 'https://[::1]:8445'],
    ['broker.example:443', 'broker.example', 443, 'https://broker.example:443'],
  ])('%s', (listen, host, port, url) => {
    expect(splitListen(listen)).toEqual({ host, port });
    expect(localUrl('https', host, port)).toBe(url);
  });
});
