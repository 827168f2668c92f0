"""Print the test accuracy of a job's network before training, as a run with that seed initialises it.

The trainer seeds every generator from the run's seed and then builds the
network, so the weights here are those that the run trains from.

    python scripts/initial_accuracy.py fashion_mnist --seed 0
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from runner.errors import RunnerError
from runner.evaluate import predict_classes
from runner.job import load_job
from runner.runs import load_splits
from runner.trainer import enable_determinism


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job", help="Job module in jobs/ or path to a job file.")
    parser.add_argument("--seed", type=int, help="Run seed; the job's default when omitted.")
    parser.add_argument("--data-dir", type=Path, help="Folder with the data set's files.")
    arguments = parser.parse_args()

    try:
        job = load_job(arguments.job)
        splits = load_splits(job, arguments.data_dir)
    except RunnerError as error:
        sys.exit(f"error: {error}")
    seed = arguments.seed if arguments.seed is not None else job.hyperparameters.seed
    enable_determinism(seed)
    model = job.build_model()

    predictions = predict_classes(model, splits.test_images, pixel_scale=job.pixel_scale)
    correct = int(np.sum(predictions == splits.test_labels))
    total = len(predictions)
    print(f"Test accuracy before training (seed {seed}): {100 * correct / total:.1f}% ({correct:,} / {total:,})")


if __name__ == "__main__":
    main()
