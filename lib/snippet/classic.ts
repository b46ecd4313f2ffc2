/** The classic-script build: `<script src="pz-capture.js">` defines `window.PzCapture.capture`. */
import { capture } from './capture.js';

(globalThis as unknown as { PzCapture: { capture: typeof capture } }).PzCapture = { capture };
