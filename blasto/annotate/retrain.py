"""Retrain from corrections: a short fine-tuning run from the model that proposed the masks, on
every saved mask of the experiment, so that the next proposals are better.

It is an ordinary training run (:mod:`blasto.train`): a :class:`~blasto.train.config.TrainConfig`
that starts from the chosen model's weights (``initial_model``) with its architecture, a low
learning rate and few steps, started by :func:`blasto.train.supervisor.start_run` in its own
process, under the same one-run-at-a-time lock, watched and stopped on the Train page (or with
``python -m blasto stop``) like any other run. Its folder lands under ``models/``; once it has a
validation Dice above the model it came from, :func:`blasto.model.files.default_model` picks it
for the next proposals.

Frames train and validate by the experiment's split (by pool), as every run does: corrected
masks of validation pools measure the new model, they never train it.
"""

from __future__ import annotations

from blasto.annotate.propose import as_experiment, model_path
from blasto.errors import TrainingError

#: A short round: 3 epochs of 50 steps at batch 1, validated after each (see bench/bench_propose.py
#: for how long it takes and what it gains on the demo).
RETRAIN_EPOCHS = 3
RETRAIN_STEPS_PER_EPOCH = 50
#: Fine-tuning: a third of blasto's from-scratch rate, decayed to zero over the round.
RETRAIN_LEARNING_RATE = 1e-4


def model_architecture(model) -> dict:
    """The training settings that rebuild ``model``'s U-Net: start filters and dropout."""
    import keras

    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
             and not isinstance(layer, keras.layers.Conv2DTranspose)]
    if not convs:
        raise TrainingError(f"Model {model.name!r} has no convolution layers: not a blasto U-Net.")
    return {"start_filters": int(convs[0].filters),
            "dropout": any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)}


def retrain_config(experiment, *, model=None, epochs=RETRAIN_EPOCHS,
                   steps_per_epoch=RETRAIN_STEPS_PER_EPOCH, learning_rate=RETRAIN_LEARNING_RATE,
                   **settings):
    """The :class:`~blasto.train.config.TrainConfig` of one retraining round on ``experiment``
    from ``model`` (a name, run id or path; None: the experiment's default model, the one
    proposals come from). ``settings``: any other training setting (``batch_size``,
    ``mixed_precision``, ``seed``, ...)."""
    from blasto.model.files import load_model, model_file
    from blasto.train.config import TrainConfig

    experiment = as_experiment(experiment)
    file = model_file(model_path(experiment, model))
    values = {**model_architecture(load_model(file)), "lr_schedule": "cosine", **settings}
    return TrainConfig(experiment=experiment.name, epochs=int(epochs), steps_per_epoch=int(steps_per_epoch),
                       learning_rate=float(learning_rate), initial_model=str(file.resolve()), **values)


def start_retrain(experiment, *, model=None, epochs=RETRAIN_EPOCHS,
                  steps_per_epoch=RETRAIN_STEPS_PER_EPOCH, learning_rate=RETRAIN_LEARNING_RATE,
                  **settings):
    """Start one retraining round (:func:`retrain_config`) in its own process and return its
    :class:`~blasto.train.runs.Run` at once.

    Refused (:class:`~blasto.errors.TrainingError`, naming the running run) while another run
    trains, and when the experiment has no saved mask on its train or validation side.
    """
    from blasto.train.supervisor import start_run

    return start_run(retrain_config(experiment, model=model, epochs=epochs, steps_per_epoch=steps_per_epoch,
                                    learning_rate=learning_rate, **settings))
