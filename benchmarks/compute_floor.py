"""Measure the machine's FP32 matrix-multiply throughput and count the FLOPs of a job's network.

Prints one JSON object:

    {"gflop_per_second": 320.1, "forward_flop_per_image": 6726144, ...}

The throughput is the best of several 4096x4096 FP32 `tf.matmul` runs, each
2 * 4096^3 FLOP, after a warm-up run. The network's FLOPs count the
multiply-adds of its Conv2D and Dense layers, 2 FLOP each, from the layers'
output shapes. A training step counts 3 forward passes (the forward pass,
and the gradients with respect to inputs and to weights) per image.

    python benchmarks/compute_floor.py --job fashion_mnist
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from runner.job import load_job  # noqa: E402

MATRIX_SIZE = 4096
REPEATS = 7


def matmul_gflop_per_second():
    """Return the best FP32 matmul throughput of this machine in GFLOP/s."""
    generator = tf.random.Generator.from_seed(0)
    left = generator.normal((MATRIX_SIZE, MATRIX_SIZE))
    right = generator.normal((MATRIX_SIZE, MATRIX_SIZE))
    tf.matmul(left, right).numpy()
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        tf.matmul(left, right).numpy()
        best = min(best, time.perf_counter() - started)
    return 2 * MATRIX_SIZE**3 / best / 1e9


def forward_flop_per_image(model):
    """Return the FLOPs of one image's forward pass through the Conv2D and Dense layers."""
    flop = 0
    for layer in _flattened_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            height, width = layer.output.shape[1:3]
            kernel_height, kernel_width, channels_in, channels_out = layer.kernel.shape
            flop += 2 * height * width * channels_out * kernel_height * kernel_width * channels_in
        elif isinstance(layer, keras.layers.Dense):
            inputs, outputs = layer.kernel.shape
            flop += 2 * inputs * outputs
    return int(flop)


def _flattened_layers(model):
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _flattened_layers(layer)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", default="fashion_mnist")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--validation-images", type=int, default=5000)
    arguments = parser.parse_args()

    model = load_job(arguments.job).build_model()
    forward = forward_flop_per_image(model)
    result = {
        "gflop_per_second": round(matmul_gflop_per_second(), 1),
        "forward_flop_per_image": forward,
        "train_step_flop": 3 * forward * arguments.batch_size,
        "validation_flop": forward * arguments.validation_images,
        "numpy": np.__version__,
        "tensorflow": tf.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
