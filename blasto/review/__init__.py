"""From probabilities to results: cached predictions, areas, manual measurements, charts,
overlay movies."""
