import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { defineOptions, resolveOptions } from '../src/util/option-schema.js';
import { addFlags, typedFlags } from '../src/cli/flags.js';
import { InvalidOptionError, UserError } from '../src/util/errors.js';

const SCHEMA = defineOptions({
  modelDir: { type: 'path', required: true, help: 'run folder' },
  epochs: { type: 'int', min: 1, max: 100, default: 15, help: 'passes' },
  lr: { type: 'number', min: 1e-8, max: 1, exponent: true, help: 'rate', defaultHelp: '0.001' },
  arch: { type: 'choice', choices: ['a', 'b'], default: 'a', help: 'net' },
  augment: { type: 'boolean', default: true, help: 'no random flips' },
  data: { type: 'paths', default: [], help: 'folders' },
});

test('the library gets the defaults of the schema, and range errors name the option', () => {
  const o = resolveOptions('fn', SCHEMA, { modelDir: 'r' });
  assert.deepEqual(o, { modelDir: 'r', epochs: 15, lr: undefined, arch: 'a', augment: true, data: [] });
  assert.throws(
    () => resolveOptions('fn', SCHEMA, { modelDir: 'r', epochs: 0 }),
    (e: Error) =>
      e instanceof InvalidOptionError &&
      e.message === 'fn: option epochs must be an integer in 1..100, not 0',
  );
  assert.throws(() => resolveOptions('fn', SCHEMA, {}), /fn: option modelDir is required/);
  assert.throws(() => resolveOptions('fn', SCHEMA, { modelDir: 'r', epoch: 3 }), /unknown option "epoch"/);
  assert.throws(() => resolveOptions('fn', SCHEMA, { modelDir: 'r', arch: 'c' }), /one of a, b, not "c"/);
  assert.throws(() => resolveOptions('fn', SCHEMA, 'r'), /options must be an object/);
});

test('the CLI flags come from the same schema: only typed flags are passed on, numbers are strict', () => {
  const parse = (...argv: string[]) => {
    const cmd = addFlags(new Command().exitOverride(), SCHEMA);
    cmd.parse(argv, { from: 'user' });
    return typedFlags(cmd, SCHEMA);
  };
  assert.deepEqual(parse('--model-dir', 'r'), { modelDir: 'r' });
  assert.deepEqual(
    parse('--model-dir', 'r', '--epochs', '3', '--lr', '1e-3', '--no-augment', '--data', 'x', '--data', 'y'),
    {
      modelDir: 'r',
      epochs: 3,
      lr: 0.001,
      augment: false,
      data: ['x', 'y'],
    },
  );
  assert.throws(
    () => parse('--model-dir', 'r', '--epochs', '1e1'),
    (e: Error) => e instanceof UserError && e.message === '--epochs "1e1": expected an integer in 1..100',
  );
  const help = addFlags(new Command(), SCHEMA).helpInformation();
  assert.match(help, /--epochs <n>\s+passes \(default: 15\)/);
  assert.match(help, /--lr <n>\s+rate \(default: 0\.001\)/);
  assert.match(help, /--no-augment/);
});
