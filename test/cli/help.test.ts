// Issue 18 item 3: walks every command's help from the command table: `--help` at the top, per
// group and per command exits 0; every flag a usage line names has a one-line description; every
// command shows one example that starts with its own words; `--version` prints package.json's.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { flagHelp, usageFlags } from '../../src/cli/help.js';
import { cli } from '../helpers/cli.js';

const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;
const groups = [...new Set(COMMANDS.filter((c) => c.words.length > 1).map((c) => c.words[0]))];

describe('fedbroker help walk', () => {
  it('fedbroker --help lists every command and exits 0', async () => {
    const result = await cli(['--help']);
    expect(result.code).toBe(0);
    for (const spec of COMMANDS) expect(result.stdout).toContain(spec.usage);
  });

  it('fedbroker --version prints the package version', async () => {
    const result = await cli(['--version']);
    expect(result).toEqual({ code: 0, stdout: `fedbroker ${version}\n`, stderr: '' });
  });

  it.each(groups)('fedbroker %s --help lists its commands and exits 0', async (group) => {
    const result = await cli([group ?? '', '--help']);
    expect(result.code).toBe(0);
    for (const spec of COMMANDS.filter((c) => c.words[0] === group && c.words.length > 1)) {
      expect(result.stdout).toContain(`fedbroker ${spec.words.join(' ')}`);
    }
  });

  it.each(COMMANDS.map((spec) => [spec.words.join(' '), spec] as const))(
    'fedbroker %s --help: every flag described, one example, exit 0',
    async (_name, spec) => {
      const result = await cli([...spec.words, '--help']);
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
      expect(result.stdout).toContain(`usage: ${spec.usage}`);
      for (const flag of usageFlags(spec.usage)) {
        const help = flagHelp(spec, flag);
        expect(help, `--${flag} of ${spec.words.join(' ')}`).toMatch(/\S/);
        expect(help).not.toContain('\n');
        expect(result.stdout).toMatch(new RegExp(`^  --${flag} +\\S`, 'm'));
      }
      expect(spec.example.startsWith(`fedbroker ${spec.words.join(' ')}`)).toBe(true);
      expect(result.stdout).toContain(`example:\n  ${spec.example}\n`);
    },
  );

  it('audit list --help lists the event types', async () => {
    const result = await cli(['audit', 'list', '--help']);
    expect(result.stdout).toContain('authority.prepared');
    expect(result.stdout).toContain('relationship.updated');
  });

  it('a group without a command is a usage error (exit 2) that lists the group', async () => {
    const result = await cli(['federation']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('fedbroker federation update');
  });
});
