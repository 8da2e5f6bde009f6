#!/usr/bin/env node
// The system packages the tests run against, checked before `npm test` and by .ci/run: Python's cryptography
// (the Fernet round trip), the real lpass (the stand-in is compared with it), openssl (certificates for the HTTPS
// stand-ins), keepassxc-cli and pykeepass (both must open the KeePass files secretbind writes), and gnome-keyring on a private D-Bus
// session (the Secret Service os_keyring talks to). As root with apt-get (CI, a fresh machine) missing ones are
// installed; otherwise the script stops and says what to install, rather than letting tests fail obscurely.
import { spawnSync } from 'node:child_process';

const works = (command, args) => {
  const result = spawnSync(command, args, { stdio: 'ignore' });
  return !result.error && result.status === 0;
};
// lpass exits non-zero without a writable HOME, even for --version: that it runs at all is what counts.
const found = (command) => !spawnSync(command, ['--version'], { stdio: 'ignore' }).error;
const needs = [
  { debian: 'python3-cryptography', other: 'pip install cryptography', present: () => works('/usr/bin/python3', ['-c', 'import cryptography']) },
  { debian: 'lastpass-cli', other: 'brew install lastpass-cli', present: () => found('lpass') },
  { debian: 'openssl', other: 'brew install openssl', present: () => works('openssl', ['version']) },
  // keepassxc-cli opens the KeePass files the keepass provider writes.
  { debian: 'keepassxc', other: 'brew install --cask keepassxc', present: () => works('keepassxc-cli', ['--version']) },
  // pykeepass reads back the KeePass files secretbind writes, as a second real reader beside KeePassXC.
  { debian: 'python3-pykeepass', other: 'pip install pykeepass', present: () => works('/usr/bin/python3', ['-c', 'import pykeepass']) },
  // A real Secret Service for os_keyring: gnome-keyring on a private session bus, secret-tool to seed and check it.
  { debian: 'gnome-keyring', other: 'a Linux machine with gnome-keyring', present: () => works('gnome-keyring-daemon', ['--version']) },
  { debian: 'libsecret-tools', other: 'a Linux machine with libsecret-tools', present: () => !spawnSync('secret-tool', ['--version'], { stdio: 'ignore' }).error },
  { debian: 'dbus-daemon', other: 'a Linux machine with dbus', present: () => works('dbus-run-session', ['--version']) },
  { debian: 'dbus-bin', other: 'a Linux machine with dbus', present: () => !spawnSync('dbus-send', ['--help'], { stdio: 'ignore' }).error },
];

let missing = needs.filter((need) => !need.present());
if (missing.length > 0 && process.getuid?.() === 0 && works('apt-get', ['--version'])) {
  const names = missing.map((need) => need.debian);
  process.stderr.write(`Installing the Debian packages the tests need: ${names.join(' ')}\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...names], { stdio: 'inherit', env });
  missing = needs.filter((need) => !need.present());
}
if (missing.length > 0) {
  process.stderr.write(
    `The tests need: ${missing.map((need) => need.debian).join(', ')}.\n` +
      `  Debian/Ubuntu: sudo apt-get install ${missing.map((need) => need.debian).join(' ')}\n` +
      `  elsewhere: ${missing.map((need) => need.other).join('; ')}\n`,
  );
  process.exit(1);
}
