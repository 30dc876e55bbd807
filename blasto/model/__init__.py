"""The network: the lab's U-Net, saved models and how to find them, inference."""
