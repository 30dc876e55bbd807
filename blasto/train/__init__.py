"""Training the U-Net: settings, data and augmentation, run folders, the training process."""
