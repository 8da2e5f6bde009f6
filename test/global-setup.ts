/**
 * Once per test run, before the test processes start: a certificate for the HTTPS stand-ins that real clients only
 * reach through Node's default CA store (Azure's SDK and msal). Node reads NODE_EXTRA_CA_CERTS when a process
 * starts, so it is set here and every test process inherits it, as an operator would set it for a private CA.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'secretbind-test-ca-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  process.env.NODE_EXTRA_CA_CERTS = join(dir, 'cert.pem');
  process.env.SECRETBIND_TEST_TLS_DIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
