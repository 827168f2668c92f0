"""Run `runner start` with commits and op determinism switched off, to measure what the guarantees cost.

For benchmarks only: the run folder gets its configuration but no commit,
so nothing in it can be resumed. Takes the arguments of `runner start`.

    python benchmarks/unguarded_runner.py fashion_mnist --state-dir DIR --max-steps 1000
"""

import sys

import keras

from runner import cli, trainer


class UnguardedTrainer(trainer.Trainer):
    """A Trainer that never commits and leaves TensorFlow's kernels free to be nondeterministic."""

    def _enable_determinism(self, seed):
        keras.utils.set_random_seed(seed)

    def _commit(self, record, *, improved, scalars=None):
        pass


if __name__ == "__main__":
    trainer.Trainer = UnguardedTrainer
    sys.argv = ["runner", "start", *sys.argv[1:]]
    cli.main()
