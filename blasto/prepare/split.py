"""The train/validation split, by pool and never by frame: the lab's default, and the plate
map that shows it."""

from __future__ import annotations

from blasto.store.manifest import Split

#: Of 16 pools, the first 11 are for training, as the lab does; other counts keep that ratio.
TRAIN_FRACTION = 11 / 16


def default_split(pools: list[int]) -> Split:
    """The lab's split by pool: the first 11 of 16 pools train, the rest validate.

    >>> default_split(list(range(1, 17)))
    Split(train=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], validation=[12, 13, 14, 15, 16])
    """
    pools = sorted(pools)
    if len(pools) < 2:
        return Split(train=pools, validation=[])
    n_train = min(max(round(len(pools) * TRAIN_FRACTION), 1), len(pools) - 1)
    return Split(train=pools[:n_train], validation=pools[n_train:])


def plate_map(split: Split, pools: list[int], *, cols: int = 4) -> str:
    """The plate's pools as a markdown table, row by row, coloured by side (blue train, orange
    validation; a pool without a movie or a side shows a dash).

    >>> print(plate_map(Split(train=[1], validation=[2]), [1, 2, 3], cols=2))
    | col 1 | col 2 |
    | --- | --- |
    | :blue[**1** train] | :orange[**2** validation] |
    | 3 - | 4 - |
    """
    colour = {"train": "blue", "validation": "orange"}
    rows = -(-max(pools, default=1) // cols)
    cells = []
    for pool in range(1, rows * cols + 1):
        side = split.side_of(pool) if pool in pools else None
        cells.append(f":{colour[side]}[**{pool}** {side}]" if side else f"{pool} -")
    lines = ["| " + " | ".join(f"col {c + 1}" for c in range(cols)) + " |",
             "| " + " | ".join("---" for _ in range(cols)) + " |"]
    lines += ["| " + " | ".join(cells[r * cols:(r + 1) * cols]) + " |" for r in range(rows)]
    return "\n".join(lines)
