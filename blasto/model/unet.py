"""The seed's U-Net, built with Keras 3.

The architecture is the lab's own (DEVELOPERS.md, item 4): four down blocks of two 3x3 ReLU
convolutions, max pooling and dropout (0.25 after the first block, 0.5 after the others),
filters 32-64-128-256, a 512-filter middle, four up blocks (3x3 transposed convolution with
stride 2, concatenation with the skip connection, dropout 0.5, two 3x3 convolutions) and a
1x1 sigmoid output. At 256x256x1 with 32 start filters it has 8,629,921 parameters.

The output is P(cell) for every pixel. The model reads float32 ``(N, H, W, 1)`` images scaled
to [0, 1] (uint8 / 255); :class:`blasto.model.inference.Predictor` runs it on uint8 frames, and
:mod:`blasto.model.files` finds and loads saved models.

TensorFlow is imported inside the functions, so ``import blasto.model.unet`` stays cheap.
"""

from __future__ import annotations

from blasto.errors import TrainingError

DEPTH = 4  # down blocks: the input size must be divisible by 2**DEPTH


def build_unet(*, input_size=256, start_filters=32, dropout=True, mixed_precision=False,
               kernel_initializer="he_normal", zero_mean_first_layer=True, output_bias=0.0):
    """Build the seed's U-Net (uncompiled) for ``(input_size, input_size, 1)`` images.

    ``input_size`` may be None for a model that takes any size divisible by 16.
    ``mixed_precision`` computes in bfloat16 (weights stay float32; the sigmoid output is
    float32), which is faster on CPUs with AVX512-BF16 and on GPUs.

    Only the starting weights differ from the seed (same layers, same parameter count); they
    decide how soon training leaves the "all background" plateau (hundreds of steps on the
    demo with the seed's Keras defaults):

    * ``kernel_initializer`` "he_normal" suits ReLU layers without batch normalisation (the
      seed's Keras default, "glorot_uniform", shrinks the signal layer after layer);
    * ``zero_mean_first_layer`` starts each first-layer kernel with a zero sum, so it sees
      texture and edges, not the gray level (on the demo, cells and pool have the same mean
      gray; the uint8 / 255 input carries a large constant offset);
    * ``output_bias`` starts the sigmoid at a prior, e.g. ``logit(fraction of cell pixels)``.

    >>> build_unet(input_size=32, start_filters=2).count_params()
    33931
    """
    import keras
    from keras import layers

    if input_size is not None and input_size % 2**DEPTH:
        raise TrainingError(
            f"The model's input size must be divisible by {2**DEPTH}; got {input_size}."
        )
    if start_filters < 1:
        raise TrainingError(f"Start filters must be at least 1; got {start_filters}.")
    dtype = "mixed_bfloat16" if mixed_precision else "float32"

    def conv(filters):
        return layers.Conv2D(filters, 3, activation="relu", padding="same", dtype=dtype,
                             kernel_initializer=kernel_initializer)

    def drop(rate, x):
        return layers.Dropout(rate, dtype=dtype)(x) if dropout else x

    inputs = keras.Input((input_size, input_size, 1), name="image")
    x = inputs
    skips = []
    for level in range(DEPTH):
        filters = start_filters * 2**level
        x = conv(filters)(x)
        x = conv(filters)(x)
        skips.append(x)
        x = layers.MaxPooling2D(2, dtype=dtype)(x)
        x = drop(0.25 if level == 0 else 0.5, x)
    x = conv(start_filters * 2**DEPTH)(x)
    x = conv(start_filters * 2**DEPTH)(x)
    for level in reversed(range(DEPTH)):
        filters = start_filters * 2**level
        x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", dtype=dtype,
                                   kernel_initializer=kernel_initializer)(x)
        x = layers.Concatenate(dtype=dtype)([x, skips[level]])
        x = drop(0.5, x)
        x = conv(filters)(x)
        x = conv(filters)(x)
    # The sigmoid stays float32 so probabilities near 0 and 1 keep their precision.
    outputs = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="p_cell",
                            bias_initializer=keras.initializers.Constant(float(output_bias)))(x)
    model = keras.Model(inputs, outputs, name="unet")
    if zero_mean_first_layer:
        first = model.layers[1]  # the first Conv2D, right after the input
        kernel = first.kernel.numpy()
        first.kernel.assign(kernel - kernel.mean(axis=(0, 1, 2), keepdims=True))
    return model
