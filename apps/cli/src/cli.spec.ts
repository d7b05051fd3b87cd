import { findCommand, mainHelp } from './cli';

describe('command lookup', () => {
  const name = (argv: string[]) => {
    const f = findCommand(argv);
    return f ? [f.command.name, f.rest] : null;
  };

  it('one- and two-word commands, with aliases', () => {
    expect(name(['logs', '-f', 'b1'])).toEqual(['logs', ['-f', 'b1']]);
    expect(name(['builds', 'ls', 'app', '--limit', '5'])).toEqual(['builds ls', ['app', '--limit', '5']]);
    expect(name(['build', 'ls', 'app'])).toEqual(['builds ls', ['app']]);
    expect(name(['builds', 'trigger', 'app'])).toEqual(['build trigger', ['app']]);
    expect(name(['projects', 'list'])).toEqual(['projects ls', []]);
    expect(name(['project', 'create', '--name', 'x'])).toEqual(['projects create', ['--name', 'x']]);
  });

  it('global options may come before the command', () => {
    expect(name(['--url', 'http://x', '--json', 'builds', 'show', 'b1'])).toEqual(['builds show', ['--url', 'http://x', '--json', 'b1']]);
    expect(name(['--token=t', 'cancel', 'b1'])).toEqual(['cancel', ['--token=t', 'b1']]);
  });

  it('unknown words are no command', () => {
    expect(name(['deploy'])).toBeNull();
    expect(name(['builds'])).toBeNull();
    expect(name([])).toBeNull();
  });

  it('the help lists every command', () => {
    for (const c of ['login', 'projects create', 'projects ls', 'build trigger', 'builds ls', 'builds show', 'logs', 'cancel']) expect(mainHelp()).toContain(`  ${c} `);
  });
});
