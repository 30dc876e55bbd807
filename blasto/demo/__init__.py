"""The synthetic demo plate with its exact ground truth, and the ready demo experiment."""
