import { describeManifest } from './manifest.js';

describeManifest('node-rs');
