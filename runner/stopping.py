"""The rule that ends a run, shared by the trainer and the file-only status reader."""

EARLY_STOP = "early_stop"
MAX_STEPS = "max_steps"


def finished_reason(*, step, best_step, max_steps, patience):
    """Return why a run at `step` is finished (`early_stop`, `max_steps`) or None.

    The run stops early once `patience` steps or more have passed since the
    step of the best validation accuracy: with patience 1,000 and the best at
    step 6,700, it stops at the check at step 7,700. Early stopping wins when
    both hold.
    """
    if step > 0 and step - best_step >= patience:
        return EARLY_STOP
    if step >= max_steps:
        return MAX_STEPS
    return None
