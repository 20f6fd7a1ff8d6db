#!/usr/bin/env node
// Installs the npm dependencies when they are missing or older than package-lock.json.
// onnxruntime-node's CUDA files come from outside: its download step is skipped unless
// the environment already says otherwise (set ONNXRUNTIME_NODE_INSTALL=cuda12 where CUDA is installed).
import { existsSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const marker = path.join(root, 'node_modules', '.package-lock.json');
const lock = path.join(root, 'package-lock.json');
const fresh = existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs;
if (!fresh) {
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: process.env.ONNXRUNTIME_NODE_INSTALL ?? 'skip' };
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, env, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('cleanplate: npm ci failed; see the output above');
    process.exit(r.status ?? 1);
  }
}
