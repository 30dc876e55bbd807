"""Plate movies in: GIF, TIFF, MP4/AVI and folders of frames, read one frame at a time."""
