// The command table of `fedbroker`: a new command is one entry here (with its flags and example).
import type { CommandSpec } from '../io.js';
import {
  auditCommands,
  bundleHistoryCommand,
  bundleListCommand,
  bundleShowCommand,
  jwtMintCommand,
  localAuthorityCommand,
  x509MintCommand,
} from './admin.js';
import { adminCommands } from './admins.js';
import { agentRunCommand } from './agent.js';
import { agentServeCommand } from './agent-serve.js';
import { federationCommands } from './federation.js';
import { inviteCommands } from './invite.js';
import { statusCommand } from './status.js';
import { initCommand } from './init.js';
import { registrationCommands } from './registration.js';
import { bundleInspectCommand, jwtValidateCommand, svidVerifyCommand } from './offline.js';
import { serveCommand, startCommand } from './serve.js';

export const COMMANDS: readonly CommandSpec[] = [
  initCommand,
  serveCommand,
  startCommand,
  statusCommand,
  bundleInspectCommand,
  svidVerifyCommand,
  jwtValidateCommand,
  bundleShowCommand,
  bundleListCommand,
  bundleHistoryCommand,
  x509MintCommand,
  jwtMintCommand,
  localAuthorityCommand,
  ...federationCommands,
  ...inviteCommands,
  ...auditCommands,
  ...registrationCommands,
  agentRunCommand,
  agentServeCommand,
  ...adminCommands,
];
