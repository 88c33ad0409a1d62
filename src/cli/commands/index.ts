// The command table of `fedbroker`.
import type { CommandSpec } from '../io.js';
import {
  auditCommands,
  bundleHistoryCommand,
  bundleListCommand,
  bundleShowCommand,
  federationCommands,
  inviteCommands,
  jwtMintCommand,
  localAuthorityCommand,
  x509MintCommand,
} from './admin.js';
import { adminCommands } from './admins.js';
import { agentRunCommand } from './agent.js';
import { agentServeCommand } from './agent-serve.js';
import { initCommand } from './init.js';
import { registrationCommands } from './registration.js';
import { bundleInspectCommand, jwtValidateCommand, svidVerifyCommand } from './offline.js';
import { serveCommand, startCommand } from './serve.js';

export const COMMANDS: readonly CommandSpec[] = [
  initCommand,
  serveCommand,
  startCommand,
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
