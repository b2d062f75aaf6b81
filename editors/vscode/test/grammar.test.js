// The TextMate grammar, tokenised the way VS Code does it (vscode-textmate + vscode-oniguruma):
// every example flow tokenises with no text left to the base scope, and the scopes of a few
// lines of each construct match the snapshot in test/snapshots/ (UPDATE_SNAPSHOTS=1 rewrites it).
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const HERE = __dirname;
const REPO = path.resolve(HERE, '..', '..', '..');
const GRAMMAR = path.join(HERE, '..', 'syntaxes', 'flow.tmLanguage.json');

const onigLib = oniguruma
  .loadWASM(fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm')).buffer)
  .then(() => ({
    createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
    createOnigString: (s) => new oniguruma.OnigString(s),
  }));
const registry = new vsctm.Registry({
  onigLib,
  loadGrammar: async (scope) =>
    scope === 'source.flow' ? vsctm.parseRawGrammar(fs.readFileSync(GRAMMAR, 'utf8'), GRAMMAR) : null,
});

async function tokenize(text) {
  const grammar = await registry.loadGrammar('source.flow');
  let stack = vsctm.INITIAL;
  const lines = [];
  for (const line of text.replace(/\r/g, '').split('\n')) {
    const r = grammar.tokenizeLine(line, stack);
    lines.push(r.tokens.map((t) => ({ text: line.slice(t.startIndex, t.endIndex), scopes: t.scopes })));
    stack = r.ruleStack;
  }
  return lines;
}

function flowFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...flowFiles(p));
    else if (entry.name.endsWith('.flow')) out.push(p);
  }
  return out.sort();
}

// The examples and the valid flows of the engine tests (tests/invalid holds deliberate junk).
const FILES = [...flowFiles(path.join(REPO, 'examples')), ...flowFiles(path.join(REPO, 'tests', 'engine'))];

test('there are flows to tokenise', () => {
  assert.ok(FILES.length >= 20, `only ${FILES.length} files`);
});

for (const file of FILES) {
  test(`no unmatched text: ${path.relative(REPO, file)}`, async () => {
    const lines = await tokenize(fs.readFileSync(file, 'utf8'));
    const unmatched = [];
    lines.forEach((tokens, i) => {
      for (const t of tokens) {
        if (t.scopes.length === 1 && t.text.trim() !== '') unmatched.push(`${i + 1}: ${JSON.stringify(t.text)}`);
      }
    });
    assert.deepStrictEqual(unmatched, []);
  });
}

test('scopes of each construct match the snapshot', async () => {
  const source = path.join(HERE, 'snapshots', 'constructs.flow');
  const expectedFile = path.join(HERE, 'snapshots', 'constructs.scopes.txt');
  const lines = await tokenize(fs.readFileSync(source, 'utf8'));
  const got = [];
  lines.forEach((tokens, i) => {
    for (const t of tokens) {
      if (t.text.trim() === '') continue;
      got.push(`${i + 1}\t${t.text}\t${t.scopes.slice(1).join(' ')}`);
    }
  });
  const text = got.join('\n') + '\n';
  if (process.env.UPDATE_SNAPSHOTS) fs.writeFileSync(expectedFile, text);
  assert.strictEqual(text, fs.readFileSync(expectedFile, 'utf8'));
});
