/** The command's help texts: kept apart so `secretbind --help` answers without loading the library. */

export const HELP: Record<string, string> = {
  main: `Usage: secretbind <command> [options]

Commands:
  check --config FILE          check every store and binding (one line per binding)
  explain ACCOUNT --config FILE  where ACCOUNT's password would come from, and why
  resolve ACCOUNT --config FILE  resolve ACCOUNT and say where the value came from (--reveal prints it)
  keygen                       print a new Fernet key for CRYPTOGRAPHY_KEY
  encrypt                      read a password on stdin, print its Fernet token
  ls STORE [PREFIX] --config FILE  list a store's entries: names, versions, owned or not (never values)
  put STORE NAME --config FILE     write the value read on stdin into an entry, with secretbind's owner mark
  log ACCOUNT --log-file FILE      one account's events from a JSON-lines log, newest first
  sync --config FILE               one pass of the sync definitions (--dry-run: the plan, changing nothing)
  migrate --config FILE --to STORE move local passwords into STORE, verified, journaled (--resume, --rollback)

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
  ls: `Usage: secretbind ls STORE [PREFIX] --config FILE [--recursive] [--json]

Lists the entries of STORE (under PREFIX, a folder or name prefix): name, version, last update and whether
secretbind owns it. Never prints a value. Without --recursive only PREFIX's own level is listed.
Exit 0 on success, 1 with "error CODE: message" when the store fails.`,
  sync: `Usage: secretbind sync --config FILE [--dry-run] [--only NAME]... [--state FILE] [--allow-deletes N] [--owner NAME] [--log-file PATH] [--json]
       secretbind sync --config FILE --watch [--interval 30s] [--jitter 10%] [--listen 127.0.0.1:9464]
                       [--leader-elect --lease NAMESPACE/NAME] [--log-format text|json] [--grace 30s]

Runs one pass of the configuration's "sync" definitions: writes what changed in the sources to the destinations,
removes what the definition owns and the source no longer has, and never touches an entry without the definition's
owner mark (OWNER_DEFINITION; --owner or the configuration's "owner", default secretbind) unless it says adopt.
--dry-run prints the plan and changes nothing. The state (versions and HMACs of what was written, never values) is
kept in FILE.sync-state.json beside the configuration unless --state says; the HMACs are keyed from
$SECRETBIND_STATE_KEY (else $CRYPTOGRAPHY_KEY), never kept in the state.
--log-file PATH appends every event as a JSON line (rotated at 10 MiB, five files kept); never a value.
A pass that would remove more than a definition's max_deletes (default 10% of its entries, at least 1), or whose
source lists nothing where entries were synced, removes nothing (DELETE_GUARD) until --allow-deletes N confirms it.
Exit 0 when every entry is synced, unchanged or removed; 1 when any failed; 2 for a usage or configuration error.

--watch runs as a daemon: a full pass every --interval (plus or minus --jitter), and within a second of a change to
a KeePass or .env source. --listen serves /healthz, /readyz, /status and /metrics (Prometheus; needs prom-client).
--leader-elect elects one writer among replicas on a Kubernetes Lease (--lease-duration 15s, --renew-deadline 10s,
--retry-period 2s). Log lines go to stderr. SIGTERM/SIGINT finish the write in flight, save the state, release the
lease and exit 0 (a second signal exits at once, 130); SIGHUP reloads the configuration, keeping the old one if the
new one is bad.`,
  log: `Usage: secretbind log ACCOUNT --log-file FILE [--limit N] [--json]

Prints ACCOUNT's events from a JSON-lines log (and its rotated files FILE.1, FILE.2, ...), newest first: lookups,
their outcome, store, reference and error code. Events never hold a value.`,
  put: `Usage: secretbind put STORE NAME --config FILE [--field KEY] [--if-version V] [--adopt] [--json]

Reads a value on standard input (not echoed on a terminal; one trailing newline is removed) and writes it into
entry NAME of STORE with secretbind's owner mark; prints the new version.
  --field KEY      set one field of the entry and keep its others (KeePass fields, JSON keys)
  --if-version V   write only if the entry is still at version V (as ls shows it); "absent": only if it is new
  --adopt          take over an existing entry that secretbind does not own
An existing entry without secretbind's mark is never overwritten without --adopt (ENTRY_NOT_OWNED).`,
  migrate: `Usage: secretbind migrate --config FILE --to STORE [--entry TEMPLATE] [--field NAME] [--only A,B]
                         [--dry-run] [--clear-local] [--journal FILE] [--resume | --rollback] [--log-file PATH] [--json]

For each account of the configuration with a local password and no active binding: decrypts it (CRYPTOGRAPHY_KEY),
writes it into STORE with secretbind's owner mark, reads it back and compares, binds the account in the
configuration file, and only with --clear-local clears the local copy, after the verified read.
  --entry TEMPLATE  the entry name: {{ .Account }} (default) and {{ .Store }}, e.g. 'Migrated/{{ .Account }}'
  --field NAME      write the password into this field of the entry (KeePass Password, a JSON key)
  --dry-run         per account: the entry, whether it exists and whether it is ours; changes nothing
  --journal FILE    the step journal (default FILE.migrate-journal.jsonl beside the configuration): names,
                    versions and HMACs, never a password; each step is fsynced before the next is taken
  --resume          finish the accounts a killed run left unfinished
  --rollback        put local passwords back from the store (verified) and remove the bindings migration made
Refused, changing nothing for the account: an entry that exists without secretbind's mark (ENTRY_NOT_OWNED), no
local password, a key that cannot decrypt it (LOCAL_DECRYPT_FAILED); a read-only store (OPERATION_UNSUPPORTED).
Exit 0 when every account is migrated or skipped, 1 when any failed or was refused, 2 for a usage error.`,
};
