// Progress of long work for a person at a terminal: one line with a spinner, what is
// happening and the seconds so far, ended by a ✓ or ✗ line. Not a terminal (a pipe, a
// file, journald): nothing at all, so scripts and logs see only their plain lines.
import { colourWanted } from '../runtime/log-format.js';

export interface Progress {
  /** Say what is happening now. */
  update(text: string): void;
  /** Clear the line so something else can be written; the spinner redraws on its next tick. */
  clear(): void;
  done(text?: string): void;
  fail(text?: string): void;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const NONE: Progress = { update: () => undefined, clear: () => undefined, done: () => undefined, fail: () => undefined };

export function startProgress(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return NONE;
  const colour = colourWanted(stream);
  const began = Date.now();
  let text = label;
  let frame = 0;
  let ended = false;
  const secs = () => `${((Date.now() - began) / 1000).toFixed(1)} s`;
  const fit = (s: string) => (stream.columns && s.length > stream.columns - 1 ? s.slice(0, stream.columns - 2) + '…' : s);
  const draw = () => stream.write(`\r\x1b[K${fit(`${FRAMES[frame++ % FRAMES.length]} ${text} (${secs()})`)}`);
  const timer = setInterval(draw, 100);
  timer.unref();
  draw();
  const end = (mark: string, code: string, final: string) => {
    if (ended) return;
    ended = true;
    clearInterval(timer);
    stream.write(`\r\x1b[K${colour ? `\x1b[${code}m${mark}\x1b[0m` : mark} ${final} (${secs()})\n`);
  };
  return {
    update: (t) => { text = t; },
    clear: () => { if (!ended) stream.write('\r\x1b[K'); },
    done: (t) => end('✓', '32', t ?? label),
    fail: (t) => end('✗', '31', t ?? label),
  };
}
