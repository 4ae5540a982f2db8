// Transports of the live page: the WebRTC session (camera track up, `telemetry` data channel
// both ways) and the WebSocket telemetry fallback. Both deliver the same JSON messages to one
// callback, so the page does not care where a message came from.

import { API, postJson } from './api.js';

const ICE_GATHERING_TIMEOUT_MS = 5000;

/** Wait until the peer connection has gathered all its candidates (or a timeout). */
function waitForIceGathering(pc, timeoutMs = ICE_GATHERING_TIMEOUT_MS) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    // The offer goes out in one round trip (no trickle ICE), so it must carry every
    // candidate; on a timeout we send what we have rather than hang.
    const timer = setTimeout(done, timeoutMs);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    }
    function check() {
      if (pc.iceGatheringState === 'complete') done();
    }
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/**
 * One WebRTC session: getUserMedia -> RTCPeerConnection with one video track and a
 * `telemetry` data channel -> POST /api/v1/offer once -> setRemoteDescription.
 */
export class RtcSession {
  constructor({ onMessage, onState, onChannelOpen, onChannelClose }) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.onChannelOpen = onChannelOpen;
    this.onChannelClose = onChannelClose;
    this.pc = null;
    this.channel = null;
    this.stream = null;
    this.sessionId = null;
    this._clockTimer = null;
  }

  async start({ deviceId, view, localVideo }) {
    this.onState('camera');
    const video = {
      width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30, max: 30 },
    };
    if (deviceId) video.deviceId = { exact: deviceId };
    this.stream = await navigator.mediaDevices.getUserMedia({ video, audio: false });
    if (localVideo) localVideo.srcObject = this.stream;

    this.pc = new RTCPeerConnection({ iceServers: [] });
    this.pc.addEventListener('connectionstatechange', () => this.onState(this.pc.connectionState));
    for (const track of this.stream.getVideoTracks()) this.pc.addTrack(track, this.stream);

    // Telemetry is latest-value data: unordered with no retransmits would drop stale
    // samples, but `mode` messages must never be lost, so the channel stays reliable.
    this.channel = this.pc.createDataChannel('telemetry');
    this.channel.addEventListener('open', () => {
      this._startClock();
      this.onChannelOpen?.();
    });
    this.channel.addEventListener('close', () => {
      this._stopClock();
      this.onChannelClose?.();
    });
    this.channel.addEventListener('message', (event) => this._receive(event.data));

    this.onState('offering');
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await waitForIceGathering(this.pc);
    const answer = await postJson('/offer', {
      sdp: this.pc.localDescription.sdp, type: this.pc.localDescription.type, view,
    });
    this.sessionId = answer.session_id ?? null;
    await this.pc.setRemoteDescription({ sdp: answer.sdp, type: answer.type ?? 'answer' });
    this.onState(this.pc.connectionState || 'connecting');
  }

  _receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    this.onMessage(message, 'datachannel');
  }

  send(message) {
    if (this.channel && this.channel.readyState === 'open') {
      this.channel.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  // Every second: our clock (for the server's capture -> server latency) and a ping (RTT).
  _startClock() {
    const tick = () => {
      const clientMs = performance.timeOrigin + performance.now();
      this.send({ type: 'clock', client_ms: clientMs });
      this.send({ type: 'ping', client_ms: clientMs });
    };
    tick();
    this._clockTimer = setInterval(tick, 1000);
  }

  _stopClock() {
    clearInterval(this._clockTimer);
    this._clockTimer = null;
  }

  get channelOpen() {
    return !!this.channel && this.channel.readyState === 'open';
  }

  stop() {
    this._stopClock();
    if (this.channel) this.channel.close();
    if (this.pc) this.pc.close();
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.pc = null;
    this.channel = null;
    this.stream = null;
    this.onState('closed');
  }
}

/** The WebSocket fallback: /api/v1/telemetry, reconnecting with backoff while wanted. */
export class TelemetrySocket {
  constructor({ onMessage, onState }) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.ws = null;
    this.wanted = false;
    this._retryMs = 500;
  }

  open() {
    this.wanted = true;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}${API}/telemetry`);
    this.ws = ws;
    this.onState('connecting');
    ws.addEventListener('open', () => {
      this._retryMs = 500;
      this.onState('open');
    });
    ws.addEventListener('message', (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onMessage(message, 'websocket');
    });
    ws.addEventListener('close', () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onState('closed');
      if (this.wanted) {
        setTimeout(() => this.wanted && this.open(), this._retryMs);
        this._retryMs = Math.min(this._retryMs * 2, 5000);
      }
    });
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  close() {
    this.wanted = false;
    if (this.ws) this.ws.close();
    this.ws = null;
  }
}
