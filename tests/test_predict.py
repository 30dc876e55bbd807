"""Prediction: batched network calls, the on-disk cache per (model, pool), the CLI twin, and the
shipped demo model against the demo's exact ground truth."""

import os
import time

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from blasto.cli.main import main as cli_main  # noqa: E402
from blasto.review.areas import PostProcessing, pixel_areas  # noqa: E402
from blasto.errors import BlastoError  # noqa: E402
from blasto.store.experiment import create_experiment, open_experiment  # noqa: E402
from synthetic import set_pools  # noqa: E402
from blasto.review.agreement import pearson_r  # noqa: E402
from blasto.model.files import list_models, model_id  # noqa: E402
from blasto.model.inference import Predictor  # noqa: E402
from blasto.review.predictions import (  # noqa: E402
    cached_pools, predict_pool, predict_pools, read_cached,
)
from blasto.review.charts import pool_results  # noqa: E402

SIZE = 32
FRAMES = 6
REPO_DEMO_MODEL = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models", "demo")


def small_experiment(name="small", *, pools=3, size=SIZE, frames=FRAMES):
    rng = np.random.default_rng(0)
    experiment = create_experiment(name)
    experiment.manifest.frame_interval_s = 600.0
    set_pools(experiment, range(1, pools + 1), size=size, box=(0, 0, size * 2, size * 2))
    for pool in range(1, pools + 1):
        movie = rng.integers(0, 255, (frames, size, size), dtype=np.uint8)
        experiment.write_pool_movie(pool, movie, cleaned=True)
    return experiment


class CountingPredictor(Predictor):
    """A Predictor that also counts how many times it was asked for a whole movie."""

    movies = 0

    def __call__(self, frames, **options):
        CountingPredictor.movies += 1
        return super().__call__(frames, **options)


def test_predictor_batches_with_a_fixed_shape_and_matches_the_model(tiny_model):
    from blasto.model.files import load_model

    model = load_model(tiny_model)
    predictor = Predictor(model, batch_size=4)
    frames = np.random.default_rng(1).integers(0, 255, (6, SIZE, SIZE), dtype=np.uint8)
    done = []
    probabilities = predictor(frames, progress=lambda n, total: done.append((n, total)))
    assert probabilities.shape == (6, SIZE, SIZE) and probabilities.dtype == np.uint8
    assert predictor.calls == 2  # 4 + 2 (padded) frames
    assert done == [(4, 6), (6, 6)]
    direct = model(frames[..., None].astype(np.float32) / 255.0, training=False).numpy()[..., 0]
    assert np.abs(probabilities.astype(float) - direct * 255).max() <= 1.0
    assert predictor(frames[0]).shape == (SIZE, SIZE)


def test_probabilities_are_the_cached_bytes_over_255(tiny_model):
    predictor = Predictor.load(tiny_model, batch_size=4)
    frames = np.random.default_rng(2).integers(0, 255, (5, SIZE, SIZE), dtype=np.uint8)
    probabilities = predictor.probabilities(frames)
    assert probabilities.dtype == np.float32 and probabilities.shape == frames.shape
    assert np.abs(probabilities - predictor(frames) / 255.0).max() <= 1 / 255
    assert predictor.probabilities(frames[0]).shape == (SIZE, SIZE)


def test_frames_of_another_size_are_resized_for_the_model(tiny_model):
    predictor = Predictor.load(tiny_model)
    probabilities = predictor(np.zeros((2, 48, 40), np.uint8))
    assert probabilities.shape == (2, 48, 40)


def test_model_ids_and_model_list(tiny_model, roots, tmp_path):
    assert model_id(tiny_model) == "tiny-run"
    assert [m.path for m in list_models()] == [tiny_model]
    bare = tmp_path / "mine.keras"
    bare.write_bytes((tiny_model / "best.keras").read_bytes())
    first = model_id(bare)
    assert first.startswith("mine-") and len(first) == len("mine-") + 8
    os.utime(bare, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert model_id(bare) != first  # a different file version gets a different cache
    with pytest.raises(BlastoError, match="no saved model"):
        model_id(roots[1])


def test_predictions_are_cached_and_post_processing_never_reruns_the_model(tiny_model):
    experiment = small_experiment()
    CountingPredictor.movies = 0
    predictor = CountingPredictor.load(tiny_model, batch_size=4)
    seen = []
    results = predict_pools(experiment, model_path=tiny_model, predictor=predictor,
                            progress=lambda done, total, pool: seen.append((done, total, pool)))
    assert sorted(results) == [1, 2, 3]
    assert CountingPredictor.movies == 3 and predictor.calls == 3 * 2
    assert seen[-1] == (18, 18, 3)
    assert experiment.prediction_path("tiny-run", 2).exists()
    assert cached_pools(experiment, tiny_model) == [1, 2, 3]

    # Reopen (a new Experiment object, as a new page session would) and change everything.
    reopened = open_experiment("small")
    calls_before = predictor.calls
    start = time.perf_counter()
    probabilities = predict_pool(reopened, 1, model_path=tiny_model, predictor=predictor)
    print(f"cached pool reopened in {1000 * (time.perf_counter() - start):.1f} ms")
    assert isinstance(probabilities, np.memmap)
    areas = set()
    for threshold in (0.3, 0.5, 0.7):
        for post in (PostProcessing(threshold=threshold), PostProcessing(threshold=threshold, keep="all"),
                     PostProcessing(threshold=threshold, fill_holes=False, min_size=5)):
            _, table = pool_results(reopened, 1, probabilities, post=post)
            areas.add(tuple(table["area_px"]))
    assert predictor.calls == calls_before and CountingPredictor.movies == 3
    assert len(areas) > 1  # the options do change the areas


def test_predict_pools_loads_no_model_when_everything_is_cached(tiny_model, monkeypatch):
    experiment = small_experiment(pools=2)
    predict_pools(experiment, model_path=tiny_model)

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded although every pool is cached")

    monkeypatch.setattr(Predictor, "load", refuse)
    assert sorted(predict_pools(experiment, model_path=tiny_model)) == [1, 2]


def test_a_changed_model_or_movie_makes_the_cache_stale(tiny_model):
    experiment = small_experiment(pools=1)
    predictor = Predictor.load(tiny_model)
    predict_pool(experiment, 1, model_path=tiny_model, predictor=predictor)
    assert read_cached(experiment, tiny_model, 1) is not None
    # A training run writes a new best.keras into the same folder.
    best = tiny_model / "best.keras"
    os.utime(best, ns=(time.time_ns(), best.stat().st_mtime_ns + 10**9))
    assert read_cached(experiment, tiny_model, 1) is None
    predict_pool(experiment, 1, model_path=tiny_model, predictor=predictor)
    assert read_cached(experiment, tiny_model, 1) is not None
    # The pool's background is cleaned again.
    experiment.write_pool_movie(1, np.zeros((FRAMES, SIZE, SIZE), np.uint8), cleaned=True)
    assert read_cached(experiment, tiny_model, 1) is None


def test_unknown_pool_is_refused(tiny_model):
    experiment = small_experiment(pools=1)
    with pytest.raises(BlastoError, match="has no pool 7"):
        predict_pools(experiment, model_path=tiny_model, pools=[7])


def test_cli_predict_writes_areas_masks_and_movies(tiny_model, roots, capsys):
    import imageio.v3 as iio

    small_experiment(pools=2)
    out = roots[0].parent / "out"
    status = cli_main(["predict", "--experiment", "small", "--model", str(tiny_model),
                       "--pools", "2", "--threshold", "0.5", "--keep", "all", "--out", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "predicting [" in printed and "6/6" in printed
    table = pd.read_csv(out / "areas.csv")
    assert table["pool"].unique().tolist() == [2]
    assert table["frame"].tolist() == list(range(FRAMES))
    assert {"time_min", "area_px", "area_source_px", "model", "threshold", "post_processing"} <= set(table)
    assert table["model"].iloc[0] == "tiny-run" and table["threshold"].iloc[0] == 0.5
    assert (table["area_source_px"] == table["area_px"] * 4).all()  # 64-px boxes in 32-px crops
    masks = sorted((out / "masks" / "pool02").glob("frame*.png"))
    assert len(masks) == FRAMES
    movie = iio.imread(out / "overlay" / "pool02.mp4", extension=".mp4")
    assert movie.shape == (FRAMES, 2 * SIZE, 2 * SIZE, 3)

    tiff_out = roots[0].parent / "out-tiff"  # the model by its name under models/
    assert cli_main(["predict", "--experiment", "small", "--model", "tiny-run", "--pools", "1",
                     "--masks", "tiff", "--no-movie", "--out", str(tiff_out)]) == 0
    assert (tiff_out / "masks" / "pool01.tif").exists() and not (tiff_out / "overlay").exists()


def test_cli_predict_bad_model_is_a_plain_error(roots, capsys):
    small_experiment(pools=1)
    status = cli_main(["predict", "--experiment", "small", "--model", str(roots[1] / "nope"),
                       "--out", str(roots[0].parent / "out")])
    assert status == 2
    assert "no such model file or folder" in capsys.readouterr().err


@pytest.mark.skipif(not os.path.isdir(REPO_DEMO_MODEL), reason="the demo model is not shipped yet")
def test_shipped_demo_model_follows_the_truth_on_a_validation_pool(demo_roots):
    """The shipped demo model's area curve against the exact truth of a validation pool."""

    data, models = demo_roots
    experiment = open_experiment("demo")
    pool = experiment.manifest.split.validation[0]
    probabilities = predict_pool(experiment, pool, model_path=models / "demo")
    _, table = pool_results(experiment, pool, probabilities, post=PostProcessing())
    truth = experiment.read_truth(pool)
    r = pearson_r(table["area_px"], pixel_areas(truth))
    print(f"demo model, validation pool {pool}: Pearson r = {r:.4f} against the truth's area curve")
    assert r >= 0.98
