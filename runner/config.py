"""The resolved configuration of a run, saved in its folder."""

import dataclasses
import json
import re

from runner.errors import InvalidInputError, UsageError
from runner.files import write_atomically
from runner.placement import DEFAULT, STRATEGIES

# Letters, digits, '.', '_' and '-', not starting with '.', so a run name is
# always one plain folder inside the state directory.
_RUN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
MAX_RUN_NAME_LENGTH = 100
FORMAT_VERSION = 1


def validate_run_name(name):
    """Raise UsageError unless `name` is a safe folder name for a run."""
    if not name:
        raise UsageError("Invalid value for --run: the run name is empty. Pass a name such as 'fashion_mnist_2'.")
    if len(name) > MAX_RUN_NAME_LENGTH:
        raise UsageError(
            f"Invalid value for --run: the run name has {len(name)} characters, the maximum is {MAX_RUN_NAME_LENGTH}."
        )
    if not _RUN_NAME.match(name):
        raise UsageError(
            f"Invalid run name: {name!r}. Use letters, digits, '.', '_' and '-' only, "
            "not starting with '.', so the run stays one folder inside the state directory."
        )


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Every setting that determines a run's result, validated when built.

    Attributes:
        run: Folder name of the run inside the state directory.
        job: Module name in `jobs`, or the absolute path of a job file.
        data_dir: The `--data-dir` given at start, or None for the job's default.
        data_fingerprint: SHA-256 of the loaded splits, so a resume on other data is detectable.
        model_signature: Shapes of the network's weights, so a resume with another network is detectable.
        changes: Settings raised on resume: setting, old and new value, step and time.
        strategy: The tf.distribute strategy, one of `runner.placement.STRATEGIES`.
        devices: The `--devices` of a `mirrored` run, or None for all of them.
        replicas: How many replicas trained in sync: devices times workers.
    """

    run: str
    job: str
    max_steps: int
    chunk_steps: int
    patience: int
    batch_size: int
    learning_rate: float
    seed: int
    data_dir: str = None
    data_fingerprint: str = ""
    model_signature: str = ""
    changes: list = dataclasses.field(default_factory=list)
    strategy: str = DEFAULT
    devices: int = None
    replicas: int = 1
    format_version: int = FORMAT_VERSION

    def __post_init__(self):
        validate_run_name(self.run)
        for option in ("max_steps", "chunk_steps", "batch_size"):
            _require(option, getattr(self, option), minimum=1)
        _require("patience", self.patience, minimum=1)
        _require("replicas", self.replicas, minimum=1)
        if self.strategy not in STRATEGIES:
            raise UsageError(f"Invalid value for --strategy: {self.strategy!r}. Pass one of {', '.join(STRATEGIES)}.")
        _require("seed", self.seed, minimum=0)
        if not self.learning_rate > 0:
            raise UsageError(
                f"Invalid value for --learning-rate: {self.learning_rate}. Pass a positive number such as 1e-4."
            )

    def to_json(self):
        """Return the configuration as a JSON document."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text, *, source):
        """Parse a configuration saved by `to_json`; `source` names the file in errors."""
        try:
            fields = json.loads(text)
            return cls(**fields)
        except (json.JSONDecodeError, TypeError) as error:
            raise InvalidInputError(f"{source} is not a valid run configuration: {error}") from None

    def save(self, path):
        """Write the configuration to `path` atomically."""
        write_atomically(path, self.to_json())


def _require(option, value, *, minimum):
    flag = "--" + option.replace("_", "-")
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(f"Invalid value for {flag}: {value!r}. Pass an integer of at least {minimum}.")
