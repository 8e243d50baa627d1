"""Procedural indoor scenes, ray cast in vectorised NumPy.

One concept, kept in one file although it is longer than the others: the scene
sampler, the ray caster (its intersection, shading and shadow code for each
shape) and the per-pixel labels are written against each other's geometry
conventions below, and a reader checks a label against the geometry that made it.

Each scene is a closed room (floor, four walls, ceiling) holding 3 to 7
objects that rest on the floor, lit by one point light near the ceiling plus
ambient light, with Lambert shading and cast shadows. A pinhole camera inside
the room looks into it, pitched down. Every pixel gets five labels:

- ``image``: uint8 ``[H, W, 3]`` RGB.
- ``segmentation``: uint8 ``[H, W]`` class ids, by *shape* (object colours are
  random, so colour alone cannot tell the class): see ``CLASS_NAMES``.
- ``depth``: float32 ``[H, W]`` metric z-depth in the camera frame (the z of
  the hit point, like NYUv2's Kinect depth, not the ray length). Always > 0.
- ``normals``: float32 ``[H, W, 3]`` unit surface normals in the camera frame,
  facing the camera (``dot(n, ray) < 0``).
- ``edges``: uint8 ``[H, W]``, 1 on a pixel one of whose 4 neighbours sees
  another surface, else 0. A surface is one object, or one of the room's six
  faces, so edges are the semantic boundaries, the occlusion boundaries between
  objects of one class, and the room's corners (``surface_edges``).

Classes (index = class id)::

  0 floor  1 wall  2 ceiling  3 sphere  4 box  5 cylinder  6 cone

Frames. The world frame is right-handed with z up: the floor is ``z = 0``, the
room spans ``x in [-room.width/2, room.width/2]``, ``y in [0, room.depth]``,
``z in [0, room.height]``. The camera frame is OpenCV's: x right, y down,
z forward. A camera with zero pitch, yaw and roll looks along world +y; its
camera-to-world rotation is ``Rz(yaw) @ B @ Rx(-pitch) @ Rz(roll)`` with
``B = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]`` (positive pitch looks down, positive
yaw turns left, i.e. counter-clockwise seen from above).

Intrinsics. ``fx = fy = (W / 2) / tan(fov_x / 2)`` (default ``fov_x`` 60 deg,
close to NYUv2's Kinect), principal point at the image centre
``cx = (W - 1) / 2``, ``cy = (H - 1) / 2``; pixel ``(row v, column u)`` sees the
ray through ``((u - cx) / fx, (v - cy) / fy, 1)``, so a pixel with depth ``d``
back-projects to ``d * ((u - cx) / fx, (v - cy) / fy, 1)``.

Example::

  ex = render_example(seed=0, index=3)            # 96 x 128
  ex["image"].shape, ex["depth"].dtype            # (96, 128, 3), float32
"""

import colorsys
import dataclasses
from typing import Optional, Sequence

import numpy as np

CLASS_NAMES = ("floor", "wall", "ceiling", "sphere", "box", "cylinder", "cone")
NUM_CLASSES = len(CLASS_NAMES)
FLOOR, WALL, CEILING = 0, 1, 2
SHAPES = CLASS_NAMES[3:]  # Object kinds; class id = 3 + SHAPES.index(kind).

_B = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
_SHADOW_OFFSET = 1e-4  # Shadow rays start this far (metres) off the surface.


def _dot(a, b):
  """Row-wise dot product of [N, 3] arrays."""
  return np.einsum("ij,ij->i", a, b)


def _norm(a):
  return np.sqrt(_dot(a, a))


def _rot_x(a):
  c, s = np.cos(a), np.sin(a)
  return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_z(a):
  c, s = np.cos(a), np.sin(a)
  return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclasses.dataclass(frozen=True)
class Camera:
  """A pinhole camera: image size, horizontal field of view and pose.

  Attributes:
    height: image rows H.
    width: image columns W.
    position: world position ``(x, y, z)`` of the optical centre, metres.
    pitch: downward tilt, radians (positive looks down).
    yaw: turn about world z, radians (positive turns left).
    roll: roll about the optical axis, radians.
    fov_x: horizontal field of view, radians.

  Example::

    cam = Camera(96, 128, position=(0.0, 0.5, 1.5), pitch=0.3)
    cam.intrinsics()  # [3, 3], fx = fy = 64 / tan(30 deg)
  """
  height: int
  width: int
  position: tuple = (0.0, 0.5, 1.5)
  pitch: float = 0.3
  yaw: float = 0.0
  roll: float = 0.0
  fov_x: float = float(np.deg2rad(60.0))

  @property
  def focal(self) -> float:
    """fx = fy in pixels: ``(W / 2) / tan(fov_x / 2)``."""
    return 0.5 * self.width / np.tan(0.5 * self.fov_x)

  def intrinsics(self) -> np.ndarray:
    """The 3x3 matrix K (float64), principal point at the image centre."""
    f = self.focal
    return np.array([[f, 0.0, 0.5 * (self.width - 1)],
                     [0.0, f, 0.5 * (self.height - 1)],
                     [0.0, 0.0, 1.0]])

  def rotation(self) -> np.ndarray:
    """Camera-to-world rotation ``[3, 3]``: ``d_world = R @ d_camera``."""
    return _rot_z(self.yaw) @ _B @ _rot_x(-self.pitch) @ _rot_z(self.roll)

  def with_size(self, height: int, width: int) -> "Camera":
    """The same camera (pose, field of view) with another image size."""
    return dataclasses.replace(self, height=height, width=width)

  def rays(self) -> np.ndarray:
    """World ray directions ``[H*W, 3]`` whose camera-frame z is exactly 1.

    A hit at ``origin + t * d`` has camera z-depth ``t``.
    """
    k = self.intrinsics()
    v, u = np.mgrid[0:self.height, 0:self.width].astype(np.float64)
    d = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1],
                  np.ones_like(u)], axis=-1).reshape(-1, 3)
    return d @ self.rotation().T


@dataclasses.dataclass(frozen=True)
class Room:
  """The room box: ``[-width/2, width/2] x [0, depth] x [0, height]``, metres.

  Colours are RGB in [0, 1]; the floor is a checker of ``tile`` metre squares
  in ``floor_colors[0]`` and ``floor_colors[1]``; walls have vertical panels
  ``panel`` metres wide, alternately darkened by 10%.
  """
  width: float = 5.0
  depth: float = 7.0
  height: float = 3.0
  floor_colors: tuple = ((0.6, 0.5, 0.4), (0.4, 0.32, 0.25))
  wall_color: tuple = (0.8, 0.8, 0.75)
  ceiling_color: tuple = (0.9, 0.9, 0.9)
  tile: float = 0.5
  panel: float = 0.8


@dataclasses.dataclass(frozen=True)
class SceneObject:
  """One object resting on the floor (its lowest point at z = 0).

  Attributes:
    kind: one of ``SHAPES``: "sphere", "box", "cylinder", "cone".
    center: world ``(x, y)`` of the object's vertical axis.
    radius: sphere radius; box half-size along its local x; cylinder and cone
      base radius.
    height: box, cylinder and cone height (ignored by spheres: 2 * radius).
    half_depth: box half-size along its local y (ignored by other kinds).
    yaw: box rotation about the vertical axis, radians.
    color: albedo RGB in [0, 1].
  """
  kind: str
  center: tuple
  radius: float
  height: float = 1.0
  half_depth: float = 0.0
  yaw: float = 0.0
  color: tuple = (0.8, 0.2, 0.2)

  @property
  def class_id(self) -> int:
    """The segmentation class of this object's kind (index in CLASS_NAMES)."""
    return CLASS_NAMES.index(self.kind)


@dataclasses.dataclass(frozen=True)
class Scene:
  """A room, its objects, a point light, and the camera that sees them."""
  camera: Camera
  room: Room = Room()
  objects: tuple = ()
  light: tuple = (0.0, 3.0, 2.8)
  ambient: float = 0.3


# ----------------------------------------------------------------------------
# Ray-object intersections. o: origins [N, 3] or [3]; d: directions [N, 3],
# not necessarily unit. Each returns t [N], the smallest t > tmin, or inf.


def _first_after(tmin, *candidates):
  t = np.full(np.broadcast(*candidates).shape, np.inf)
  for c in candidates:
    t = np.where((c > tmin) & (c < t), c, t)
  return t


def _quadratic(a, b, c):
  """Roots (t1 <= t2) of a t^2 + b t + c = 0; nan where there are none."""
  with np.errstate(invalid="ignore", divide="ignore"):
    disc = b * b - 4.0 * a * c
    sq = np.sqrt(disc)  # nan where disc < 0.
    linear = np.abs(a) < 1e-12
    t1 = np.where(linear, -c / b, (-b - sq) / (2.0 * a))
    t2 = np.where(linear, -c / b, (-b + sq) / (2.0 * a))
  return np.minimum(t1, t2), np.maximum(t1, t2)


def _local(obj, o, d):
  """Origins and directions in the object's frame (origin at its base centre)."""
  c = np.array([obj.center[0], obj.center[1], 0.0])
  if obj.yaw == 0.0:
    return np.atleast_2d(o) - c, d
  r = _rot_z(obj.yaw)  # local-to-world; row vectors @ r applies r^T.
  return (np.atleast_2d(o) - c) @ r, d @ r


def _intersect(obj, o, d, tmin):
  o, d = _local(obj, o, d)
  ox, oy, oz = o[:, 0], o[:, 1], o[:, 2]
  dx, dy, dz = d[:, 0], d[:, 1], d[:, 2]
  with np.errstate(invalid="ignore", divide="ignore"):
    if obj.kind == "sphere":
      r = obj.radius
      ozc = oz - r
      t1, t2 = _quadratic(dx * dx + dy * dy + dz * dz,
                          2.0 * (ox * dx + oy * dy + ozc * dz),
                          ox * ox + oy * oy + ozc * ozc - r * r)
      return _first_after(tmin, t1, t2)
    if obj.kind == "box":
      half = np.array([obj.radius, obj.half_depth, 0.5 * obj.height])
      oc = o - np.array([0.0, 0.0, 0.5 * obj.height])
      inv = 1.0 / d
      ta, tb = (-half - oc) * inv, (half - oc) * inv
      near = np.nanmax(np.minimum(ta, tb), axis=1)
      far = np.nanmin(np.maximum(ta, tb), axis=1)
      hit = near <= far
      return _first_after(tmin, np.where(hit, near, np.nan), np.where(hit, far, np.nan))
    h, r = obj.height, obj.radius
    if obj.kind == "cylinder":
      t1, t2 = _quadratic(dx * dx + dy * dy, 2.0 * (ox * dx + oy * dy),
                          ox * ox + oy * oy - r * r)
    elif obj.kind == "cone":
      k2 = (r / h) ** 2
      w = h - oz
      t1, t2 = _quadratic(dx * dx + dy * dy - k2 * dz * dz,
                          2.0 * (ox * dx + oy * dy + k2 * w * dz),
                          ox * ox + oy * oy - k2 * w * w)
    else:
      raise ValueError(f"unknown object kind {obj.kind!r}; known: {SHAPES}")
    cands = []
    for t in (t1, t2):
      z = oz + t * dz
      cands.append(np.where((z >= 0.0) & (z <= h), t, np.nan))
    for zc in ((h,) if obj.kind == "cylinder" else ()) + (0.0,):
      t = (zc - oz) / dz
      x, y = ox + t * dx, oy + t * dy
      cands.append(np.where(x * x + y * y <= r * r, t, np.nan))
    return _first_after(tmin, *cands)


def _bounding_sphere(obj):
  """Centre [3] and radius of a sphere enclosing ``obj``."""
  h = 2 * obj.radius if obj.kind == "sphere" else obj.height
  centre = np.array([obj.center[0], obj.center[1], 0.5 * h])
  return centre, np.sqrt(obj.radius ** 2 + obj.half_depth ** 2 + 0.25 * h * h)


def _intersect_culled(obj, o, d, unit_from_apex, apex, tmin):
  """``_intersect`` on only the rays whose line may meet ``obj``'s bounds.

  All rays pass through the common point ``apex`` (the camera or the light);
  ``unit_from_apex`` [N, 3] are their unit directions away from it. Rays whose
  angle to the bounding sphere's centre exceeds its angular radius miss.
  """
  centre, radius = _bounding_sphere(obj)
  to_centre = centre - apex
  dist = np.linalg.norm(to_centre)
  t = np.full(len(d), np.inf)
  if dist <= radius * 1.001:
    candidates = slice(None)
  else:
    cos_max = np.sqrt(1.0 - (radius / dist) ** 2) - 1e-6
    candidates = np.flatnonzero(unit_from_apex @ (to_centre / dist) >= cos_max)
  o = np.atleast_2d(o)
  t[candidates] = _intersect(obj, o if len(o) == 1 else o[candidates], d[candidates], tmin)
  return t


def _object_normals(obj, p):
  """World unit normals [N, 3] of ``obj`` at surface points ``p`` [N, 3]."""
  q, _ = _local(obj, p, np.zeros((1, 3)))
  if obj.kind == "sphere":
    n = q - np.array([0.0, 0.0, obj.radius])
  elif obj.kind == "box":
    half = np.array([obj.radius, obj.half_depth, 0.5 * obj.height])
    rel = (q - np.array([0.0, 0.0, 0.5 * obj.height])) / half
    face = np.argmax(np.abs(rel), axis=1)
    n = np.zeros_like(q)
    n[np.arange(len(q)), face] = np.sign(rel[np.arange(len(q)), face])
  else:
    h, r = obj.height, obj.radius
    rho = np.maximum(np.hypot(q[:, 0], q[:, 1]), 1e-12)
    slope = r / h if obj.kind == "cone" else 0.0
    side = np.stack([q[:, 0] / rho, q[:, 1] / rho, np.full_like(rho, slope)], axis=1)
    radius_at = r - slope * q[:, 2]
    side_err = np.abs(rho - radius_at)
    top_err = np.abs(q[:, 2] - h) if obj.kind == "cylinder" else np.full_like(rho, np.inf)
    bottom_err = np.abs(q[:, 2])
    n = side
    n = np.where((top_err < side_err)[:, None], np.array([0.0, 0.0, 1.0]), n)
    n = np.where(((bottom_err < side_err) & (bottom_err < top_err))[:, None],
                 np.array([0.0, 0.0, -1.0]), n)
  n = n @ _rot_z(obj.yaw).T
  return n / _norm(n)[:, None]


def _room_hit(room, o, d):
  """Inside-out hit of the room box: t [N], axis [N] (0 x, 1 y, 2 z), side."""
  lo = np.array([-0.5 * room.width, 0.0, 0.0])
  hi = np.array([0.5 * room.width, room.depth, room.height])
  with np.errstate(invalid="ignore", divide="ignore"):
    t_axes = np.where(d > 0, (hi - o) / d, (lo - o) / d)
  t_axes = np.where(d == 0, np.inf, t_axes)
  axis = np.argmin(t_axes, axis=1)
  t = t_axes[np.arange(len(d)), axis]
  positive = d[np.arange(len(d)), axis] > 0
  return t, axis, positive


def _room_albedo(room, p, axis, cls):
  alb = np.empty_like(p)
  floor = cls == FLOOR
  q = p[floor] / room.tile
  parity = (np.floor(q[:, 0]) + np.floor(q[:, 1])).astype(np.int64) % 2
  alb[floor] = np.asarray(room.floor_colors, np.float64)[parity]
  wall = cls == WALL
  along = np.where(axis[wall] == 0, p[wall, 1], p[wall, 0])  # Horizontal on a wall.
  panel = np.where(np.floor(along / room.panel) % 2 == 0, 1.0, 0.9)
  alb[wall] = np.asarray(room.wall_color) * panel[:, None]
  alb[cls == CEILING] = room.ceiling_color
  return alb


def surface_edges(surface: np.ndarray) -> np.ndarray:
  """uint8 ``[H, W]``: 1 where a 4-neighbour of the pixel holds another surface id.

  >>> surface_edges(np.array([[0, 0, 1], [0, 0, 1]])).tolist()
  [[0, 1, 1], [0, 1, 1]]
  """
  edges = np.zeros(surface.shape, bool)
  rows = surface[1:] != surface[:-1]
  cols = surface[:, 1:] != surface[:, :-1]
  edges[1:] |= rows
  edges[:-1] |= rows
  edges[:, 1:] |= cols
  edges[:, :-1] |= cols
  return edges.astype(np.uint8)


def render(scene: Scene, height: Optional[int] = None,
           width: Optional[int] = None) -> dict:
  """Ray casts ``scene`` from ``scene.camera`` (optionally at another size).

  Args:
    scene: the scene; its camera gives pose, field of view and default size.
    height: image rows H, overriding ``scene.camera.height``.
    width: image columns W, overriding ``scene.camera.width``.

  Returns:
    ``{"image": uint8 [H, W, 3], "segmentation": uint8 [H, W],
    "depth": float32 [H, W], "normals": float32 [H, W, 3], "edges": uint8
    [H, W]}``, conventions as in the module docstring.

  Example::

    scene = Scene(Camera(48, 64, pitch=0.4),
                  objects=(SceneObject("sphere", (0.0, 3.0), 0.5),))
    out = render(scene)   # out["segmentation"] contains 3 ("sphere")
  """
  cam = scene.camera
  if height is not None or width is not None:
    cam = cam.with_size(height or cam.height, width or cam.width)
  h, w = cam.height, cam.width
  room = scene.room
  o = np.asarray(cam.position, np.float64)
  d = cam.rays()
  n_rays = d.shape[0]

  t, axis, positive = _room_hit(room, o[None], d)
  obj_index = np.full(n_rays, -1)
  d_unit = d / _norm(d)[:, None]
  for i, obj in enumerate(scene.objects):
    ti = _intersect_culled(obj, o, d, d_unit, o, 0.0)
    closer = ti < t
    t = np.where(closer, ti, t)
    obj_index = np.where(closer, i, obj_index)

  p = o + t[:, None] * d
  # Room surfaces: normal points into the room.
  normals = np.zeros((n_rays, 3))
  normals[np.arange(n_rays), axis] = np.where(positive, -1.0, 1.0)
  cls = np.where(axis == 2, np.where(positive, CEILING, FLOOR), WALL)
  albedo = _room_albedo(room, p, axis, cls)
  for i, obj in enumerate(scene.objects):
    sel = obj_index == i
    if np.any(sel):
      normals[sel] = _object_normals(obj, p[sel])
      cls[sel] = obj.class_id
      albedo[sel] = obj.color

  # Shading: ambient + Lambert from the point light, if no object blocks it.
  light = np.asarray(scene.light, np.float64)
  to_light = light - p
  lambert = np.maximum(_dot(normals, to_light) / _norm(to_light), 0.0)
  lit = lambert > 0
  if np.any(lit) and scene.objects:
    origin = p[lit] + _SHADOW_OFFSET * normals[lit]
    direction = light - origin
    from_light = direction / -_norm(direction)[:, None]
    blocked = np.zeros(len(origin), bool)
    for obj in scene.objects:
      blocked |= _intersect_culled(obj, origin, direction, from_light, light, 0.0) < 1.0
    lambert[np.flatnonzero(lit)[blocked]] = 0.0
  shade = scene.ambient + (1.0 - scene.ambient) * lambert
  image = np.clip(albedo * shade[:, None], 0.0, 1.0)

  # Surface ids: the room's faces 0..5 (2 * axis + positive side), objects 6, 7, ...
  surface = np.where(obj_index >= 0, 6 + obj_index, 2 * axis + positive)
  cam_normals = normals @ cam.rotation()  # Row vectors: R^T n.
  # Every surface is hit from outside, so normals face the camera already;
  # the flip only guards against round-off at grazing angles.
  facing = _dot(normals, d) > 0
  cam_normals[facing] *= -1.0
  return {
      "image": np.round(image * 255.0).astype(np.uint8).reshape(h, w, 3),
      "segmentation": cls.astype(np.uint8).reshape(h, w),
      "depth": t.astype(np.float32).reshape(h, w),
      "normals": cam_normals.astype(np.float32).reshape(h, w, 3),
      "edges": surface_edges(surface.reshape(h, w)),
  }


# ----------------------------------------------------------------------------
# Random scenes.


def _color(rng, sat=(0.35, 0.9), val=(0.45, 0.95)):
  return tuple(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*sat), rng.uniform(*val)))


def _visible(cam, point, margin=0.05):
  rel = np.asarray(point) - np.asarray(cam.position)
  pc = cam.rotation().T @ rel
  if pc[2] < 0.5:
    return False
  k = cam.intrinsics()
  u = k[0, 0] * pc[0] / pc[2] + k[0, 2]
  v = k[1, 1] * pc[1] / pc[2] + k[1, 2]
  return (margin * cam.width <= u <= (1 - margin) * cam.width and
          margin * cam.height <= v <= (1 - margin) * cam.height)


def sample_scene(rng: np.random.Generator, height: int = 96, width: int = 128,
                 num_objects: Sequence[int] = (3, 7)) -> Scene:
  """Draws a random room, camera, light and objects.

  Room 4-6 m wide, 5-8 m deep, 2.4-3.0 m high; camera 1.1-1.8 m high near the
  front wall, pitched down 0-25 deg, yaw within 12 deg, roll within 3 deg;
  ``num_objects`` (inclusive range) objects of uniformly drawn kinds, sizes
  0.15-0.55 m (heights up to 1.3 m), random colours, not overlapping, with
  their centres in view.

  Args:
    rng: the only source of randomness.
    height: image rows of the scene's camera.
    width: image columns of the scene's camera.
    num_objects: ``(min, max)`` number of objects, inclusive.

  Returns:
    A ``Scene``.

  Example::

    scene = sample_scene(np.random.default_rng(0))
    len(scene.objects)  # between 3 and 7
  """
  room = Room(width=rng.uniform(4.0, 6.0), depth=rng.uniform(5.0, 8.0),
              height=rng.uniform(2.4, 3.0),
              floor_colors=(_color(rng, (0.1, 0.5), (0.5, 0.8)),
                            _color(rng, (0.1, 0.5), (0.25, 0.5))),
              wall_color=_color(rng, (0.0, 0.35), (0.6, 0.95)),
              ceiling_color=_color(rng, (0.0, 0.1), (0.8, 1.0)),
              tile=rng.uniform(0.3, 0.8), panel=rng.uniform(0.5, 1.2))
  cam = Camera(height, width,
               position=(rng.uniform(-0.4, 0.4) * room.width / 2, rng.uniform(0.2, 0.5),
                         rng.uniform(1.1, 1.8)),
               pitch=np.deg2rad(rng.uniform(0.0, 25.0)),
               yaw=np.deg2rad(rng.uniform(-12.0, 12.0)),
               roll=np.deg2rad(rng.uniform(-3.0, 3.0)))
  objects, footprints = [], []
  target = rng.integers(num_objects[0], num_objects[1] + 1)
  for _ in range(200):
    if len(objects) == target:
      break
    kind = SHAPES[rng.integers(len(SHAPES))]
    radius = rng.uniform(0.15, 0.55)
    half_depth = rng.uniform(0.15, 0.55) if kind == "box" else 0.0
    obj_h = 2 * radius if kind == "sphere" else rng.uniform(0.3, 1.3)
    foot = np.hypot(radius, half_depth)
    x = rng.uniform(-room.width / 2 + foot + 0.05, room.width / 2 - foot - 0.05)
    y = rng.uniform(cam.position[1] + 1.0, room.depth - foot - 0.05)
    obj = SceneObject(kind, (x, y), radius, obj_h, half_depth,
                      yaw=rng.uniform(0, np.pi) if kind == "box" else 0.0,
                      color=_color(rng))
    if not _visible(cam, (x, y, 0.5 * obj_h)):
      continue
    if any(np.hypot(x - fx, y - fy) < foot + fr + 0.05 for fx, fy, fr in footprints):
      continue
    objects.append(obj)
    footprints.append((x, y, foot))
  light = (rng.uniform(-0.35, 0.35) * room.width, rng.uniform(0.3, 0.8) * room.depth,
           room.height - 0.2)
  return Scene(cam, room, tuple(objects), light, ambient=rng.uniform(0.25, 0.4))


def render_example(seed: int, index: int, height: int = 96, width: int = 128) -> dict:
  """Example ``index`` of the scene stream ``seed``, deterministically.

  The scene is ``sample_scene(np.random.default_rng((seed, index)), ...)``.

  Args:
    seed: stream seed, a non-negative int.
    index: example index, a non-negative int.
    height: image rows H.
    width: image columns W.

  Returns:
    The dict of ``render``: image uint8 [H, W, 3], segmentation uint8 [H, W],
    depth float32 [H, W], normals float32 [H, W, 3], edges uint8 [H, W].

  Example::

    a = render_example(0, 5, 24, 32)
    b = render_example(0, 5, 24, 32)
    assert (a["image"] == b["image"]).all()
  """
  rng = np.random.default_rng((seed, index))
  return render(sample_scene(rng, height, width))
