// The secret log: a bounded in-memory log with queries and stats, and a JSON-lines file sink.
export { createJsonLinesSink, readJsonLines, type JsonLinesSink, type JsonLinesSinkOptions, type LoggedLine } from './file.js';
export { createSecretLog, type LoggedEvent, type SecretLog, type SecretLogOptions, type SecretLogQuery, type SecretLogStats } from './memory.js';
