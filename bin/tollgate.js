#!/usr/bin/env node
// Runs the TypeScript CLI in this process through tsx's loader, so `npx tollgate …` needs no build
// step and signals (SIGTERM from an orchestrator) reach the server directly.
import { register } from 'tsx/esm/api';

register();
await import(new URL('../packages/server/src/cli.ts', import.meta.url).href);
