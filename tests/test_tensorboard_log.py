"""TensorBoard event files: reconciled with the committed metrics log on every restore."""

from runner.tensorboard_log import TensorBoardLog, read_scalars, scalars_of_record

from conftest import tensorboard_scalars


def _record(step):
    return {"step": step, "train_accuracy": step / 1000, "val_accuracy": step / 2000, "train_loss": 1000 / step}


def _write_chunks(directory, steps):
    log = TensorBoardLog(directory)
    for step in steps:
        log.write(step, {**scalars_of_record(_record(step)), "speed/steps_per_second": 90.0})
    log.close()


def _keys(run_dir):
    return sorted((tag, step) for tag, step, _ in tensorboard_scalars(run_dir))


def test_repair_drops_steps_after_commit(tmp_path):
    directory = tmp_path / "tensorboard"
    _write_chunks(directory, [100, 200, 300])

    rewritten = TensorBoardLog(directory).repair([_record(100), _record(200)])

    assert rewritten
    assert {step for _, step in _keys(tmp_path)} == {100, 200}
    assert ("speed/steps_per_second", 200) in _keys(tmp_path)


def test_repair_removes_duplicates(tmp_path):
    directory = tmp_path / "tensorboard"
    _write_chunks(directory, [100, 200])
    _write_chunks(directory, [200, 300])

    TensorBoardLog(directory).repair([_record(step) for step in (100, 200, 300)])

    keys = _keys(tmp_path)
    assert len(keys) == len(set(keys))
    assert len(keys) == 3 * 4
    assert len(list(directory.iterdir())) == 1


def test_repair_restores_missing_chunk(tmp_path):
    directory = tmp_path / "tensorboard"
    _write_chunks(directory, [100])

    TensorBoardLog(directory).repair([_record(100), _record(200)])

    keys = _keys(tmp_path)
    assert ("accuracy/validation", 200) in keys
    assert ("loss/train", 200) in keys
    assert ("speed/steps_per_second", 200) not in keys


def test_repair_leaves_consistent_files(tmp_path):
    directory = tmp_path / "tensorboard"
    _write_chunks(directory, [100, 200])
    before = sorted(path.name for path in directory.iterdir())

    rewritten = TensorBoardLog(directory).repair([_record(100), _record(200)])

    assert not rewritten
    assert sorted(path.name for path in directory.iterdir()) == before


def test_repair_reads_interrupted_rewrite(tmp_path):
    directory = tmp_path / "tensorboard"
    _write_chunks(directory, [100, 200])
    # A kill after the old files were deleted leaves only the staging file.
    (events,) = directory.iterdir()
    events.rename(events.with_name(events.name + ".rewrite"))

    TensorBoardLog(directory).repair([_record(100), _record(200)])

    assert [path.name.endswith(".rewrite") for path in directory.iterdir()] == [False]
    assert ("speed/steps_per_second", 200) in _keys(tmp_path)


def test_truncated_event_file_is_read_to_cut(tmp_path):
    directory = tmp_path / "tensorboard"
    _write_chunks(directory, [100, 200])
    (events,) = directory.iterdir()
    events.write_bytes(events.read_bytes()[:-7])

    steps = {step for _, step, _, _ in read_scalars(directory)}

    assert steps == {100, 200}
