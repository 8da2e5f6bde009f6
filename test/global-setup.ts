/**
 * Once per test run, before the test processes start: a certificate for the HTTPS stand-ins that real clients only
 * reach through Node's default CA store (Azure's SDK and msal) or grpc-js's default roots (Google's client). Node reads NODE_EXTRA_CA_CERTS when a process
 * starts (grpc-js its variable when it loads), so both are set here and every test process inherits it, as an operator would set it for a private CA.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'secretbind-test-ca-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  process.env.NODE_EXTRA_CA_CERTS = join(dir, 'cert.pem');
  // grpc-js reads its roots from here (before it loads): the Secret Manager stand-in speaks gRPC over TLS.
  process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH = join(dir, 'cert.pem');
  // google-auth-library would otherwise probe the GCE metadata server (169.254.169.254): no test leaves the machine.
  process.env.METADATA_SERVER_DETECTION = 'none';
  process.env.SECRETBIND_TEST_TLS_DIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
