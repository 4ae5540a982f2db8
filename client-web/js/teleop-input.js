// Keyboard (WASD/QE or arrows) and gamepad velocity override. While any input is active the
// command is re-sent at ~10 Hz (the server treats an override as stale after 0.5 s without a
// repeat, so a lost tab or a crashed page stops the robot on its own); on release one
// {"clear": true} hands control back to the intent estimator.

const SEND_PERIOD_MS = 100;
const DEADZONE = 0.15;

// Full stick / held key = the walking envelope of contracts.WALK_COMMAND_RANGES (forward;
// the server clamps backward vx to -0.2 m/s). The server clamps again; these shape the input.
export const OVERRIDE_LIMITS = { vx: 0.4, vy: 0.15, yaw_rate: 0.6 };

// key -> [axis, sign]; x forward, y left, yaw counter-clockwise positive.
const KEYMAP = {
  KeyW: ['vx', 1], ArrowUp: ['vx', 1],
  KeyS: ['vx', -1], ArrowDown: ['vx', -1],
  KeyA: ['vy', 1], KeyD: ['vy', -1],
  KeyQ: ['yaw_rate', 1], ArrowLeft: ['yaw_rate', 1],
  KeyE: ['yaw_rate', -1], ArrowRight: ['yaw_rate', -1],
};

function isTyping(target) {
  return target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT']
    .includes(target.tagName));
}

function deadzone(v) {
  return Math.abs(v) < DEADZONE ? 0 : (v - Math.sign(v) * DEADZONE) / (1 - DEADZONE);
}

export class TeleopInput {
  /**
   * `send(body)` posts to /robot/override; `onChange(cmd|null, source)` updates the HUD;
   * `onEstop()` fires on the gamepad's e-stop button (B / circle: button 1).
   */
  constructor({ send, onChange, onEstop }) {
    this.send = send;
    this.onChange = onChange;
    this.onEstop = onEstop;
    this._estopHeld = false;
    this.keys = new Set();
    this.gamepad = null; // last gamepad command or null
    this.active = false;
    this._timer = null;
    this._sending = false;
    this.sentCount = 0;
    window.addEventListener('keydown', (e) => this._key(e, true));
    window.addEventListener('keyup', (e) => this._key(e, false));
    window.addEventListener('blur', () => {
      // Keys released while the window had no focus never send keyup.
      this.keys.clear();
      this._update();
    });
    window.addEventListener('gamepadconnected', () => this._pollGamepad());
  }

  _key(event, down) {
    const mapping = KEYMAP[event.code];
    if (!mapping || isTyping(event.target)) return;
    event.preventDefault();
    if (down) this.keys.add(event.code);
    else this.keys.delete(event.code);
    this._update();
  }

  // Standard mapping: left stick = translation, right stick x = yaw.
  _pollGamepad() {
    const pads = navigator.getGamepads ? navigator.getGamepads() : [];
    const pad = [...pads].find((p) => p && p.connected);
    if (pad) {
      // Edge-triggered: one e-stop per press, however long the button is held.
      const estopPressed = !!(pad.buttons[1] && pad.buttons[1].pressed);
      if (estopPressed && !this._estopHeld) this.onEstop?.();
      this._estopHeld = estopPressed;
      const ly = deadzone(pad.axes[1] || 0);
      const lx = deadzone(pad.axes[0] || 0);
      const rx = deadzone(pad.axes[2] || 0);
      const cmd = {
        vx: -ly * OVERRIDE_LIMITS.vx,
        vy: -lx * OVERRIDE_LIMITS.vy,
        yaw_rate: -rx * OVERRIDE_LIMITS.yaw_rate,
      };
      const any = cmd.vx !== 0 || cmd.vy !== 0 || cmd.yaw_rate !== 0;
      const changed = any !== (this.gamepad !== null);
      this.gamepad = any ? cmd : null;
      if (changed || any) this._update();
      requestAnimationFrame(() => this._pollGamepad());
    }
  }

  /** The current command from keys and gamepad, or null when nothing is held. */
  command() {
    if (this.gamepad) return this.gamepad;
    if (!this.keys.size) return null;
    const cmd = { vx: 0, vy: 0, yaw_rate: 0 };
    for (const code of this.keys) {
      const [axis, sign] = KEYMAP[code];
      cmd[axis] = Math.max(-1, Math.min(1, cmd[axis] / OVERRIDE_LIMITS[axis] + sign))
        * OVERRIDE_LIMITS[axis];
    }
    return cmd;
  }

  _update() {
    const cmd = this.command();
    this.onChange(cmd, this.gamepad ? 'gamepad' : 'keyboard');
    if (cmd && !this.active) {
      this.active = true;
      this._tick();
      this._timer = setInterval(() => this._tick(), SEND_PERIOD_MS);
    } else if (!cmd && this.active) {
      this.active = false;
      clearInterval(this._timer);
      this._timer = null;
      this._post({ clear: true });
    }
  }

  _tick() {
    const cmd = this.command();
    if (cmd) this._post(cmd);
  }

  async _post(body) {
    // One request in flight at a time: if the server is slow we skip a repeat rather than
    // queue stale commands behind it. A clear is always sent.
    if (this._sending && !body.clear) return;
    this._sending = true;
    try {
      await this.send(body);
      this.sentCount += 1;
    } finally {
      this._sending = false;
    }
  }
}
