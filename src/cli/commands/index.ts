// The command table of `fedbroker`.
import type { CommandSpec } from '../io.js';
import { initCommand } from './init.js';

export const COMMANDS: readonly CommandSpec[] = [initCommand];
