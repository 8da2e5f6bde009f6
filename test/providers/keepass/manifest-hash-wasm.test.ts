import { describeManifest } from './manifest.js';

describeManifest('hash-wasm');
