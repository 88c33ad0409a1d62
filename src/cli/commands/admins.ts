// `fedbroker admin add|list|remove|rotate`: named administrators (issue 19). A personal token is
// printed once, by `add` and `rotate`; the broker keeps only its hash.
import type {
  AdminJson,
  AdminListResponse,
  AdminWithTokenResponse,
  RemovedAdminResponse,
} from '../../api/index.js';
import { CliError } from '../../errors.js';
import { flag, optionalString, parseCommandArgs, requirePositional } from '../args.js';
import type { CommandSpec } from '../io.js';
import { printJson, printTable } from '../output.js';
import { CONFIG_OPTION, connect } from './common.js';

const when = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString());

function printToken(io: Parameters<CommandSpec['run']>[1], admin: AdminJson, token: string): void {
  io.stdout(`admin ${admin.name} (${admin.role}): personal token, shown once:\n${token}\n`);
}

export const adminCommands: CommandSpec[] = [
  {
    words: ['admin', 'add'],
    usage: 'fedbroker admin add NAME [--role admin|viewer] [--config FILE] [--json]',
    summary: 'add a named admin and print their personal token once (viewer: reads only)',
    flags: { role: 'admin (changes everything) or viewer (reads only); default admin' },
    example: 'fedbroker admin add alice --role viewer --config /etc/fedbroker/broker.yaml',
    async run(argv, io) {
      const args = parseCommandArgs(argv, { ...CONFIG_OPTION, role: { type: 'string' } }, 1);
      const name = requirePositional(args, 0, 'NAME');
      const role = optionalString(args, 'role') ?? 'admin';
      if (role !== 'admin' && role !== 'viewer') {
        throw new CliError('ERR_CLI_USAGE', '--role is admin or viewer');
      }
      const result = await connect(args, io).request<AdminWithTokenResponse>(
        'POST',
        '/v1/admin/admins',
        { name, role },
      );
      if (flag(args, 'json')) return (printJson(io, result), 0);
      printToken(io, result.admin, result.token);
      return 0;
    },
  },
  {
    words: ['admin', 'list'],
    usage: 'fedbroker admin list [--config FILE] [--json]',
    summary: 'named admins with role and who added them (never their tokens)',
    flags: {},
    example: 'fedbroker admin list --config /etc/fedbroker/broker.yaml',
    async run(argv, io) {
      const args = parseCommandArgs(argv, CONFIG_OPTION);
      const result = await connect(args, io).request<AdminListResponse>('GET', '/v1/admin/admins');
      if (flag(args, 'json')) return (printJson(io, result), 0);
      printTable(
        io,
        ['name', 'role', 'created', 'by', 'rotated'],
        result.admins.map((a) => [
          a.name,
          a.role,
          when(a.createdAtMs),
          a.createdBy,
          when(a.rotatedAtMs),
        ]),
      );
      return 0;
    },
  },
  {
    words: ['admin', 'remove'],
    usage: 'fedbroker admin remove NAME [--config FILE] [--json]',
    summary: 'remove a named admin: their token and console sessions stop at once',
    flags: {},
    example: 'fedbroker admin remove alice --config /etc/fedbroker/broker.yaml',
    async run(argv, io) {
      const args = parseCommandArgs(argv, CONFIG_OPTION, 1);
      const name = requirePositional(args, 0, 'NAME');
      const result = await connect(args, io).request<RemovedAdminResponse>(
        'DELETE',
        `/v1/admin/admins/${encodeURIComponent(name)}`,
      );
      if (flag(args, 'json')) return (printJson(io, result), 0);
      io.stdout(
        `admin ${result.removed} removed (${result.sessionsEnded} console sessions ended)\n`,
      );
      return 0;
    },
  },
  {
    words: ['admin', 'rotate'],
    usage: 'fedbroker admin rotate NAME [--config FILE] [--json]',
    summary: 'a new personal token for NAME, printed once; the old one stops at once',
    flags: {},
    example: 'fedbroker admin rotate alice --config /etc/fedbroker/broker.yaml',
    async run(argv, io) {
      const args = parseCommandArgs(argv, CONFIG_OPTION, 1);
      const name = requirePositional(args, 0, 'NAME');
      const result = await connect(args, io).request<AdminWithTokenResponse>(
        'POST',
        `/v1/admin/admins/${encodeURIComponent(name)}/rotate`,
      );
      if (flag(args, 'json')) return (printJson(io, result), 0);
      printToken(io, result.admin, result.token);
      return 0;
    },
  },
];
