/** The classic-script build: `<script src="pz-capture.js">` defines `window.PzCapture.capture`. */
import { capture } from './capture.js';

// `window`, not `globalThis` (ES2020): the classic build is for browsers from 2019 on.
(window as unknown as { PzCapture: { capture: typeof capture } }).PzCapture = { capture };
