// The client: with `vscode` and the language client replaced by stand-ins, activating the
// extension starts the configured server command over stdio for .flow documents, a
// configuration change restarts it, and a server that cannot start is reported.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const Module = require('node:module');
const path = require('node:path');

function load(settings, { failStart = false } = {}) {
  const started = [];
  const stopped = [];
  const errors = [];
  const commands = {};
  let onConfig;
  class LanguageClient {
    constructor(id, name, serverOptions, clientOptions) {
      Object.assign(this, { id, name, serverOptions, clientOptions });
    }
    async start() {
      if (failStart) throw new Error('spawn flowc ENOENT');
      started.push(this);
    }
    async stop() {
      stopped.push(this);
    }
  }
  const vscode = {
    workspace: {
      getConfiguration: () => ({ get: (key, dflt) => (key in settings ? settings[key] : dflt) }),
      createFileSystemWatcher: (glob) => ({ glob }),
      onDidChangeConfiguration: (fn) => ((onConfig = fn), { dispose() {} }),
    },
    window: { showErrorMessage: (msg) => errors.push(msg) },
    commands: { registerCommand: (name, fn) => ((commands[name] = fn), { dispose() {} }) },
  };
  const stubs = { vscode, 'vscode-languageclient/node': { LanguageClient, TransportKind: { stdio: 0 } } };
  const original = Module._load;
  Module._load = function (request, parent, isMain) {
    if (request in stubs) return stubs[request];
    return original.call(this, request, parent, isMain);
  };
  const file = path.join(__dirname, '..', 'extension.js');
  delete require.cache[require.resolve(file)];
  try {
    const ext = require(file);
    return { ext, started, stopped, errors, commands, config: () => onConfig };
  } finally {
    Module._load = original;
  }
}

test('starts the configured command for .flow files', async () => {
  const t = load({ 'server.command': ['/opt/venv/bin/flowc', 'lsp'] });
  const context = { subscriptions: [] };
  await t.ext.activate(context);
  assert.strictEqual(t.started.length, 1);
  const c = t.started[0];
  assert.deepStrictEqual([c.serverOptions.command, c.serverOptions.args], ['/opt/venv/bin/flowc', ['lsp']]);
  assert.deepStrictEqual(c.clientOptions.documentSelector[0], { scheme: 'file', language: 'flow' });
  assert.ok(context.subscriptions.length >= 2);
  // a change of flowc.server.* restarts it; the command does too
  await t.config()({ affectsConfiguration: (s) => s === 'flowc.server' });
  assert.strictEqual(t.stopped.length, 1);
  assert.strictEqual(t.started.length, 2);
  await t.commands['flowc.restartServer']();
  assert.strictEqual(t.started.length, 3);
  await t.ext.deactivate();
  assert.strictEqual(t.stopped.length, 3);
});

test('defaults to `flowc lsp`, and says so when it cannot start', async () => {
  const t = load({}, { failStart: true });
  await t.ext.activate({ subscriptions: [] });
  assert.strictEqual(t.started.length, 0);
  assert.match(t.errors[0], /could not start "flowc lsp".*flowc\[lsp\]/);
});

test('can be switched off', async () => {
  const t = load({ 'server.enabled': false });
  await t.ext.activate({ subscriptions: [] });
  assert.strictEqual(t.started.length, 0);
});
