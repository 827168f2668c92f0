"""The command-line options shared by several commands."""

from pathlib import Path

import typer

from runner.signals import DEFAULT_STOP_SIGNALS

StateDir = typer.Option(
    Path("state"),
    "--state-dir",
    metavar="DIR",
    envvar="RUNNER_STATE_DIR",
    help="Folder that contains the runs.",
    show_default=True,
)
DataDir = typer.Option(
    None, "--data-dir", metavar="DIR", help="Folder with the data set files; the job's default when omitted."
)
AsJson = typer.Option(False, "--json", help="Print one JSON object for scripts.")
Run = typer.Option(None, "--run", metavar="NAME", help="Run name; the job's module or file name when omitted.")
MaxSteps = typer.Option(
    None,
    "--max-steps",
    metavar="N",
    min=1,
    help="Maximum training steps; the job's default (10,000) or the run's saved value when omitted.",
)
ChunkSteps = typer.Option(
    None,
    "--chunk-steps",
    metavar="N",
    min=1,
    help="Steps between two validations and commits; the job's default (100) or the run's saved value when omitted.",
)
Patience = typer.Option(
    None,
    "--patience",
    metavar="N",
    min=1,
    help="Steps without improvement before an early stop; when omitted, the job's default (1,000) or the saved value.",
)
BatchSize = typer.Option(
    None,
    "--batch-size",
    metavar="N",
    min=1,
    help="Training images per step; the job's default (64) or the run's saved value when omitted.",
)
LearningRate = typer.Option(
    None,
    "--learning-rate",
    metavar="RATE",
    help="Adam learning rate, a positive number; the job's default (1e-4) or the run's saved value when omitted.",
)
Seed = typer.Option(
    None,
    "--seed",
    metavar="N",
    min=0,
    help="Seed of the initial weights and the batch order; when omitted, the job's default (0) or the saved value.",
)
StopAfter = typer.Option(
    None,
    "--stop-after",
    metavar="DURATION",
    help="Commit and exit 75 once this much time has passed since the process started, for example 3h50m.",
)
StopSignals = typer.Option(
    DEFAULT_STOP_SIGNALS,
    "--stop-signals",
    metavar="NAMES",
    envvar="RUNNER_STOP_SIGNALS",
    help="Comma-separated signals that commit and exit 75.",
)
Strategy = typer.Option(
    None,
    "--strategy",
    metavar="NAME",
    help=(
        "How to spread training: default (one device), mirrored (this machine's devices) or multi-worker "
        "(a cluster from TF_CONFIG or srun). `default` for a new run, the run's saved strategy when omitted."
    ),
)
Devices = typer.Option(
    None,
    "--devices",
    metavar="N",
    min=1,
    help="With --strategy mirrored: train on N devices, the first N GPUs, or N logical devices split from the CPU.",
)
Verbose = typer.Option(False, "--verbose", "-v", help="Log lock, slot and commit details.")
JobArgument = typer.Argument(
    ..., metavar="JOB", help="Job module in jobs/ (for example fashion_mnist) or path to a job file."
)
Slot = typer.Option(
    "best", "--slot", metavar="SLOT", help="Weights to test: best (the best validation accuracy) or latest."
)
Plots = typer.Option(
    None, "--plots", metavar="DIR", help="Also write PNG figures of the results and the learning curve into DIR."
)
