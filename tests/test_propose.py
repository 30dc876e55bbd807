"""Assisted annotation's logic: model proposals, copy-previous (hand and imported masks), which
frames to check next (uncertainty), retraining from corrections, and the CLI twins."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from blasto.annotate.propose import (  # noqa: E402
    Proposal, copy_previous, propose_masks, saved_masks,
)
from blasto.annotate.uncertainty import frames_to_check, rank_frames  # noqa: E402
from blasto.errors import BlastoError  # noqa: E402
from synthetic import disc, tiny_experiment  # noqa: E402

SIZE = 32


class ConstantPredictor:
    """P(cell) = 1 inside a disc, 0 elsewhere, for every frame (blurred on ``blurred`` frames of
    a whole movie); counts its calls."""

    def __init__(self, cell, *, blurred=()):
        self.cell, self.blurred, self.calls = cell, blurred, 0

    def __call__(self, frames, progress=None):
        self.calls += 1
        out = sharp_and_blurred(self.cell, len(frames), self.blurred)
        if progress:
            progress(len(frames), len(frames))
        return out


def sharp_and_blurred(cell, count, blurred):
    """``count`` frames of P(cell) x 255: the cell sharp, but out of focus on ``blurred`` frames."""
    from scipy import ndimage

    out = np.where(cell, 255, 0).astype(np.uint8)[None].repeat(count, 0)
    for frame in blurred:
        out[frame] = np.clip(ndimage.gaussian_filter(out[frame].astype(float), 3), 0, 255).astype(np.uint8)
    return out


def test_propose_masks_with_the_default_model_gives_masks_of_the_frame_size(roots, tiny_model):
    experiment = tiny_experiment(size=SIZE)
    done = []
    proposals = propose_masks(experiment, 1, [1, 3], progress=lambda d, t: done.append((d, t)))
    assert [p.frame for p in proposals] == [1, 3]
    assert all(isinstance(p, Proposal) and p.pool == 1 for p in proposals)
    assert all(p.mask.shape == (SIZE, SIZE) and p.mask.dtype == bool for p in proposals)
    assert proposals[0].source == "model tiny-run"
    assert done[-1] == (2, 2)
    # By name, as the CLI passes it: the same model.
    assert propose_masks(experiment.name, 1, [0], model="tiny-run")[0].source == "model tiny-run"


def test_propose_masks_post_processes_like_review(roots, tiny_model):
    experiment = tiny_experiment(size=SIZE)
    cell = disc(SIZE, (16, 16), 8)
    ring = cell & ~disc(SIZE, (16, 16), 2)      # a hole: filled, as Review measures
    speck = np.zeros((SIZE, SIZE), bool)
    speck[0:3, 0:3] = True                       # 9 px: below the 150 px minimum, dropped
    predictor = ConstantPredictor(ring | speck)
    (proposal,) = propose_masks(experiment, 2, [4], predictor=predictor)
    assert predictor.calls == 1
    np.testing.assert_array_equal(proposal.mask, cell)


def test_propose_masks_refuses_bad_pools_frames_and_thresholds(roots, tiny_model):
    experiment = tiny_experiment(size=SIZE)
    with pytest.raises(BlastoError, match="no pool 9"):
        propose_masks(experiment, 9, [0])
    with pytest.raises(BlastoError, match="there is no frame 6"):
        propose_masks(experiment, 1, [6])
    with pytest.raises(BlastoError, match="between 0 and 1"):
        propose_masks(experiment, 1, [0], threshold=2)
    with pytest.raises(BlastoError, match="No model 'nope'"):
        propose_masks(experiment, 1, [0], model="nope")


def test_copy_previous_takes_the_nearest_saved_mask_before_else_after(roots):
    experiment = tiny_experiment(size=SIZE)   # masks on frames 0, 2, 4 of every pool
    proposal = copy_previous(experiment, 1, 3)
    assert proposal.frame == 3 and proposal.source == "copy of frame 2"
    np.testing.assert_array_equal(proposal.mask, experiment.read_mask(1, 2))
    assert copy_previous(experiment, 1, 2).source == "copy of frame 0"   # never itself
    experiment.delete_mask(1, 0)
    assert copy_previous(experiment, 1, 1).source == "copy of frame 2"   # none before: after
    for frame in (2, 4):
        experiment.delete_mask(1, frame)
    assert copy_previous(experiment, 1, 3) is None


def test_imported_pairs_that_are_frames_of_the_pool_count_as_saved(roots):
    experiment = tiny_experiment(size=SIZE)
    for frame in (0, 2, 4):
        experiment.delete_mask(3, frame)
    movie = experiment.read_pool_movie(3)
    imported = disc(SIZE, (10, 12), 6)
    experiment.write_imported_pair("validation", 0, movie[3], imported)
    experiment.write_imported_pair("train", 0, np.full((SIZE, SIZE), 7, np.uint8), ~imported)  # no frame
    assert list(saved_masks(experiment, 3)) == [3]
    proposal = copy_previous(experiment, 3, 5)
    assert proposal.source == "copy of frame 3"
    np.testing.assert_array_equal(proposal.mask, imported)


def test_rank_frames_puts_a_blurred_frame_first():
    cell = disc(64, (32, 30), 18)
    probabilities = sharp_and_blurred(cell, 9, blurred=[5])
    ranked = rank_frames(probabilities)
    assert ranked[0].frame == 5
    assert ranked[0].uncertain_fraction > 0.02 > ranked[-1].uncertain_fraction
    assert sorted(d.frame for d in ranked) == list(range(9))
    # The same in floats; and an area jump alone (a bubble taken for cell) also ranks first.
    assert rank_frames(probabilities / 255.0)[0].frame == 5
    jumped = sharp_and_blurred(cell, 9, blurred=[])
    jumped[2][disc(64, (8, 56), 6)] = 255
    assert rank_frames(jumped)[0].frame == 2 and rank_frames(jumped)[0].area_jump > 0.05


def test_frames_to_check_ranks_the_unsaved_frames_by_the_models_doubt(roots, tiny_model):
    experiment = tiny_experiment(size=SIZE)            # saved masks on frames 0, 2, 4
    predictor = ConstantPredictor(disc(SIZE, (16, 16), 9), blurred=[3])
    doubts = frames_to_check(experiment, 1, predictor=predictor)
    assert [d.frame for d in doubts][:1] == [3] and sorted(d.frame for d in doubts) == [1, 3, 5]
    assert len(frames_to_check(experiment, 1, predictor=predictor, skip_saved=False)) == 6
    assert predictor.calls == 1   # the second ranking read Review's cache


def wait_until_done(run, timeout=240):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = run.reload()  # a fresh view each time: a Run caches what it read
        if run.status.state not in ("starting", "running") and not run.active:
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run.name} still going after {timeout} s: {run.status}")


def test_start_retrain_fine_tunes_from_the_chosen_model_under_the_training_lock(roots, tiny_model):
    from blasto.annotate.retrain import start_retrain
    from blasto.model.files import load_model

    experiment = tiny_experiment(size=SIZE)
    # A rate so small that the weights cannot move: the run must end where the model began.
    run = start_retrain(experiment, model="tiny-run", epochs=1, steps_per_epoch=2,
                        learning_rate=1e-12, mixed_precision=False)
    with pytest.raises(BlastoError, match="already going"):
        start_retrain(experiment, model="tiny-run", epochs=1, steps_per_epoch=2, mixed_precision=False)
    run = wait_until_done(run)
    assert run.status.state == "finished", (run.path / "train.log").read_text()
    assert run.config.initial_model.endswith("best.keras") and run.config.start_filters == 4
    for before, after in zip(load_model(tiny_model).get_weights(), load_model(run.path).get_weights()):
        np.testing.assert_allclose(after, before, atol=1e-6)


def test_a_model_of_another_architecture_is_refused_as_a_start(roots, tiny_model):
    from blasto.train.config import TrainConfig
    from blasto.train.worker import train

    experiment = tiny_experiment(size=SIZE)
    config = TrainConfig(experiment=experiment.name, epochs=1, steps_per_epoch=1, start_filters=8,
                         mixed_precision=False, initial_model=str(tiny_model))
    with pytest.raises(BlastoError, match="layers differ"):
        train(config)
    with pytest.raises(BlastoError, match="initial_model"):
        TrainConfig(experiment="demo", initial_model="")


def test_cli_propose_writes_lab_pngs_and_their_sources(roots, tiny_model, tmp_path, capsys):
    from PIL import Image

    from blasto.cli.main import main

    tiny_experiment(size=SIZE)
    out = tmp_path / "proposed"
    assert main(["propose", "--experiment", "tiny", "--pool", "2", "--frames", "1", "3",
                 "--model", "tiny-run", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "with model tiny-run" in printed and "proposing [" in printed and "2/2" in printed
    for frame in (1, 3):
        image = np.asarray(Image.open(out / "pool02" / f"frame{frame:04d}.png"))
        assert image.shape == (SIZE, SIZE) and set(np.unique(image)) <= {0, 255}
    assert (out / "proposals.csv").read_text().splitlines()[1].startswith('2,1,"model tiny-run",')
    # Bad input: one plain line, exit status 2.
    assert main(["propose", "--experiment", "tiny", "--pool", "2", "--frames", "99", "--out", str(out)]) == 2
    assert "there is no frame 99" in capsys.readouterr().err


def test_cli_interpolate_writes_the_frames_between_keyframes(roots, tmp_path, capsys):
    from PIL import Image

    from blasto.cli.main import main
    from blasto.masks import decode_lab_mask

    experiment = tiny_experiment(size=SIZE, frames=6, every=5)      # keyframes 0 and 5
    experiment.write_mask(1, 0, disc(SIZE, (16, 16), 5))
    experiment.write_mask(1, 5, disc(SIZE, (16, 16), 10))
    out = tmp_path / "between"
    assert main(["interpolate", "--experiment", "tiny", "--pool", "1", "--out", str(out)]) == 0
    assert "keyframes 0, 5" in capsys.readouterr().out
    radii = [np.sqrt(decode_lab_mask(np.asarray(Image.open(out / "pool01" / f"frame{f:04d}.png"))).sum() / np.pi)
             for f in (1, 2, 3, 4)]
    assert np.allclose(radii, [6, 7, 8, 9], atol=0.6)
    experiment.delete_mask(2, 5)
    assert main(["interpolate", "--experiment", "tiny", "--pool", "2", "--out", str(out)]) == 2
    assert "needs two keyframes" in capsys.readouterr().err


def test_cli_train_from_model_is_the_retrain_buttons_twin(roots, tiny_model, capsys):
    from blasto.cli.main import main
    from blasto.train.runs import list_runs

    tiny_experiment(size=SIZE)
    assert main(["train", "--experiment", "tiny", "--from-model", "tiny-run", "--epochs", "1",
                 "--steps-per-epoch", "1", "--precision", "float32", "--quiet"]) == 0
    assert "run folder:" in capsys.readouterr().out
    (run,) = [r for r in list_runs() if r.name != "tiny-run"]
    config = run.config
    assert config.initial_model.endswith("best.keras") and config.start_filters == 4
    assert config.learning_rate == 1e-4 and config.epochs == 1
