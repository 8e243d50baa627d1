"""Geometry, determinism and variety of the procedural scene renderer.

The expected values come from hand-written camera geometry (pitch-only
rotations written out below), not from the renderer's own helpers.
"""

import numpy as np
import pytest

from mtl_jax.data import scenes

H, W = 48, 64
PITCH = 0.35
CAM_POS = np.array([0.3, 0.5, 1.5])
ROOM = scenes.Room(width=5.0, depth=7.0, height=3.0)

# World axes seen from a camera pitched down by PITCH (no yaw, no roll), in
# the camera frame (x right, y down, z forward).
def _axes(pitch):
  return (np.array([1.0, 0.0, 0.0]),
          np.array([0.0, -np.sin(pitch), np.cos(pitch)]),  # World +y.
          np.array([0.0, -np.cos(pitch), -np.sin(pitch)]))  # World +z.


E_X, FWD, UP = _axes(PITCH)


def _camera(pitch=PITCH):
  return scenes.Camera(H, W, position=tuple(CAM_POS), pitch=pitch)


def _pixel_rays():
  f = (W / 2) / np.tan(np.deg2rad(30.0))
  v, u = np.mgrid[0:H, 0:W].astype(np.float64)
  return np.stack([(u - (W - 1) / 2) / f, (v - (H - 1) / 2) / f, np.ones_like(u)], -1)


def _to_world_dir(v_cam):
  """Camera-frame vectors [..., 3] in world axes (E_X, FWD, UP are orthonormal)."""
  return np.stack([v_cam @ E_X, v_cam @ FWD, v_cam @ UP], -1)


def _to_world(x_cam):
  """Camera-frame points [..., 3] to world points."""
  return CAM_POS + _to_world_dir(x_cam)


def test_intrinsics_from_60_degree_fov():
  k = scenes.Camera(96, 128).intrinsics()
  np.testing.assert_allclose(k, [[64 / np.tan(np.pi / 6), 0, 63.5],
                                 [0, 64 / np.tan(np.pi / 6), 47.5], [0, 0, 1]])


@pytest.mark.parametrize("pitch", [PITCH, 0.0])
def test_empty_room_depth_normals_classes_match_planes(pitch):
  out = scenes.render(scenes.Scene(_camera(pitch), ROOM))
  rays = _pixel_rays()
  E_X, FWD, UP = _axes(pitch)  # pylint: disable=redefined-outer-name,invalid-name
  # Planes a . X = b in the camera frame, with their inward normals and class.
  planes = [
      (UP, -CAM_POS[2], UP, scenes.FLOOR),
      (UP, ROOM.height - CAM_POS[2], -UP, scenes.CEILING),
      (FWD, ROOM.depth - CAM_POS[1], -FWD, scenes.WALL),
      (FWD, -CAM_POS[1], FWD, scenes.WALL),
      (E_X, ROOM.width / 2 - CAM_POS[0], -E_X, scenes.WALL),
      (E_X, -ROOM.width / 2 - CAM_POS[0], E_X, scenes.WALL),
  ]
  ts = []
  for a, b, _, _ in planes:
    with np.errstate(divide="ignore"):
      t = b / (rays @ a)
    ts.append(np.where(t > 0, t, np.inf))
  ts = np.stack(ts)
  first = np.argmin(ts, axis=0)
  np.testing.assert_allclose(out["depth"], np.min(ts, axis=0), rtol=1e-5)
  want_normals = np.stack([p[2] for p in planes])[first]
  want_classes = np.array([p[3] for p in planes])[first]
  # Pixels whose ray passes within 1e-6 of an edge may go either way.
  second = np.sort(ts, axis=0)[1]
  clear = second - np.min(ts, axis=0) > 1e-6
  assert clear.mean() > 0.99
  np.testing.assert_allclose(out["normals"][clear], want_normals[clear], atol=1e-6)
  np.testing.assert_array_equal(out["segmentation"][clear], want_classes[clear])
  assert {scenes.FLOOR, scenes.WALL} <= set(np.unique(out["segmentation"]).tolist())
  if pitch == 0.0:
    assert scenes.CEILING in out["segmentation"]
  # Floor pixels back-project onto the floor plane.
  floor = out["segmentation"] == scenes.FLOOR
  points = out["depth"][..., None] * rays
  np.testing.assert_allclose(points[floor] @ UP + CAM_POS[2], 0.0, atol=2e-5)


@pytest.mark.parametrize("obj", [
    scenes.SceneObject("sphere", (0.2, 3.5), 0.6),
    scenes.SceneObject("box", (-0.3, 3.0), 0.5, 0.9, 0.35, yaw=0.6),
    scenes.SceneObject("cylinder", (0.4, 3.2), 0.45, 1.1),
    scenes.SceneObject("cone", (0.0, 3.0), 0.6, 1.2),
], ids=lambda o: o.kind)
def test_object_surface_and_normals(obj):
  out = scenes.render(scenes.Scene(_camera(), ROOM, objects=(obj,)))
  mask = out["segmentation"] == obj.class_id
  assert mask.sum() > 50
  p = _to_world(out["depth"][..., None] * _pixel_rays())[mask]
  n = _to_world_dir(out["normals"].astype(np.float64))[mask]
  c, s = np.cos(obj.yaw), np.sin(obj.yaw)
  qx = c * (p[:, 0] - obj.center[0]) + s * (p[:, 1] - obj.center[1])
  qy = -s * (p[:, 0] - obj.center[0]) + c * (p[:, 1] - obj.center[1])
  z = p[:, 2]
  rho = np.hypot(qx, qy)
  tol = 1e-4
  if obj.kind == "sphere":
    rel = np.stack([qx, qy, z - obj.radius], -1)
    np.testing.assert_allclose(np.linalg.norm(rel, axis=-1), obj.radius, atol=tol)
    np.testing.assert_allclose(n, rel / obj.radius, atol=tol)
    return
  if obj.kind == "box":
    half = np.array([obj.radius, obj.half_depth, obj.height / 2])
    rel = np.stack([qx, qy, z - obj.height / 2], -1) / half
    np.testing.assert_allclose(np.max(np.abs(rel), axis=-1), 1.0, atol=tol)
    face = np.argmax(np.abs(rel), axis=-1)
    local = np.zeros_like(rel)
    local[np.arange(len(rel)), face] = np.sign(rel[np.arange(len(rel)), face])
    want = np.stack([c * local[:, 0] - s * local[:, 1],
                     s * local[:, 0] + c * local[:, 1], local[:, 2]], -1)
    np.testing.assert_allclose(n, want, atol=tol)
    assert len(np.unique(face)) >= 2  # Sees at least two faces.
    return
  assert np.all(z > -tol) and np.all(z < obj.height + tol)
  if obj.kind == "cylinder":
    top = np.abs(z - obj.height) < tol
    assert top.any() and (~top).any()
    np.testing.assert_allclose(rho[~top], obj.radius, atol=tol)
    assert np.all(rho[top] <= obj.radius + tol)
    np.testing.assert_allclose(n[top], np.tile([0, 0, 1.0], (top.sum(), 1)), atol=tol)
    want = np.stack([qx / rho, qy / rho, 0 * rho], -1)[~top]
    np.testing.assert_allclose(n[~top], want, atol=tol)
  else:  # cone: rho = r (1 - z / h), normal along (rho_hat, r / h).
    np.testing.assert_allclose(rho, obj.radius * (1 - z / obj.height), atol=tol)
    want = np.stack([qx / rho, qy / rho, np.full_like(rho, obj.radius / obj.height)], -1)
    want /= np.linalg.norm(want, axis=-1, keepdims=True)
    np.testing.assert_allclose(n, want, atol=1e-3)


def test_sphere_silhouette_matches_analytic_hits():
  obj = scenes.SceneObject("sphere", (0.2, 3.5), 0.6)
  out = scenes.render(scenes.Scene(_camera(), ROOM, objects=(obj,)))
  centre = (np.array([0.2, 3.5, 0.6]) - CAM_POS)
  c_cam = centre[0] * E_X + centre[1] * FWD + centre[2] * UP
  rays = _pixel_rays()
  rr = np.sum(rays * rays, -1)
  disc = (rays @ c_cam) ** 2 - rr * (c_cam @ c_cam - 0.36)
  disc /= rr  # Squared chord half-length scale, metres^2.
  sphere = out["segmentation"] == obj.class_id
  assert np.all(sphere[disc > 1e-3]) and not np.any(sphere[disc < -1e-3])


def test_shadow_darkens_floor_behind_object():
  obj = scenes.SceneObject("box", (0.0, 3.0), 0.5, 1.0, 0.5, color=(0.5, 0.5, 0.5))
  room = scenes.Room(floor_colors=((0.6, 0.6, 0.6), (0.6, 0.6, 0.6)))
  # Light to the left: the shadow of the box's right top edge (x = 0.5,
  # z = 1) reaches the floor at x = 0.5 + 2.5 / 1.8 = 1.89.
  light = (-2.0, 3.0, 2.8)
  lit = scenes.render(scenes.Scene(_camera(), room, (), light))
  shadowed = scenes.render(scenes.Scene(_camera(), room, (obj,), light))
  floor = (shadowed["segmentation"] == scenes.FLOOR)
  p = _to_world(shadowed["depth"][..., None] * _pixel_rays())
  behind = floor & (p[..., 0] > 0.6) & (p[..., 0] < 1.7) & (np.abs(p[..., 1] - 3) < 0.4)
  front = floor & ((p[..., 1] < 2.2) | (p[..., 0] > 2.0))
  assert behind.sum() > 5 and front.sum() > 5
  ratio = shadowed["image"].astype(float).sum(-1) / np.maximum(
      lit["image"].astype(float).sum(-1), 1)
  assert np.all(ratio[behind] < 0.7)
  np.testing.assert_array_equal(shadowed["image"][front], lit["image"][front])


def _samples(n=8, seed=0):
  return [scenes.render_example(seed, i, H, W) for i in range(n)]


def test_outputs_dtypes_shapes_unit_normals_facing_camera():
  rays = _pixel_rays()
  for ex in _samples(6):
    assert ex["image"].dtype == np.uint8 and ex["image"].shape == (H, W, 3)
    assert ex["segmentation"].dtype == np.uint8 and ex["segmentation"].shape == (H, W)
    assert ex["depth"].dtype == np.float32 and ex["depth"].shape == (H, W)
    assert ex["normals"].dtype == np.float32 and ex["normals"].shape == (H, W, 3)
    assert np.all(ex["depth"] > 0) and np.all(np.isfinite(ex["depth"]))
    np.testing.assert_allclose(np.linalg.norm(ex["normals"], axis=-1), 1.0, atol=1e-5)
    assert np.all(np.sum(ex["normals"] * rays, -1) < 0)


def test_deterministic_and_seeds_differ():
  a, b = scenes.render_example(3, 7, H, W), scenes.render_example(3, 7, H, W)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])
  for other in (scenes.render_example(4, 7, H, W), scenes.render_example(3, 8, H, W)):
    assert not np.array_equal(a["image"], other["image"])
    assert not np.array_equal(a["depth"], other["depth"])


def test_classes_in_range_and_varied():
  seen = set()
  for ex in _samples(10):
    assert ex["segmentation"].max() < scenes.NUM_CLASSES
    seen |= set(np.unique(ex["segmentation"]).tolist())
  assert set(range(3, scenes.NUM_CLASSES)) <= seen  # Every shape.
  assert {scenes.FLOOR, scenes.WALL} <= seen
  assert len(scenes.CLASS_NAMES) == scenes.NUM_CLASSES


def test_colours_of_a_class_vary_across_scenes():
  colours = {kind: [] for kind in scenes.SHAPES}
  for i in range(20):
    for obj in scenes.sample_scene(np.random.default_rng((0, i))).objects:
      colours[obj.kind].append(obj.color)
  for kind, cs in colours.items():
    assert len(cs) >= 3, kind
    assert np.max(np.ptp(np.array(cs), axis=0)) > 0.3, kind
  # And in the rendered images: mean colour of sphere pixels differs by scene.
  means = [ex["image"][ex["segmentation"] == 3].mean(0) for ex in _samples(10)
           if (ex["segmentation"] == 3).sum() > 20]
  assert len(means) >= 2
  assert np.max(np.ptp(np.array(means), axis=0)) > 40


def test_render_size_override():
  scene = scenes.sample_scene(np.random.default_rng(1), H, W)
  out = scenes.render(scene, 24, 32)
  assert out["image"].shape == (24, 32, 3) and out["depth"].shape == (24, 32)


def _expected_edges(surface):
  """1 where a 4-neighbour holds another id (written out, edge-padded)."""
  p = np.pad(surface, 1, mode="edge")
  return ((p[:-2, 1:-1] != surface) | (p[2:, 1:-1] != surface) | (p[1:-1, :-2] != surface)
          | (p[1:-1, 2:] != surface)).astype(np.uint8)


def test_edges_are_the_boundaries_of_sphere_and_room_faces():
  """Edges from surfaces found here: an analytic ray-sphere test and the room plane each
  back-projected hit lies on (two spheres of one class: their occlusion edge counts)."""
  spheres = (scenes.SceneObject("sphere", (-0.5, 3.5), 0.6),
             scenes.SceneObject("sphere", (0.4, 4.6), 0.7))
  out = scenes.render(scenes.Scene(_camera(), ROOM, objects=spheres))
  rays = _pixel_rays()
  rr = np.sum(rays * rays, -1)
  surface = np.full((H, W), -1)
  nearest = np.full((H, W), np.inf)
  for i, obj in enumerate(spheres):
    centre = np.array([*obj.center, obj.radius]) - CAM_POS
    c_cam = centre[0] * E_X + centre[1] * FWD + centre[2] * UP
    b = rays @ c_cam
    disc = b ** 2 - rr * (c_cam @ c_cam - obj.radius ** 2)
    t = np.where(disc >= 0, (b - np.sqrt(np.maximum(disc, 0))) / rr, np.inf)
    closer = t < nearest
    surface[closer], nearest[closer] = 10 + i, t[closer]
  p = _to_world(out["depth"][..., None] * rays)
  room = surface < 0
  faces = [np.abs(p[..., 0] + ROOM.width / 2), np.abs(p[..., 0] - ROOM.width / 2),
           np.abs(p[..., 1]), np.abs(p[..., 1] - ROOM.depth),
           np.abs(p[..., 2]), np.abs(p[..., 2] - ROOM.height)]
  surface[room] = np.argmin(np.stack(faces, -1), -1)[room]
  assert np.all(np.min(np.stack(faces, -1), -1)[room] < 1e-3)  # On a face indeed.
  assert len(np.unique(surface)) >= 5  # Two spheres, floor, walls, ceiling seen.
  grazing = np.zeros((H, W), bool)  # Rays within 1e-3 of a silhouette: either answer.
  for obj in spheres:
    centre = np.array([*obj.center, obj.radius]) - CAM_POS
    c_cam = centre[0] * E_X + centre[1] * FWD + centre[2] * UP
    grazing |= np.abs(((rays @ c_cam) ** 2 - rr * (c_cam @ c_cam - obj.radius ** 2)) / rr) < 1e-3
  want = _expected_edges(surface)
  near = np.pad(grazing, 1)
  near = grazing | near[:-2, 1:-1] | near[2:, 1:-1] | near[1:-1, :-2] | near[1:-1, 2:]
  np.testing.assert_array_equal(out["edges"][~near], want[~near])
  occlusion = (surface == 10) & (np.pad(surface, 1, mode="edge")[1:-1, 2:] == 11)
  assert occlusion.any() and np.all(out["edges"][occlusion] == 1)  # Same class, still an edge.
  assert np.all(out["segmentation"][occlusion] == scenes.CLASS_NAMES.index("sphere"))
