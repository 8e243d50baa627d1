"""``mtl_jax.predict`` on a trained tiny run: images of other sizes, the panel, the export."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from mtl_jax import forward
from mtl_jax import predict
from mtl_jax import train

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, data_dir):
  from configs import tiny  # pylint: disable=g-import-not-at-top
  config = tiny.get_config()
  config.dataset.data_dir = data_dir
  config.schedule.num_steps = 2
  config.eval.at_start = False
  path = str(tmp_path_factory.mktemp("predict_run"))
  train.train_and_evaluate(config, path)
  return path


@pytest.fixture(scope="module")
def predictor(workdir):
  return predict.load(workdir)


def test_predictions_at_the_training_size_are_the_network_on_the_image(workdir, predictor):
  assert predictor.image_shape == (16, 24)
  image = np.random.default_rng(0).integers(0, 256, (16, 24, 3)).astype(np.uint8)
  tasks, model, state = train.restore(workdir)
  outputs = model.apply({"params": state.params, "batch_stats": state.batch_stats},
                        forward.images_of({"image": image[None]}), train=False)
  raw = predictor.raw(image[None])
  got = predictor(image)
  for task in tasks:
    np.testing.assert_allclose(raw[task.name], outputs[task.name], rtol=1e-5, atol=1e-5)
    want = np.asarray(task.predict(outputs[task.name]))[0]
    if task.name == "segmentation":
      np.testing.assert_array_equal(got[task.name], want)
    else:  # Jitted against eager: normalising small normals magnifies the rounding.
      np.testing.assert_allclose(got[task.name], want, rtol=1e-4, atol=1e-4)


def test_an_image_of_its_own_size_gives_predictions_of_that_size(predictor, tmp_path):
  # A PNG of our own making, another size and aspect, and a grey JPEG.
  rng = np.random.default_rng(1)
  png, jpeg = str(tmp_path / "mine.png"), str(tmp_path / "grey.jpg")
  Image.fromarray(rng.integers(0, 256, (37, 50, 3)).astype(np.uint8)).save(png)
  Image.fromarray(rng.integers(0, 256, (9, 13)).astype(np.uint8)).save(jpeg)
  out = str(tmp_path / "out")
  panels = predict.write(predictor, [png, jpeg], out)
  assert panels == [os.path.join(out, "mine.png"), os.path.join(out, "grey.png")]
  seg = np.load(os.path.join(out, "mine_segmentation.npy"))
  depth = np.load(os.path.join(out, "mine_depth.npy"))
  normals = np.load(os.path.join(out, "mine_normals.npy"))
  assert seg.shape == depth.shape == (37, 50) and seg.dtype == np.int32
  assert seg.min() >= 0 and seg.max() < len(predictor.class_names)
  assert normals.shape == (37, 50, 3)
  np.testing.assert_allclose(np.linalg.norm(normals, axis=-1), 1.0, rtol=1e-4)
  assert np.load(os.path.join(out, "grey_depth.npy")).shape == (9, 13)
  with Image.open(panels[0]) as image:
    assert image.size[0] > 3 * image.size[1]  # Four panels side by side.


def test_the_exported_function_reloads_and_gives_the_same_predictions(predictor):
  blob = predict.export(predictor)
  exported = jax.export.deserialize(bytearray(blob))
  images = np.random.default_rng(2).integers(0, 256, (3, 16, 24, 3)).astype(np.uint8)
  got, want = exported.call(images), predictor.fn(images)
  for name in want:
    np.testing.assert_allclose(np.asarray(got[name]), np.asarray(want[name]), rtol=1e-5,
                               atol=1e-6, err_msg=name)


def test_what_cannot_be_used_is_named_in_one_line(tmp_path, workdir):
  with pytest.raises(predict.PredictError,
                     match=r": no config\.json; is it the workdir of a run\?$"):
    predict.load(str(tmp_path))
  bad = tmp_path / "bad.png"
  bad.write_bytes(b"not a png")
  proc = subprocess.run(
      [sys.executable, "-m", "mtl_jax.predict", f"--workdir={workdir}", f"--images={bad}",
       f"--out={tmp_path}/o"], capture_output=True, text=True, timeout=300, check=False,
      cwd=_ROOT)
  assert proc.returncode == 1, proc.stderr[-2000:]
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith(f"mtl_jax.predict: {bad}: not an image that can be read"), last
  assert "Traceback" not in proc.stderr
