// The VS Code client of flowc: starts `flowc lsp` (the command is the setting
// `flowc.server.command`) for .flow files and restarts it when that setting changes.
// Plain JavaScript, so the extension needs no build step.
'use strict';
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function serverOptions() {
  const config = vscode.workspace.getConfiguration('flowc');
  const [command, ...args] = config.get('server.command') || ['flowc', 'lsp'];
  return { command, args, transport: TransportKind.stdio };
}

async function start(context) {
  if (!vscode.workspace.getConfiguration('flowc').get('server.enabled', true)) return;
  const clientOptions = {
    documentSelector: [{ scheme: 'file', language: 'flow' }, { scheme: 'untitled', language: 'flow' }],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('**/*.flow') },
    outputChannelName: 'flowc',
  };
  client = new LanguageClient('flowc', 'flowc language server', serverOptions(), clientOptions);
  try {
    await client.start();
  } catch (err) {
    const cmd = serverOptions();
    vscode.window.showErrorMessage(
      `flowc: could not start "${[cmd.command, ...cmd.args].join(' ')}" (${err.message || err}). ` +
        "Install flowc with the lsp extra (pip install 'flowc[lsp]') or set flowc.server.command.");
    client = undefined;
  }
}

async function stop() {
  if (client) {
    const c = client;
    client = undefined;
    await c.stop();
  }
}

async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('flowc.restartServer', async () => {
      await stop();
      await start(context);
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration('flowc.server')) {
        await stop();
        await start(context);
      }
    }),
  );
  await start(context);
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
