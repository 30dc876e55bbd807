"""Assisted annotation's logic: model proposals, copy-previous (hand and imported masks)."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from blasto.annotate.propose import (  # noqa: E402
    Proposal, copy_previous, propose_masks, saved_masks,
)
from blasto.errors import BlastoError  # noqa: E402
from synthetic import disc, tiny_experiment  # noqa: E402

SIZE = 32


@pytest.fixture(scope="module")
def tiny_model_file(tmp_path_factory):
    """An untrained 4-filter U-Net for 32x32 frames, saved in a run folder."""
    from blasto.model.unet import build_unet

    folder = tmp_path_factory.mktemp("models") / "tiny-run"
    folder.mkdir()
    build_unet(input_size=SIZE, start_filters=4, dropout=False).save(folder / "best.keras")
    return folder / "best.keras"


@pytest.fixture
def tiny_model(tiny_model_file, roots):
    """The tiny model's run folder in this test's models/ folder (the only model there)."""
    import shutil

    folder = roots[1] / "tiny-run"
    shutil.copytree(tiny_model_file.parent, folder)
    return folder


class ConstantPredictor:
    """P(cell) = 1 inside a disc, 0 elsewhere, for every frame; counts its calls."""

    def __init__(self, cell):
        self.cell, self.calls = cell, 0

    def __call__(self, frames, progress=None):
        self.calls += 1
        out = np.where(self.cell, 255, 0).astype(np.uint8)[None].repeat(len(frames), 0)
        if progress:
            progress(len(frames), len(frames))
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
