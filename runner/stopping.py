"""The rule that ends a run, shared by the trainer and the file-only status reader."""

EARLY_STOP = "early_stop"
MAX_STEPS = "max_steps"


def is_validation_step(step, *, chunk_steps, max_steps):
    """Return whether `step` ends a chunk, where the trainer validates and commits.

    Chunks end on multiples of `chunk_steps` and at `max_steps`. A commit at
    any other step was forced by a stop request.
    """
    return step % chunk_steps == 0 or step == max_steps


def finished_reason(*, step, best_step, max_steps, patience, chunk_steps):
    """Return why a run at `step` is finished (`early_stop`, `max_steps`) or None.

    The run stops early once `patience` steps or more have passed since the
    step of the best validation accuracy: with patience 1,000 and the best at
    step 6,700, it stops at the check at step 7,700. The rule is applied at
    validation steps only, so a commit forced between two validations never
    ends a run that an uninterrupted process would have continued. Early
    stopping wins when both reasons hold.
    """
    if not is_validation_step(step, chunk_steps=chunk_steps, max_steps=max_steps):
        return None
    if step > 0 and step - best_step >= patience:
        return EARLY_STOP
    if step >= max_steps:
        return MAX_STEPS
    return None
