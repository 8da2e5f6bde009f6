/**
 * A real Secret Service for the os_keyring tests: gnome-keyring-daemon inside a private `dbus-run-session`, with its
 * own HOME, so nothing touches a desktop keyring. Not a stand-in: the binding talks D-Bus to gnome-keyring itself.
 *
 * The daemon is started and unlocked before any client touches the bus: a client first would make D-Bus activate a
 * daemon with no unlocked login collection, and writes then fail.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KeyringSession {
  /** The environment a client needs: the private bus's address (also set on process.env while the session runs). */
  env: Record<string, string>;
  /** Stores an item as another program would, through secret-tool (value on stdin). */
  seed(attributes: Record<string, string>, value: string): void;
  /** Reads an item through secret-tool, or undefined when there is none. */
  lookup(attributes: Record<string, string>): string | undefined;
  /** Locks the login collection, as a screen lock would (Secret Service `Lock`, through dbus-send). */
  lock(): void;
  /** Stops gnome-keyring-daemon (SIGSTOP) for `ms`, so calls hang as they do when the service does not answer. */
  freeze(ms: number): void;
  stop(): Promise<void>;
}

const HELPER_TIMEOUT_MS = 10_000;

export async function startKeyring(): Promise<KeyringSession> {
  const home = mkdtempSync(join(tmpdir(), 'secretbind-keyring-'));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, XDG_RUNTIME_DIR: home, XDG_DATA_HOME: join(home, 'data') };
  const script = `printf 'test-login\\n' | gnome-keyring-daemon --unlock --components=secrets >/dev/null && echo "ADDRESS=$DBUS_SESSION_BUS_ADDRESS" && exec sleep 86400`;
  const session = spawn('dbus-run-session', ['--', 'sh', '-c', script], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let errors = '';
  session.stderr.on('data', (chunk: Buffer) => void (errors += chunk.toString()));
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    session.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /ADDRESS=(\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    session.once('exit', (code) => reject(new Error(`dbus-run-session ended (${code}) before gnome-keyring was ready: ${errors}`)));
    setTimeout(() => reject(new Error(`gnome-keyring did not start within 15 s: ${errors}`)), 15_000).unref();
  });
  const clientEnv = { ...env, DBUS_SESSION_BUS_ADDRESS: address };
  const previous = process.env.DBUS_SESSION_BUS_ADDRESS;
  process.env.DBUS_SESSION_BUS_ADDRESS = address;
  const attributeArgs = (attributes: Record<string, string>) => Object.entries(attributes).flat();
  // Every helper call is bounded: secret-tool waits forever for an unlock prompt no one can answer when the login
  // collection is locked (as it is when D-Bus had to start a fresh daemon), and a hung test worker would hold CI.
  const run = (command: string, args: string[], input?: string) => {
    const result = spawnSync(command, args, { env: clientEnv, timeout: HELPER_TIMEOUT_MS, killSignal: 'SIGKILL', ...(input !== undefined ? { input } : {}) });
    if (result.error) throw new Error(`${command} ${args[0]} did not finish within ${HELPER_TIMEOUT_MS} ms (is the login collection locked, or gnome-keyring-daemon gone?): ${result.error.message}`);
    return result;
  };
  return {
    env: { DBUS_SESSION_BUS_ADDRESS: address },
    seed(attributes, value) {
      const result = run('secret-tool', ['store', '--label=seeded by a test', ...attributeArgs(attributes)], value);
      if (result.status !== 0) throw new Error(`secret-tool store failed: ${result.stderr.toString()}`);
    },
    lookup(attributes) {
      const result = run('secret-tool', ['lookup', ...attributeArgs(attributes)]);
      return result.status === 0 ? result.stdout.toString() : undefined;
    },
    lock() {
      const reply = run('dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.secrets', '/org/freedesktop/secrets', 'org.freedesktop.Secret.Service.Lock', 'array:objpath:/org/freedesktop/secrets/collection/login']);
      if (reply.status !== 0) throw new Error(`locking the login collection failed: ${reply.stderr.toString()}`);
    },
    freeze(ms) {
      const reply = run('dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.GetConnectionUnixProcessID', 'string:org.freedesktop.secrets']);
      const pid = Number(/uint32 (\d+)/.exec(reply.stdout.toString())?.[1]);
      if (!pid) throw new Error(`cannot find gnome-keyring-daemon on the bus: ${reply.stderr.toString()}`);
      process.kill(pid, 'SIGSTOP');
      setTimeout(() => process.kill(pid, 'SIGCONT'), ms).unref();
    },
    async stop() {
      if (previous === undefined) delete process.env.DBUS_SESSION_BUS_ADDRESS;
      else process.env.DBUS_SESSION_BUS_ADDRESS = previous;
      const exited = new Promise((resolve) => session.once('exit', resolve));
      try {
        process.kill(-session.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      await exited;
      // gnome-keyring-daemon daemonized out of the group; it leaves when its bus goes away. Its files go with HOME.
      rmSync(home, { recursive: true, force: true });
    },
  };
}
