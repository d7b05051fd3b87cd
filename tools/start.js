#!/usr/bin/env node
// `npm start`: check NATS and PostgreSQL (start them where installed), then run the platform.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const infra = spawnSync('bash', [path.join(__dirname, 'ensure-infra.sh')], { stdio: 'inherit' });
if (infra.status !== 0) process.exit(infra.status ?? 1);
require('./register-paths');
require('../dist/tools/start/main.js');
