/** The command's help texts: kept apart so `secretbind --help` answers without loading the library. */

export const HELP: Record<string, string> = {
  main: `Usage: secretbind <command> [options]

Commands:
  check --config FILE          check every store and binding (one line per binding)
  explain ACCOUNT --config FILE  where ACCOUNT's password would come from, and why
  resolve ACCOUNT --config FILE  resolve ACCOUNT and say where the value came from (--reveal prints it)
  keygen                       print a new Fernet key for CRYPTOGRAPHY_KEY
  encrypt                      read a password on stdin, print its Fernet token

Every command takes --json and --help. Errors print "error CODE: message" on stderr.
Exit status: 0 success, 1 a check or resolution failed, 2 usage or configuration error.`,
  check: `Usage: secretbind check --config FILE [--json] [--no-read]

Validates the configuration, checks every store (reachability, credentials) and reads every enabled binding's
entry (values are discarded; --no-read skips the reads). Exit 0 when all pass, 1 when any fails.`,
  explain: `Usage: secretbind explain ACCOUNT --config FILE [--json]

Shows binding, store, provider and reference for ACCOUNT, and which source a lookup would use. Reads nothing.`,
  resolve: `Usage: secretbind resolve ACCOUNT --config FILE [--reveal] [--json]

Resolves ACCOUNT and prints where the value came from, never the value. --reveal prints the value alone
followed by a newline, for scripts.`,
  keygen: `Usage: secretbind keygen [--json]

Prints a new random Fernet key (url-safe base64 of 32 bytes).`,
  encrypt: `Usage: secretbind encrypt [--key-env NAME] [--json]

Reads a password from standard input (not echoed on a terminal) and prints its Fernet token, made with the key
in $CRYPTOGRAPHY_KEY or in the variable named by --key-env.`,
};
