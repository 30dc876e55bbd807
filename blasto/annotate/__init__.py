"""Hand masks: canvas strokes to masks, which frames to annotate, the lab's mask folders."""
