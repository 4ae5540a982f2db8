// The 3D view of the G1: builds the kinematic tree from /models/g1/g1.json, loads the STL
// meshes (or, without a GPU, draws the collision capsules), and poses the tree from
// telemetry (base pose + joint angles).
//
// MuJoCo is z-up; three.js defaults to y-up. Rather than rotating the whole scene we keep
// MuJoCo's frame everywhere (positions and quaternions copy over unchanged) and tell the
// camera that z is up. The grid, which three.js lays in its XZ plane, is rotated into XY.

import * as THREE from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';
import { STLLoader } from 'three/addons/loaders/STLLoader.js';
import { mergeVertices } from 'three/addons/utils/BufferGeometryUtils.js';

const MODEL_URL = '/models/g1/g1.json';
const MESH_BASE = '/models/g1/';

/** MuJoCo quaternion [w, x, y, z] -> THREE.Quaternion (x, y, z, w). */
function quatFromWxyz(q) {
  if (!q || q.length !== 4) return new THREE.Quaternion();
  return new THREE.Quaternion(q[1], q[2], q[3], q[0]).normalize();
}

function vec3(p) {
  return p && p.length === 3 ? new THREE.Vector3(p[0], p[1], p[2]) : new THREE.Vector3();
}

// g1.json is written by the server; its field names are read tolerantly (one helper each) so
// that small naming differences (quat vs quat_wxyz, mesh vs file) do not break the view.
function bodyQuat(b) {
  return b.quat_wxyz ?? b.quat ?? null;
}

function bodyJoint(b) {
  // {joint: {name, axis, type}} or {joint: "name", axis: [...]} or {joint_name, joint_axis}.
  const j = b.joint ?? (b.joints && b.joints[0]) ?? null;
  if (j && typeof j === 'object') {
    const type = j.type ?? 'hinge';
    if (type !== 'hinge') return null;
    return { name: j.name, axis: j.axis ?? [0, 0, 1], pos: j.pos ?? null };
  }
  const name = typeof j === 'string' ? j : b.joint_name;
  if (!name) return null;
  return { name, axis: b.joint_axis ?? b.axis ?? [0, 0, 1], pos: b.joint_pos ?? null };
}

function bodyVisuals(b) {
  const list = b.visuals ?? b.meshes ?? b.geoms ?? [];
  return list.map((v) => (typeof v === 'string' ? { file: v } : {
    file: v.file ?? v.mesh ?? v.name,
    pos: v.pos ?? null,
    quat: v.quat_wxyz ?? v.quat ?? null,
    rgba: v.rgba ?? null,
  })).filter((v) => v.file);
}

/** A collision shape of g1.json as a mesh: capsules from their two end points. */
function shapeMesh(shape, material) {
  if (shape.type === 'sphere') {
    const mesh = new THREE.Mesh(new THREE.SphereGeometry(shape.radius, 12, 8), material);
    mesh.position.copy(vec3(shape.pos));
    return mesh;
  }
  if (shape.type !== 'capsule') return null;
  const from = vec3(shape.from);
  const axis = vec3(shape.to).sub(from);
  const length = axis.length();
  // THREE.CapsuleGeometry lies along +y, centred on the origin.
  const mesh = new THREE.Mesh(new THREE.CapsuleGeometry(shape.radius, length, 4, 10), material);
  mesh.position.copy(from).addScaledVector(axis, 0.5);
  if (length > 0) {
    mesh.quaternion.setFromUnitVectors(new THREE.Vector3(0, 1, 0), axis.normalize());
  }
  return mesh;
}

function isWorld(name) {
  return name === undefined || name === null || name === '' || name === 'world' || name === -1;
}

/**
 * The robot model: a tree of Object3Ds, one per body, plus a joint node per hinge.
 * body node (static pos/quat from the parent) -> joint node (rotation about the axis) ->
 * child bodies and the body's meshes.
 */
export class G1Model {
  constructor() {
    this.root = new THREE.Group();
    this.root.name = 'g1';
    this.baseNode = null; // the floating body (pelvis): posed from telemetry base
    this.jointNodes = new Map(); // joint name -> {node, axis}
    this.jointOrder = []; // hinge names in model order (MuJoCo order = Unitree motor order)
    this.meshCount = 0;
    this.meshesExpected = 0;
    this.meshesFailed = 0;
    this.shapeCount = 0;
    this.detail = 'meshes'; // or 'shapes': the collision capsules
    this.bodyCount = 0;
  }

  /**
   * Build the tree from g1.json and start loading the meshes; resolves when all are done.
   * With `shapes`, draw the collision capsules instead (a few thousand triangles against
   * the meshes' 390k: what a page without a GPU can afford).
   */
  async load(onProgress = () => {}, { shapes = false } = {}) {
    const response = await fetch(MODEL_URL);
    if (!response.ok) throw new Error(`${MODEL_URL}: HTTP ${response.status}`);
    const desc = await response.json();
    const bodies = desc.bodies ?? [];
    if (!bodies.length) throw new Error(`${MODEL_URL}: no bodies`);

    // Parents may be given by name or by index; normalise to names.
    const names = bodies.map((b, i) => b.name ?? `body${i}`);
    const parentName = (b) => (typeof b.parent === 'number' ? names[b.parent] : b.parent);

    const nodes = new Map(); // body name -> node children attach to (joint node or body node)
    const material = new THREE.MeshStandardMaterial({
      color: 0xb8c0cc, metalness: 0.35, roughness: 0.55,
    });
    const darkMaterial = new THREE.MeshStandardMaterial({
      color: 0x2b2f36, metalness: 0.2, roughness: 0.7,
    });
    const pendingMeshes = [];
    this.detail = shapes ? 'shapes' : 'meshes';

    bodies.forEach((b, i) => {
      const name = names[i];
      if (name === 'world') return;
      const bodyNode = new THREE.Group();
      bodyNode.name = name;
      bodyNode.position.copy(vec3(b.pos));
      bodyNode.quaternion.copy(quatFromWxyz(bodyQuat(b)));
      let attach = bodyNode;
      const joint = bodyJoint(b);
      if (joint) {
        // A hinge rotates the body's subtree about its axis through the joint position.
        const pivot = new THREE.Group();
        pivot.name = `${joint.name}:pivot`;
        const jointNode = new THREE.Group();
        jointNode.name = joint.name;
        if (joint.pos) pivot.position.copy(vec3(joint.pos));
        bodyNode.add(pivot);
        pivot.add(jointNode);
        const inner = new THREE.Group();
        if (joint.pos) inner.position.copy(vec3(joint.pos)).negate();
        jointNode.add(inner);
        attach = inner;
        const axis = vec3(joint.axis);
        if (axis.lengthSq() === 0) axis.set(0, 0, 1);
        this.jointNodes.set(joint.name, { node: jointNode, axis: axis.normalize() });
        this.jointOrder.push(joint.name);
      }
      nodes.set(name, attach);
      const parent = parentName(b);
      if (name === desc.floating_base) this.baseNode = bodyNode;
      if (isWorld(parent) || !nodes.has(parent)) {
        // Without a named floating base, the first body under the world floats.
        if (!this.baseNode && !desc.floating_base) this.baseNode = bodyNode;
        this.root.add(bodyNode);
      } else {
        nodes.get(parent).add(bodyNode);
      }
      this.bodyCount += 1;
      if (shapes) {
        for (const shape of b.shapes ?? []) {
          const mesh = shapeMesh(shape, material);
          if (!mesh) continue;
          mesh.name = `${name}:${shape.type}`;
          attach.add(mesh);
          this.shapeCount += 1;
        }
        return;
      }
      for (const visual of bodyVisuals(b)) {
        pendingMeshes.push({ visual, attach, bodyName: name });
      }
    });
    if (desc.joint_names && Array.isArray(desc.joint_names)) this.jointOrder = desc.joint_names;

    // MuJoCo's default geom colour (0.5 grey) means "no colour given": use ours. Others get
    // one shared material per colour.
    const materials = new Map();
    const materialFor = (rgba, fallback) => {
      if (!rgba || rgba.length < 3 || rgba.slice(0, 3).every((c) => Math.abs(c - 0.5) < 1e-6)) {
        return fallback;
      }
      const key = rgba.join(',');
      if (!materials.has(key)) {
        materials.set(key, new THREE.MeshStandardMaterial({
          color: new THREE.Color(rgba[0], rgba[1], rgba[2]), metalness: 0.3, roughness: 0.6,
        }));
      }
      return materials.get(key);
    };

    // Each STL file is fetched once even when several geoms use it.
    const meshBase = desc.mesh_url ?? MESH_BASE;
    const loader = new STLLoader();
    const geometries = new Map();
    const loadGeometry = (file) => {
      if (!geometries.has(file)) {
        geometries.set(file, loader.loadAsync(meshBase + encodeURIComponent(file)).then((g) => {
          // STL repeats each vertex once per triangle using it (about 6x): share them, so the
          // vertex shader runs ~6x less per frame (what a software rasteriser pays most for).
          g.deleteAttribute('normal');
          const indexed = mergeVertices(g, 1e-5);
          indexed.computeVertexNormals();
          g.dispose();
          return indexed;
        }));
      }
      return geometries.get(file);
    };
    this.meshesExpected = pendingMeshes.length;
    onProgress(this);
    await Promise.all(pendingMeshes.map(async ({ visual, attach, bodyName }) => {
      try {
        const geometry = await loadGeometry(visual.file);
        const dark = /rubber|head|logo|contour/.test(visual.file);
        const mat = materialFor(visual.rgba, dark ? darkMaterial : material);
        const mesh = new THREE.Mesh(geometry, mat);
        mesh.name = `${bodyName}:${visual.file}`;
        mesh.position.copy(vec3(visual.pos));
        mesh.quaternion.copy(quatFromWxyz(visual.quat));
        mesh.castShadow = true;
        attach.add(mesh);
        this.meshCount += 1;
      } catch (err) {
        this.meshesFailed += 1;
        console.warn(`mesh ${visual.file} failed to load`, err);
      }
      onProgress(this);
    }));
    return this;
  }

  /** Pose from telemetry: base pose in the world, joint angles by name. */
  setPose(basePos, baseQuatWxyz, jointNames, qRad) {
    if (this.baseNode && basePos) {
      this.baseNode.position.copy(vec3(basePos));
      this.baseNode.quaternion.copy(quatFromWxyz(baseQuatWxyz));
    }
    if (!qRad) return;
    const order = jointNames && jointNames.length === qRad.length ? jointNames : this.jointOrder;
    for (let i = 0; i < qRad.length; i += 1) {
      const joint = this.jointNodes.get(order[i]);
      if (joint) joint.node.quaternion.setFromAxisAngle(joint.axis, qRad[i]);
    }
  }
}

/** The GL renderer string (unmasked where the browser allows it). */
function rendererName(renderer) {
  const gl = renderer.getContext();
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER) || '');
}

/**
 * A floor grid in MuJoCo's XY plane (z = 0), `size` metres square with `cell` metre cells,
 * every metre line brighter. Built from cell-long segments rather than THREE.GridHelper's
 * edge-to-edge lines: software GL (SwiftShader, headless Chromium) drops the near part of
 * long lines that pass behind the camera, which left only the far edge of the grid visible.
 */
function floorGrid(size, cell) {
  const half = size / 2;
  const n = Math.round(size / cell);
  const positions = [];
  const colors = [];
  const minor = new THREE.Color(0x2e3744);
  const major = new THREE.Color(0x4a5668);
  for (let i = 0; i <= n; i += 1) {
    const c = -half + i * cell;
    const color = Math.abs(c - Math.round(c)) < 1e-6 ? major : minor;
    for (let k = 0; k < n; k += 1) {
      const a = -half + k * cell;
      positions.push(a, c, 0, a + cell, c, 0, c, a, 0, c, a + cell, 0);
      for (let v = 0; v < 4; v += 1) colors.push(color.r, color.g, color.b);
    }
  }
  const geometry = new THREE.BufferGeometry();
  geometry.setAttribute('position', new THREE.Float32BufferAttribute(positions, 3));
  geometry.setAttribute('color', new THREE.Float32BufferAttribute(colors, 3));
  const grid = new THREE.LineSegments(geometry, new THREE.LineBasicMaterial({ vertexColors: true }));
  grid.name = 'floor-grid';
  return grid;
}

/**
 * The scene: lights, a floor grid, a follow camera, the robot. Renders on demand (when a new
 * pose arrived or the user moved the camera) rather than every animation frame: the view may
 * run on a software GL renderer next to the estimator and policy, and idle frames cost CPU.
 */
export class RobotView {
  constructor(container) {
    this.container = container;
    this.renderer = new THREE.WebGLRenderer({ antialias: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    this.renderer.setClearColor(0x10141a);
    container.append(this.renderer.domElement);
    this.renderer.domElement.dataset.testid = 'robot-canvas';

    this.scene = new THREE.Scene();
    this.scene.fog = new THREE.Fog(0x10141a, 8, 25);
    this.camera = new THREE.PerspectiveCamera(45, 1, 0.05, 100);
    this.camera.up.set(0, 0, 1); // MuJoCo: z up
    this.camera.position.set(2.2, -2.2, 1.4);

    this.scene.add(new THREE.HemisphereLight(0xdde6ff, 0x20242c, 1.4));
    const sun = new THREE.DirectionalLight(0xffffff, 1.6);
    sun.position.set(3, -2, 6);
    this.scene.add(sun);

    this.scene.add(floorGrid(20, 0.5));
    const axes = new THREE.AxesHelper(0.4);
    axes.position.z = 0.002;
    this.scene.add(axes);

    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.target.set(0, 0, 0.8);
    this.controls.enableDamping = false;
    this.controls.addEventListener('change', () => this.requestRender());
    this.controls.update();

    this.model = null;
    this.follow = true;
    this._dirty = true;
    this._lastRenderMs = 0;
    this.framesRendered = 0;
    this.framesSkipped = 0;
    // Off: the scene keeps its pose but is not drawn (a client without a GPU pays for every
    // frame with the CPU that also carries the video, the telemetry and the e-stop).
    this.enabled = true;
    this._gl = this.renderer.getContext();
    this._fence = null;
    // A software rasteriser (SwiftShader: no GPU, e.g. a headless browser or a VM) draws on
    // the same CPU cores as everything else on the machine, possibly the server's 50 Hz
    // control loop: cap it at a few frames per second there, and draw the collision
    // capsules instead of the meshes (see loadRobot).
    this.rendererName = rendererName(this.renderer);
    this.softwareGl = /swiftshader|llvmpipe|software/i.test(this.rendererName);
    this.minFrameMs = this.softwareGl ? 1000 / 5 : 1000 / 30;
    if (this.softwareGl) this.renderer.setPixelRatio(1);

    this._resizeObserver = new ResizeObserver(() => this.resize());
    this._resizeObserver.observe(container);
    this.resize();
    this._loop = this._loop.bind(this);
    requestAnimationFrame(this._loop);
  }

  async loadRobot(onProgress) {
    const model = new G1Model();
    this.model = model;
    this.scene.add(model.root);
    // Measured in headless Chromium on SwiftShader (2 cores): each frame of the meshes held
    // the page's main thread for 0.4-0.8 s, whatever the resolution, so the keyboard
    // override's 10 Hz repeat went out every 2-3 s and the e-stop button waited as long.
    await model.load((m) => {
      this.requestRender();
      onProgress?.(m);
    }, { shapes: this.softwareGl });
    this.requestRender();
    return model;
  }

  /** Pose the robot and move the camera target with it (keeping the user's orbit offset). */
  setPose(basePos, baseQuatWxyz, jointNames, qRad) {
    if (!this.model) return;
    this.model.setPose(basePos, baseQuatWxyz, jointNames, qRad);
    if (this.follow && basePos) {
      const target = new THREE.Vector3(basePos[0], basePos[1], Math.max(basePos[2], 0.3));
      const delta = target.clone().sub(this.controls.target);
      this.controls.target.copy(target);
      this.camera.position.add(delta);
      this.controls.update();
    }
    this.requestRender();
  }

  requestRender() {
    this._dirty = true;
  }

  resize() {
    const w = Math.max(this.container.clientWidth, 1);
    const h = Math.max(this.container.clientHeight, 1);
    this.renderer.setSize(w, h, false);
    this.renderer.domElement.style.width = '100%';
    this.renderer.domElement.style.height = '100%';
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    this.requestRender();
  }

  _loop(now) {
    requestAnimationFrame(this._loop);
    if (!this.enabled || !this._dirty || now - this._lastRenderMs < this.minFrameMs) return;
    // Never queue a frame while the GPU (or a software rasteriser) is still drawing the last
    // one: the next GL call would block this thread until it finished, and this thread also
    // handles telemetry and the e-stop.
    if (this._fence) {
      if (this._gl.getSyncParameter(this._fence, this._gl.SYNC_STATUS) !== this._gl.SIGNALED) {
        this.framesSkipped += 1;
        return;
      }
      this._gl.deleteSync(this._fence);
      this._fence = null;
    }
    this._dirty = false;
    this._lastRenderMs = now;
    this.renderer.render(this.scene, this.camera);
    this.framesRendered += 1;
    if (this._gl.fenceSync) {
      this._fence = this._gl.fenceSync(this._gl.SYNC_GPU_COMMANDS_COMPLETE, 0);
      this._gl.flush();
    }
  }
}
