"""The scaling benchmark's measurements: what the step keeps per device as devices are added."""

import pytest

from benchmarks import scaling
from configs import tiny


def _config():
  config = tiny.get_config()
  config.dataset.height, config.dataset.width = 32, 48  # A representation that outweighs P.
  return config


@pytest.mark.parametrize("balancer", ["imtl_g", "graddrop"])
def test_feature_level_memory_and_traffic_do_not_grow_with_the_device_count(balancer):
  # Only the T x T Gramian (or GradDrop's [T] sums) crosses devices: the per-device
  # program at 8 devices is the one at 2 (a gather of every device's examples grows
  # the temporaries and the all-reduce linearly).
  two, eight = (scaling.measure(_config(), n, balancer, "features", per_device_batch=2)
                for n in (2, 8))
  assert two["level"] == "features"
  assert eight["temp_bytes"] <= 1.02 * two["temp_bytes"], (two, eight)
  assert eight["collective_bytes"] == two["collective_bytes"], (two, eight)
  assert set(eight["collective_bytes"]) == {"all-reduce"}


def test_collective_bytes_count_each_result_once():
  hlo = "\n".join([
      "%a = f32[3,3]{1,0} all-reduce(f32[3,3]{1,0} %x), to_apply=%sum",
      "%s = (f32[4]{0}, f32[4]{0}) all-reduce-start(f32[4]{0} %y), to_apply=%sum",
      "%d = f32[4]{0} all-reduce-done((f32[4]{0}, f32[4]{0}) %s)",
      "%g = bf16[2,8]{1,0} all-gather(bf16[2,2]{1,0} %z), dimensions={1}",
      "%m = f32[2]{0} multiply(f32[2]{0} %p, f32[2]{0} %q)",
  ])
  assert scaling.collective_bytes(hlo) == {"all-reduce": 36 + 16, "all-gather": 32}


def test_sharded_parameter_level_holds_a_shard_of_the_summed_task_gradients():
  # IMTL-G at the parameter level: with shard_task_grads the [T, P] sum is a
  # reduce-scatter whose per-device result falls as 1/D; without it, an all-reduce of
  # all of [T, P] on every device.
  config = _config()
  two, eight = (scaling.measure(config, n, "imtl_g", "params", per_device_batch=2)
                for n in (2, 8))
  config.parallel.shard_task_grads = False
  plain = scaling.measure(config, 8, "imtl_g", "params", per_device_batch=2)
  scattered = [r["collective_bytes"]["reduce-scatter"] for r in (two, eight)]
  # 1/D, up to the zero padding of P to a multiple of D (under D coordinates per task).
  assert 3.9 < scattered[0] / scattered[1] <= 4.0, scattered
  # What the plain route all-reduces on top is the whole [T, P] (the 8 shards).
  assert "reduce-scatter" not in plain["collective_bytes"]
  extra = plain["collective_bytes"]["all-reduce"] - eight["collective_bytes"]["all-reduce"]
  assert 0.99 < extra / (8 * scattered[1]) <= 1.0, (plain, eight)
