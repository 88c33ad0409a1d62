// The command table of `fedbroker`.
import type { CommandSpec } from '../io.js';
import { initCommand } from './init.js';
import { bundleInspectCommand, jwtValidateCommand, svidVerifyCommand } from './offline.js';

export const COMMANDS: readonly CommandSpec[] = [
  initCommand,
  bundleInspectCommand,
  svidVerifyCommand,
  jwtValidateCommand,
];
