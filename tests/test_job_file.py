"""Jobs given as a path to a user's Python file, and the MNIST job on IDX files."""

import json
import textwrap

from conftest import run_runner
from idx_files import write_mnist_folder

USER_JOB = textwrap.dedent(
    '''
    """A small dense network on MNIST-style IDX files."""

    import keras

    from runner.data import IdxFileNames, load_idx_splits
    from runner.errors import DataNotFoundError
    from runner.job import Hyperparameters, Job


    def build_model():
        return keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)])


    def load_data(data_dir):
        if data_dir is None:
            raise DataNotFoundError("Pass --data-dir with the IDX files.")
        names = IdxFileNames(
            "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
        )
        return load_idx_splits(data_dir, names, validation_size=5000, image_shape=(28, 28), num_classes=10)


    job = Job(
        name="tiny_dense",
        build_model=build_model,
        load_data=load_data,
        hyperparameters=Hyperparameters(max_steps=60, chunk_steps=20, batch_size=32),
    )
    '''
)


def test_job_file_trains_with_its_defaults(tmp_path):
    write_mnist_folder(tmp_path / "data")
    job_file = tmp_path / "tiny_dense.py"
    job_file.write_text(USER_JOB)

    result = run_runner("start", job_file, "--state-dir", tmp_path / "state", "--data-dir", tmp_path / "data")

    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "state" / "tiny_dense" / "config.json").read_text())
    assert config["job"] == str(job_file)
    assert config["max_steps"] == 60
    assert config["batch_size"] == 32
    assert "max steps reached at step 60" in result.stdout


def test_job_file_with_syntax_error_exits_65(tmp_path):
    job_file = tmp_path / "broken.py"
    job_file.write_text("def build_model(:\n")

    result = run_runner("start", job_file, "--state-dir", tmp_path / "state")

    assert result.returncode == 65
    assert "broken.py" in result.stderr
    assert "syntax error" in result.stderr


def test_job_file_without_job_object_exits_65(tmp_path):
    job_file = tmp_path / "empty_job.py"
    job_file.write_text("x = 1\n")

    result = run_runner("start", job_file, "--state-dir", tmp_path / "state")

    assert result.returncode == 65
    assert "`job`" in result.stderr


def test_mnist_job_reads_idx_folder(tmp_path):
    write_mnist_folder(tmp_path / "data", compress=False)

    result = run_runner(
        "start",
        "mnist",
        "--state-dir",
        tmp_path / "state",
        "--data-dir",
        tmp_path / "data",
        "--max-steps",
        "20",
        "--chunk-steps",
        "10",
    )

    assert result.returncode == 0, result.stderr
    assert "step     20" in result.stdout
    evaluation = run_runner("evaluate", "mnist", "--state-dir", tmp_path / "state", "--json")
    assert evaluation.returncode == 0, evaluation.stderr
    assert json.loads(evaluation.stdout)["total"] == 1000


def _write_job(path, *, model_input, output_units, loader="load_mnist_folder(data_dir)"):
    path.write_text(
        textwrap.dedent(
            f"""
            import keras

            from jobs._mnist_files import load_mnist_folder
            from runner.job import Job


            def build_model():
                layers = [keras.Input({model_input}), keras.layers.Flatten(), keras.layers.Dense({output_units})]
                return keras.Sequential(layers)


            def load_data(data_dir):
                return {loader}


            job = Job(name="{path.stem}", build_model=build_model, load_data=load_data)
            """
        )
    )
    return path


def test_model_that_rejects_images_exits_65(tmp_path):
    write_mnist_folder(tmp_path / "data")
    job_file = _write_job(tmp_path / "wide_input.py", model_input=(32, 32), output_units=10)

    result = run_runner("start", job_file, "--state-dir", tmp_path / "state", "--data-dir", tmp_path / "data")

    assert result.returncode == 65, result.stderr
    assert "model failed on training images of shape (28, 28)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state" / "wide_input").exists()


def test_model_with_too_few_logits_exits_65(tmp_path):
    write_mnist_folder(tmp_path / "data")
    job_file = _write_job(tmp_path / "narrow.py", model_input=(28, 28), output_units=5)

    result = run_runner("start", job_file, "--state-dir", tmp_path / "state", "--data-dir", tmp_path / "data")

    assert result.returncode == 65, result.stderr
    assert "returns shape (2, 5)" in result.stderr
    assert not (tmp_path / "state" / "narrow").exists()


def test_loader_returning_other_type_exits_65(tmp_path):
    job_file = _write_job(tmp_path / "no_data.py", model_input=(28, 28), output_units=10, loader="None")

    result = run_runner("start", job_file, "--state-dir", tmp_path / "state")

    assert result.returncode == 65, result.stderr
    assert "returned NoneType, expected runner.data.Splits" in result.stderr
