"""Job definitions: each module here defines a `runner.job.Job` named `job`."""
